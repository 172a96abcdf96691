//! Mock platform servers on loopback (wiremock), driven from plain tests, and the configs that
//! point driftwatch at them.

use serde_json::{json, Value as Json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TENANT: &str = "contoso.onmicrosoft.com";
/// The client secret the tests give through the environment; it must never show up anywhere.
pub const GRAPH_SECRET: &str = "graph-secret-Zq8~never-printed";
pub const WP_PASSWORD: &str = "abcd EFGH 1234 ijkl MNOP 5678";

pub struct Server {
    pub rt: tokio::runtime::Runtime,
    pub server: MockServer,
}

impl Server {
    pub fn start() -> Server {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(MockServer::start());
        Server { rt, server }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    /// Forgets every mock and every request seen.
    pub fn reset(&self) {
        self.rt.block_on(self.server.reset());
    }

    /// The requests received, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.rt
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let q = r.url.query().map(|q| format!("?{q}")).unwrap_or_default();
                format!("{} {}{q}", r.method, r.url.path())
            })
            .collect()
    }

    /// Answers the OAuth2 token request with `token` (any number of times), and Graph's delta
    /// queries as `graph_delta_stateless` does.
    pub fn graph_token(&self, token: &str) {
        self.graph_delta_stateless();
        self.mount(
            Mock::given(method("POST"))
                .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                    "access_token": token
                }))),
        );
    }

    /// Graph's delta queries of users and groups, as a service that keeps no state: a link of
    /// the present state (`$deltatoken=latest`, which a full read starts with) is given, and
    /// following it is answered 410 Gone, so that every collection reads whole. (The stateful
    /// fake, `fake_platforms`, answers the changes.)
    pub fn graph_delta_stateless(&self) {
        for entity in ["users", "groups"] {
            self.mount(
                Mock::given(method("GET"))
                    .and(path(format!("/v1.0/{entity}/delta")))
                    .and(wiremock::matchers::query_param("$deltatoken", "latest"))
                    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                        "value": [],
                        "@odata.deltaLink": format!("{}/v1.0/{entity}/delta?$deltatoken=gone", self.uri())
                    }))),
            );
            self.mount(
                Mock::given(method("GET"))
                    .and(path(format!("/v1.0/{entity}/delta")))
                    .and(wiremock::matchers::query_param("$deltatoken", "gone"))
                    .respond_with(ResponseTemplate::new(410).set_body_json(
                        json!({"error": {"code": "resyncRequired", "message": "Resync required."}}),
                    )),
            );
        }
    }

    /// A Graph page: `value`, and `@odata.nextLink` to `next` (a path and query on this server).
    pub fn graph_page(&self, values: &[Json], next: Option<&str>) -> ResponseTemplate {
        let mut page = json!({"@odata.context": format!("{}/v1.0/$metadata#users", self.uri()), "value": values});
        if let Some(n) = next {
            page["@odata.nextLink"] = json!(format!("{}{n}", self.uri()));
        }
        ResponseTemplate::new(200).set_body_json(page)
    }

    /// A config with a `graph` source named `source` collecting `entities` from this server.
    pub fn graph_config(&self, source: &str, entities: &[&str], extra: &str) -> String {
        format!(
            "[sources.{source}]\nkind = \"graph\"\ntenant = \"{TENANT}\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n\
             client_secret = {{ env = \"DW_TEST_GRAPH_SECRET\" }}\nbase_url = \"{0}/v1.0\"\n\
             token_url = \"{0}/{{tenant}}/oauth2/v2.0/token\"\nentities = {1:?}\n{extra}\n",
            self.uri(),
            entities
        )
    }

    /// A config with a `wordpress` source named `source`.
    pub fn wordpress_config(&self, source: &str, entities: &[&str]) -> String {
        format!(
            "[sources.{source}]\nkind = \"wordpress\"\nurl = \"{}\"\nusername = \"driftwatch\"\n\
             password = {{ env = \"DW_TEST_WP_PASSWORD\" }}\nentities = {entities:?}\n",
            self.uri()
        )
    }
}

/// A WordPress list page: the items with X-WP-Total and X-WP-TotalPages.
pub fn wp_page(items: &[Json], total: usize, pages: usize) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(Json::Array(items.to_vec()))
        .insert_header("X-WP-Total", total.to_string().as_str())
        .insert_header("X-WP-TotalPages", pages.to_string().as_str())
}

/// Runs driftwatch in `dir` with the test secrets in its environment.
pub fn run_with_secrets(dir: &std::path::Path, args: &[&str]) -> crate::common::Run {
    crate::common::finish(
        crate::common::driftwatch(dir)
            .args(args)
            .env("DW_TEST_GRAPH_SECRET", GRAPH_SECRET)
            .env("DW_TEST_WP_PASSWORD", WP_PASSWORD)
            .output()
            .unwrap(),
    )
}

/// Asserts that no secret is in the outputs or in any file of `dir` (the store among them).
pub fn assert_no_secret(dir: &std::path::Path, outputs: &[&str]) {
    for secret in [GRAPH_SECRET, WP_PASSWORD] {
        for o in outputs {
            assert!(!o.contains(secret), "a secret is in the output:\n{o}");
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a secret is in {}",
                    p.display()
                );
            }
        }
    }
}
