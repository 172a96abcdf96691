//! Graph delta collection: 100,000 users, 1% of them changed between two collections
//! (500 renamed, 250 removed, 250 added), against a loopback Graph that answers each page
//! after 50 ms (a list page holds 999 users, a delta page 200 changes). The second collection
//! is made twice from the same first one: through the delta link, and with `--full`. Stated:
//! the requests and the time of each, and their ratio; the two stores must record the same
//! users. `cargo bench --bench delta`.

use driftwatch::collect::collect_run;
use driftwatch::config::Vars;
use driftwatch::platforms::Config;
use driftwatch::store::Store;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const USERS: usize = 100_000;
const LIST_PAGE: usize = 999;
const DELTA_PAGE: usize = 200;
const LATENCY: Duration = Duration::from_millis(50);

/// The tenant: each user with the version it was last changed at; removed users as
/// tombstones. A delta token is a version: its changes are what has a later version.
struct Tenant {
    users: BTreeMap<String, (u64, Json)>,
    removed: BTreeMap<String, u64>,
    /// The users as listed (made once per change, not per page).
    list: Vec<Json>,
    version: u64,
    requests: usize,
}

fn user(i: usize, name: &str) -> Json {
    json!({"id": format!("{i:08}-0000-4000-8000-000000000000"), "userPrincipalName": format!("user{i}@contoso.example"),
           "mail": format!("user{i}@contoso.example"), "displayName": name, "accountEnabled": true,
           "userType": if i.is_multiple_of(10) { "Guest" } else { "Member" }, "externalUserState": null,
           "createdDateTime": "2024-01-01T00:00:00Z"})
}

struct Responder {
    tenant: Arc<Mutex<Tenant>>,
    base: String,
}

