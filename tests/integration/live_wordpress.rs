//! The `wordpress` collector against a mock WordPress with LearnDash on loopback: users over
//! three pages with their X-WP headers, a bad application password, LearnDash course users, and
//! lists that change or break while they are read.

use crate::common::{ok, write};
use crate::mocks::{assert_no_secret, run_with_secrets, wp_page, Server, WP_PASSWORD};
use serde_json::{json, Value as Json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn wp_user(i: usize) -> Json {
    json!({
        "id": i, "username": format!("user{i}"), "name": format!("User {i}"),
        "email": format!("user{i}@example.org"), "slug": format!("user{i}"),
        "roles": if i.is_multiple_of(10) { json!(["group_leader"]) } else { json!(["subscriber"]) },
        "registered_date": format!("2024-03-{:02}T09:12:00", 1 + i % 28)
    })
}

/// Users 1..=n, 100 a page, with the headers WordPress sends; `page(k)` may replace page k.
fn mount_users(s: &Server, n: usize, page: impl Fn(usize) -> Option<ResponseTemplate>) {
    let pages = n.div_ceil(100);
    for k in 1..=pages {
        let items: Vec<Json> = ((k - 1) * 100 + 1..=(k * 100).min(n))
            .map(wp_user)
            .collect();
        s.mount(
            Mock::given(method("GET"))
                .and(path("/wp-json/wp/v2/users"))
                .and(query_param("context", "edit"))
                .and(query_param("per_page", "100"))
                .and(query_param("page", k.to_string()))
                .and(header(
                    "Authorization",
                    format!("Basic {}", base64(&format!("driftwatch:{WP_PASSWORD}"))),
                ))
                .respond_with(page(k).unwrap_or_else(|| wp_page(&items, n, pages))),
        );
    }
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, &x| (acc << 8) | x as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn users_csv(n: usize) -> String {
    let mut out = String::from("id,username,name,email,roles,registered_date\n");
    for i in 1..=n {
        let role = if i.is_multiple_of(10) {
            "group_leader"
        } else {
            "subscriber"
        };
        out.push_str(&format!(
            "{i},user{i},User {i},user{i}@example.org,{role},2024-03-{:02}T09:12:00Z\n",
            1 + i % 28
        ));
    }
    out
}

fn setup(s: &Server, entities: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "driftwatch.toml",
        &s.wordpress_config("wordpress", entities),
    );
    dir
}

#[test]
fn wordpress_users_over_three_pages_make_an_exact_snapshot() {
    let s = Server::start();
    mount_users(&s, 250, |_| None);
    let dir = setup(&s, &["users"]);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ok(dir.path(), &["export", "wordpress.users"]),
        users_csv(250)
    );
    assert_eq!(s.requests().len(), 3);
    assert_no_secret(dir.path(), &[&r.stdout, &r.stderr]);
}

#[test]
fn a_wrong_application_password_fails_with_wordpress_own_error_a_hint_and_no_secret() {
    let s = Server::start();
    // As WordPress 6.1 answers a wrong application password, an unknown user or none on
    // `context=edit`: 401 rest_forbidden_context, and no WWW-Authenticate.
    s.mount(
        Mock::given(method("GET")).respond_with(
            ResponseTemplate::new(401)
                .insert_header("Content-Type", "application/json; charset=UTF-8")
                .insert_header(
                    "Link",
                    "<http://127.0.0.1:8089/wp-json/>; rel=\"https://api.w.org/\"",
                )
                .set_body_json(json!({
                    "code": "rest_forbidden_context",
                    "message": "Sorry, you are not allowed to edit users.",
                    "data": {"status": 401}
                })),
        ),
    );
    let dir = setup(&s, &["users"]);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("401 Unauthorized: rest_forbidden_context: Sorry, you are not allowed to edit users. (check the username and the application password, and that the account may edit users)"),
        "{}",
        r.stderr
    );
    assert_no_secret(dir.path(), &[&r.stdout, &r.stderr]);
}

#[test]
fn an_account_that_may_list_but_not_edit_users_is_told_it_needs_edit_users() {
    let s = Server::start();
    // As WordPress 6.1 answers a `list_users`-only account: X-WP-Total counts every user, the
    // pages hold only the one it may edit (itself), on the last page.
    for (page, items) in [(1, vec![]), (2, vec![]), (3, vec![wp_user(250)])] {
        s.mount(
            Mock::given(method("GET"))
                .and(path("/wp-json/wp/v2/users"))
                .and(query_param("page", page.to_string()))
                .respond_with(wp_page(&items, 250, 3)),
        );
    }
    let dir = setup(&s, &["users"]);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("WordPress counts 250 users (X-WP-Total) but shows this account 1")
            && r.stderr
                .contains("needs an administrator-level account (edit_users)"),
        "{}",
        r.stderr
    );
}

