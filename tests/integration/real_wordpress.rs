//! driftwatch against a real WordPress: Debian's `wordpress` package (6.1), served by PHP's
//! built-in server on loopback from a database of its own on the MariaDB the other tests use,
//! installed and filled by WordPress's own PHP functions (`wordpress/setup.php`). `.ci/databases`
//! installs the packages where they are missing. LearnDash is commercial: its endpoints stay
//! on the fake (`live_wordpress.rs`).

use crate::common::{ok, repo, write};
use crate::live_databases::{Kind, TempDb};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// PHP's built-in server, stopped when dropped.
struct Php(Child);

impl Drop for Php {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scripts() -> PathBuf {
    repo().join("tests/integration/wordpress")
}

/// Stops the test binary with one message when WordPress or PHP is missing.
fn require_wordpress() {
    let php = Command::new("php")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !php || !Path::new("/usr/share/wordpress/wp-settings.php").is_file() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\nerror: the real-WordPress test needs php-cli, php-mysql and Debian's wordpress \
             package; run .ci/databases (it installs them where missing), or .ci/run.\n"
        );
        std::process::exit(101);
    }
}

/// A WordPress installed into `db` and served at `url`; returns the server and what setup.php
/// printed (application passwords, and the users as WordPress's database holds them).
fn serve(db: &TempDb) -> (Php, String, serde_json::Value) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let env = [
        ("DW_WP_DB", db.name().to_string()),
        ("DW_WP_URL", url.clone()),
    ];
    let setup = Command::new("php")
        .arg(scripts().join("setup.php"))
        .envs(env.clone())
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "setup.php: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let facts: serde_json::Value = serde_json::from_slice(&setup.stdout).unwrap();
    let server = Php(Command::new("php")
        .args([
            "-S",
            &format!("127.0.0.1:{port}"),
            "-t",
            "/usr/share/wordpress",
        ])
        .arg(scripts().join("router.php"))
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (server, url, facts)
}

fn collect(d: &Path, url: &str, user: &str, password: &str, at: &str) -> crate::common::Run {
    write(
        d,
        "driftwatch.toml",
        &format!(
            "[sources.wordpress]\nkind = \"wordpress\"\nurl = \"{url}\"\nusername = \"{user}\"\n\
             password = {{ env = \"DW_TEST_REAL_WP_PASSWORD\" }}\nentities = [\"users\"]\n"
        ),
    );
    crate::common::finish(
        crate::common::driftwatch(d)
            .args(["collect", "--at", at])
            .env("DW_TEST_REAL_WP_PASSWORD", password)
            .output()
            .unwrap(),
    )
}

#[test]
fn users_collected_from_a_real_wordpress_equal_its_database_and_its_refusals_are_explained() {
    require_wordpress();
    let db = TempDb::new(Kind::Mysql);
    let (_server, url, facts) = serve(&db);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let admin = facts["admin_password"].as_str().unwrap();
    let r = collect(d, &url, "wpadmin", admin, "2026-11-01");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut want = csv::Writer::from_writer(Vec::new());
    want.write_record([
        "id",
        "username",
        "name",
        "email",
        "roles",
        "registered_date",
    ])
    .unwrap();
    for u in facts["users"].as_array().unwrap() {
        let cell = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        want.write_record(u.as_array().unwrap().iter().map(cell))
            .unwrap();
    }
    let want = String::from_utf8(want.into_inner().unwrap()).unwrap();
    assert_eq!(ok(d, &["export", "wordpress.users"]), want);
    assert!(
        want.contains("Tom & Jerry's Club"),
        "the escaped name is among them"
    );

    // A wrong application password: WordPress's own answer, and what to check.
    let r = collect(
        d,
        &url,
        "wpadmin",
        "aaaa bbbb cccc dddd eeee ffff",
        "2026-11-02",
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("401 Unauthorized: rest_forbidden_context")
            && r.stderr
                .contains("check the username and the application password"),
        "{}",
        r.stderr
    );
    // An account that may list users but not edit them is told what it lacks.
    let reader = facts["reader_password"].as_str().unwrap();
    let r = collect(d, &url, "dw_reader", reader, "2026-11-03");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("needs an administrator-level account (edit_users)"),
        "{}",
        r.stderr
    );
    // Neither failure touched the snapshot of the first collection.
    assert_eq!(ok(d, &["export", "wordpress.users"]), want);
}