impl wiremock::Respond for Responder {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut t = self.tenant.lock().unwrap();
        let q: BTreeMap<String, String> = r.url.query_pairs().into_owned().collect();
        let at: usize = q
            .get("$skiptoken")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if r.method.as_str() == "POST" {
            return ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "t"}),
            );
        }
        t.requests += 1;
        let page = |items: &[Json], size: usize, path: &str, last: Json| {
            let end = (at + size).min(items.len());
            let mut doc = json!({"value": items[at.min(items.len())..end]});
            if end < items.len() {
                let mut next: Vec<String> = q
                    .iter()
                    .filter(|(k, _)| *k != "$skiptoken")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                next.push(format!("$skiptoken={end}"));
                doc["@odata.nextLink"] = json!(format!("{}{path}?{}", self.base, next.join("&")));
            } else if !last.is_null() {
                doc["@odata.deltaLink"] = last;
            }
            ResponseTemplate::new(200)
                .set_body_json(doc)
                .set_delay(LATENCY)
        };
        let link = json!(format!(
            "{}/v1.0/users/delta?$deltatoken={}",
            self.base, t.version
        ));
        match (r.url.path(), q.get("$deltatoken").map(String::as_str)) {
            ("/v1.0/users", _) => page(&t.list, LIST_PAGE, "/v1.0/users", Json::Null),
            ("/v1.0/users/delta", Some("latest")) => page(&[], DELTA_PAGE, "", link),
            ("/v1.0/users/delta", Some(token)) => {
                let since: u64 = token.parse().unwrap();
                let mut changes: Vec<Json> = t
                    .users
                    .values()
                    .filter(|(v, _)| *v > since)
                    .map(|(_, u)| u.clone())
                    .collect();
                changes.extend(
                    t.removed
                        .iter()
                        .filter(|(_, v)| **v > since)
                        .map(|(id, _)| json!({"id": id, "@removed": {"reason": "deleted"}})),
                );
                page(&changes, DELTA_PAGE, "/v1.0/users/delta", link)
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

fn collect(config: &Config, store: &mut Store, full: bool, at: i64) -> Duration {
    let t = Instant::now();
    let report = collect_run(store, config, &Vars::default(), &[], Some(at), full).unwrap();
    let elapsed = t.elapsed();
    assert!(
        report.first_failure().is_none(),
        "{:?}",
        report.first_failure()
    );
    elapsed
}

fn users(store: &Store) -> (i64, i64) {
    store
        .conn()
        .query_row(
            "SELECT count(*), sum(length(display_name) * 7 + length(id)) FROM e_entra__users WHERE _to IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(MockServer::start());
    let base = server.uri();
    let tenant = Arc::new(Mutex::new(Tenant {
        users: (0..USERS)
            .map(|i| {
                let u = user(i, &format!("User {i}"));
                (u["id"].as_str().unwrap().to_string(), (0, u))
            })
            .collect(),
        removed: BTreeMap::new(),
        list: Vec::new(),
        version: 0,
        requests: 0,
    }));
    let relist = |t: &mut Tenant| t.list = t.users.values().map(|(_, u)| u.clone()).collect();
    relist(&mut tenant.lock().unwrap());
    rt.block_on(
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder {
                tenant: tenant.clone(),
                base: base.clone(),
            })
            .mount(&server),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("driftwatch.toml");
    std::fs::write(&path, format!(
        "[sources.entra]\nkind = \"graph\"\ntenant = \"t\"\nclient_id = \"c\"\nclient_secret = {{ env = \"DW_BENCH_SECRET\" }}\n\
         base_url = \"{base}/v1.0\"\ntoken_url = \"{base}/token\"\nentities = [\"users\"]\n"
    )).unwrap();
    std::env::set_var("DW_BENCH_SECRET", "s");
    let config = Config::load(&path).unwrap();
    let requests = || tenant.lock().unwrap().requests;

    let first = dir.path().join("first.db");
    let r0 = requests();
    let t_first = collect(&config, &mut Store::open(&first).unwrap(), false, 86_400);
    let first_requests = requests() - r0;

    // 1% changes: 500 renamed, 250 removed, 250 added.
    {
        let mut t = tenant.lock().unwrap();
        t.version += 1;
        let v = t.version;
        let ids: Vec<String> = t.users.keys().cloned().collect();
        for id in ids.iter().step_by(200) {
            let entry = t.users.get_mut(id).unwrap();
            entry.0 = v;
            entry.1["displayName"] = json!("Renamed");
        }
        for id in ids.iter().skip(100).step_by(400) {
            t.users.remove(id);
            t.removed.insert(id.clone(), v);
        }
        for i in USERS..USERS + 250 {
            let u = user(i, "New");
            t.users
                .insert(u["id"].as_str().unwrap().to_string(), (v, u));
        }
        relist(&mut t);
    }
    let (delta_store, full_store) = (dir.path().join("delta.db"), dir.path().join("full.db"));
    let mut delta_times = Vec::new();
    let mut full_times = Vec::new();
    let (mut delta_requests, mut full_requests) = (0, 0);
    for _ in 0..3 {
        for (p, full) in [(&delta_store, false), (&full_store, true)] {
            std::fs::copy(&first, p).unwrap();
            let _ = std::fs::remove_file(p.with_extension("db-wal"));
            let mut store = Store::open(p).unwrap();
            let r0 = requests();
            let t = collect(&config, &mut store, full, 2 * 86_400);
            let n = requests() - r0;
            if full {
                full_times.push(t);
                full_requests = n;
            } else {
                delta_times.push(t);
                delta_requests = n;
            }
        }
    }
    let (d, f) = (
        users(&Store::open(&delta_store).unwrap()),
        users(&Store::open(&full_store).unwrap()),
    );
    assert_eq!(
        d, f,
        "the delta and the full collection recorded different users"
    );
    assert_eq!(d.0 as usize, USERS);
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (dm, fm) = (median(&mut delta_times), median(&mut full_times));
    println!("delta: {USERS} users, 1% changed, {LATENCY:?} a page (list pages of {LIST_PAGE}, delta pages of {DELTA_PAGE})");
    println!("  first collection (full):   {first_requests:>4} requests, {t_first:.2?}");
    println!("  second, full (--full):     {full_requests:>4} requests, {fm:.2?}  (runs {full_times:.2?})");
    println!("  second, through the delta: {delta_requests:>4} requests, {dm:.2?}  (runs {delta_times:.2?})");
    println!(
        "  delta / full: {:.3}x the requests, {:.3}x the time",
        delta_requests as f64 / full_requests as f64,
        dm.as_secs_f64() / fm.as_secs_f64()
    );
}