#[test]
fn display_names_are_collected_unescaped() {
    let s = Server::start();
    let mut user = wp_user(1);
    user["name"] = json!("Tom &amp; Jerry&#039;s Club");
    s.mount(
        Mock::given(method("GET"))
            .and(path("/wp-json/wp/v2/users"))
            .respond_with(wp_page(&[user], 1, 1)),
    );
    let dir = setup(&s, &["users"]);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(ok(dir.path(), &["export", "wordpress.users"]).contains(",Tom & Jerry's Club,"));
}

#[test]
fn a_page_that_breaks_or_a_list_that_changes_while_read_fails_the_source_and_keeps_the_last_snapshot(
) {
    let s = Server::start();
    let dir = setup(&s, &["users"]);
    let d = dir.path();
    mount_users(&s, 250, |_| None);
    assert_eq!(
        run_with_secrets(d, &["collect", "--at", "2026-11-01T00:00:00Z"]).code,
        0
    );
    let before = ok(d, &["export", "wordpress.users"]);
    let mut day = 2;
    for k in 1..=3 {
        let cases: [(ResponseTemplate, &str); 3] = [
            (
                ResponseTemplate::new(200)
                    .set_body_raw("[{\"id\": 1, \"username\"", "application/json"),
                "malformed or truncated JSON",
            ),
            (
                wp_page(&[json!({"id": 1})], 250, 3).set_body_json(json!({"code": "oops"})),
                "not a list of items",
            ),
            // One user fewer on this page than X-WP-Total promised: the list changed.
            (
                wp_page(
                    &((k - 1) * 100 + 2..=(k * 100).min(250))
                        .map(wp_user)
                        .collect::<Vec<_>>(),
                    250,
                    3,
                ),
                "X-WP-Total said 250 items but the 3 pages held 249",
            ),
        ];
        for (template, says) in cases {
            s.reset();
            mount_users(&s, 250, |n| (n == k).then(|| template.clone()));
            let r = run_with_secrets(
                d,
                &["collect", "--at", &format!("2026-11-{day:02}T00:00:00Z")],
            );
            day += 1;
            assert_eq!(r.code, 3, "page {k}: {}", r.stderr);
            assert!(r.stderr.contains(says), "page {k}: {}", r.stderr);
            assert_eq!(
                ok(d, &["export", "wordpress.users"]),
                before,
                "page {k}: {says}"
            );
        }
    }
}

#[test]
fn learndash_courses_groups_and_course_users_are_collected_per_course() {
    let s = Server::start();
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_string()));
    let post = |id: i64, slug: &str| json!({"id": id, "slug": slug, "status": "publish", "title": {"rendered": slug.to_uppercase()}});
    s.mount(get("/wp-json/ldlms/v2/sfwd-courses").respond_with(wp_page(
        &[post(201, "c01"), post(202, "c02")],
        2,
        1,
    )));
    s.mount(get("/wp-json/ldlms/v2/groups").respond_with(wp_page(&[post(301, "g01")], 1, 1)));
    s.mount(
        get("/wp-json/ldlms/v2/sfwd-courses/201/users")
            .and(query_param("page", "1"))
            .respond_with(wp_page(&(1..=100).map(wp_user).collect::<Vec<_>>(), 101, 2)),
    );
    s.mount(
        get("/wp-json/ldlms/v2/sfwd-courses/201/users")
            .and(query_param("page", "2"))
            .respond_with(wp_page(&[wp_user(101)], 101, 2)),
    );
    s.mount(get("/wp-json/ldlms/v2/sfwd-courses/202/users").respond_with(wp_page(&[], 0, 0)));
    let dir = setup(&s, &["courses", "groups", "course_users"]);
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ok(dir.path(), &["export", "wordpress.courses"]),
        "id,slug,status,title\n201,c01,publish,C01\n202,c02,publish,C02\n"
    );
    assert_eq!(
        ok(dir.path(), &["export", "wordpress.groups"]),
        "id,slug,status,title\n301,g01,publish,G01\n"
    );
    let users = ok(dir.path(), &["export", "wordpress.course_users"]);
    assert_eq!(users.lines().count(), 1 + 101);
    assert!(
        users.starts_with("course_id,user_id,username\n201,1,user1\n201,2,user2\n"),
        "{users}"
    );
    assert!(users.ends_with("201,101,user101\n"), "{users}");
    // The courses are listed once for both entities that need them.
    assert_eq!(
        s.requests()
            .iter()
            .filter(|q| q.starts_with("GET /wp-json/ldlms/v2/sfwd-courses?"))
            .count(),
        1
    );
}

#[test]
fn plain_http_is_refused_for_a_remote_host() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "driftwatch.toml", "[sources.wordpress]\nkind = \"wordpress\"\nurl = \"http://lms.example.org\"\nusername = \"u\"\npassword = { env = \"DW_TEST_WP_PASSWORD\" }\nentities = [\"users\"]\n");
    let r = run_with_secrets(dir.path(), &["collect"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("sources.wordpress.url: `http://lms.example.org` is plain HTTP; use https"),
        "{}",
        r.stderr
    );
}
