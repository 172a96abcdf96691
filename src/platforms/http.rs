//! The HTTP client the platform collectors share: one reqwest client with timeouts, at most
//! `concurrency` requests in flight, retries on 429 and 503 (honouring `Retry-After`, in
//! seconds, fractions too; exponential backoff with a cap when it is absent), OAuth2
//! client-credentials tokens refreshed on a 401, and a progress line on a terminal.
//!
//! Secrets go only into request headers and the token request's form, never into an error:
//! errors name the method, the URL's path, the status and the service's own error code.

use crate::config::SecretString;
use crate::error::{Error, Result};
use serde_json::Value as Json;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};

/// How requests are retried.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff when the service gives no `Retry-After`; it doubles each time.
    pub base: Duration,
    /// The longest wait, whatever `Retry-After` says.
    pub cap: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 6,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        }
    }
}

pub enum Auth {
    /// HTTP basic authentication (WordPress application passwords).
    Basic {
        user: String,
        password: SecretString,
    },
    /// OAuth2 client credentials (Microsoft Graph).
    ClientCredentials {
        token_url: String,
        client_id: String,
        secret: SecretString,
        scope: String,
    },
}

/// An answer that was not a success: its status, the service's error code, and the whole
/// message (`GET /path: 410 Gone: code: message`).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
}

/// A response: its status, headers and body.
pub struct Response {
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON; `what` names the request in the error.
    pub fn json(&self, what: &str) -> Result<Json> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::runtime(format!(
                "{what}: malformed or truncated JSON ({e}); the snapshot is not recorded"
            ))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Http {
    /// Data requests: follows a redirect only within the origin it started from.
    client: reqwest::Client,
    /// Token requests: follows no redirect (the form it posts holds the client secret).
    token_client: reqwest::Client,
    auth: Auth,
    /// The bearer token and when to renew it (a minute before it expires).
    token: Mutex<Option<(String, tokio::time::Instant)>>,
    slots: Semaphore,
    retry: Retry,
    progress: indicatif::ProgressBar,
    /// What to tell the user when the service answers (status, its error code): the
    /// platform's own knowledge of what such an answer means.
    hints: &'static [(u16, &'static str, &'static str)],
    /// When the whole collection of the source must be over, and how long it was given.
    deadline: (tokio::time::Instant, Duration),
}

/// How long a source's collection may take in all, unless its config says (`deadline`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// The path and query of a URL, for messages. A state token in the query (Graph's
/// `$deltatoken` and `$skiptoken`) is shown as `…`: it reads the tenant's changes, and it is
/// kept in the store alone.
pub fn path_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => {
                let shown: Vec<String> = q
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, v))
                            if v != "latest"
                                && [
                                    "$deltatoken",
                                    "%24deltatoken",
                                    "$skiptoken",
                                    "%24skiptoken",
                                ]
                                .iter()
                                .any(|t| k.eq_ignore_ascii_case(t)) =>
                        {
                            format!("{k}=…")
                        }
                        _ => pair.to_string(),
                    })
                    .collect();
                format!("{}?{}", u.path(), shown.join("&"))
            }
            None => u.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// `scheme://host[:port]` of a URL: where a request goes.
pub fn origin(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_string())
}

/// Refuses plain HTTP except to this machine (credentials must not cross a network in clear),
/// and a password inside the URL (it would end up in messages and shell history).
pub fn check_url(url: &str, key: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| Error::input(format!("{key}: `{url}` is not a URL: {e}")))?;
    if parsed.password().is_some() {
        return Err(Error::input(format!(
            "{key}: the URL holds a password; remove it and give the credentials in their own settings (from the environment or a file)"
        )));
    }
    match (parsed.scheme(), parsed.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        ("http", Some(_)) => Err(Error::input(format!(
            "{key}: `{url}` is plain HTTP; use https (plain HTTP is allowed to this machine only)"
        ))),
        _ => Err(Error::input(format!(
            "{key}: `{url}` is not an http(s) URL"
        ))),
    }
}

impl Http {
    pub fn new(label: &str, auth: Auth, concurrency: usize, retry: Retry) -> Result<Http> {
        if let Auth::Basic { user, password } = &auth {
            // What the Authorization header carries, should a service echo it back.
            use base64::Engine;
            let pair = format!("{user}:{}", password.expose());
            crate::config::remember_secret(&base64::engine::general_purpose::STANDARD.encode(pair));
        }
        let build = |policy: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(120))
                .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
                .redirect(policy)
                .build()
                .map_err(|e| Error::runtime(format!("{label}: HTTP client: {e}")))
        };
        let client = build(reqwest::redirect::Policy::custom(same_origin))?;
        let token_client = build(reqwest::redirect::Policy::none())?;
        let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let p = indicatif::ProgressBar::new_spinner();
            p.set_message(format!("{label}: 0 pages"));
            p.enable_steady_tick(Duration::from_millis(200));
            p
        } else {
            indicatif::ProgressBar::hidden()
        };
        Ok(Http {
            client,
            token_client,
            auth,
            token: Mutex::new(None),
            slots: Semaphore::new(concurrency),
            retry,
            progress,
            hints: &[],
            deadline: (
                tokio::time::Instant::now() + DEFAULT_DEADLINE,
                DEFAULT_DEADLINE,
            ),
        })
    }

    /// The whole collection must be over within `limit`: a hung endpoint fails the source
    /// then, naming the request it was waiting for, instead of after every retry's timeout.
    pub fn with_deadline(mut self, limit: Duration) -> Http {
        self.deadline = (tokio::time::Instant::now() + limit, limit);
        self
    }

    /// `fut`, unless the source's deadline comes first.
    async fn in_time<T>(&self, what: &str, fut: impl std::future::Future<Output = T>) -> Result<T> {
        let (at, limit) = self.deadline;
        tokio::time::timeout_at(at, fut).await.map_err(|_| {
            Error::runtime(format!(
                "{what}: no answer before the source's deadline ({}, set with `deadline`); the snapshot is not recorded",
                match limit.as_secs() {
                    s if s < 60 => format!("{s}s"),
                    s => crate::time::format_span(s as i64),
                }
            ))
        })
    }

    /// Hints for answers of the service: `(status, error code, what to tell the user)`.
    pub fn with_hints(mut self, hints: &'static [(u16, &'static str, &'static str)]) -> Http {
        self.hints = hints;
        self
    }

    /// Ends the progress line.
    pub fn finish(&self) {
        self.progress.finish_and_clear();
    }

    /// A bearer token, fetched when there is none or when `renew`.
    async fn bearer(&self, renew: bool) -> Result<Option<String>> {
        let Auth::ClientCredentials {
            token_url,
            client_id,
            secret,
            scope,
        } = &self.auth
        else {
            return Ok(None);
        };
        let mut cached = self.token.lock().await;
        if let (Some((t, renew_at)), false) = (cached.as_ref(), renew) {
            if tokio::time::Instant::now() < *renew_at {
                return Ok(Some(t.clone()));
            }
        }
        let form = [
            ("client_id", client_id.as_str()),
            ("scope", scope.as_str()),
            ("client_secret", secret.expose()),
            ("grant_type", "client_credentials"),
        ];
        let what = format!("POST {}", path_of(token_url));
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            match self
                .in_time(&what, self.token_client.post(token_url).form(&form).send())
                .await?
            {
                Ok(r) if retryable(r.status()) && attempt < self.retry.attempts => {
                    tokio::time::sleep(self.wait(r.headers(), attempt)).await;
                }
                Ok(r) => break r,
                Err(e) if attempt < self.retry.attempts && transient(&e) => {
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                Err(e) => return Err(Error::runtime(format!("{what}: {}", without_url(&e)))),
            }
        };
        let status = resp.status();
        if status.is_redirection() {
            return Err(Error::runtime(format!(
                "{what}: {status}{}: a token request is never redirected, as it carries the client secret; set token_url to where the token is issued",
                redirected_to(resp.headers())
            )));
        }
        let body: Json = resp.json().await.unwrap_or(Json::Null);
        if !status.is_success() {
            let code = body["error"].as_str().unwrap_or("error");
            let text = body["error_description"].as_str().unwrap_or("");
            let first_line = text.lines().next().unwrap_or("");
            return Err(Error::runtime(format!(
                "{what}: {status}: {code}: {first_line} (check client_id and client_secret)"
            )));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| Error::runtime(format!("{what}: the answer has no access_token")))?
            .to_string();
        let lifetime = body["expires_in"].as_u64().unwrap_or(3599);
        let renew_at =
            tokio::time::Instant::now() + Duration::from_secs(lifetime.saturating_sub(60));
        *cached = Some((token.clone(), renew_at));
        Ok(Some(token))
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        (self.retry.base * factor).min(self.retry.cap)
    }

    /// How long to wait before the next attempt: `Retry-After` when given, else backoff.
    fn wait(&self, headers: &reqwest::header::HeaderMap, attempt: u32) -> Duration {
        headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s).min(self.retry.cap))
            .unwrap_or_else(|| self.backoff(attempt))
    }

    /// GETs `url`, retrying what can be retried. Any other failure is an error that names the
    /// request.
    pub async fn get(&self, url: &str) -> Result<Response> {
        self.get_answer(url)
            .await?
            .map_err(|refused| Error::runtime(refused.message))
    }

    /// GETs `url` as `get` does, but hands an answer that is not a success back as a
    /// [`Refusal`] instead of failing, to a caller that has a way out of it (a delta link that
    /// expired is read whole instead).
    pub async fn get_answer(&self, url: &str) -> Result<std::result::Result<Response, Refusal>> {
        let (status, resp) = self.send(reqwest::Method::GET, url, None).await?;
        if !status.is_success() {
            let what = format!("GET {}", path_of(url));
            return Ok(Err(Refusal {
                status: status.as_u16(),
                code: service_error(&resp.body).0,
                message: self.failure(&what, status, &resp.body),
            }));
        }
        self.progress.inc(1);
        self.progress
            .set_message(format!("{} pages", self.progress.position()));
        Ok(Ok(resp))
    }

    /// "GET /path: 404 Not Found: code: message (hint)", for an answer that is not a success.
    pub fn failure(&self, what: &str, status: reqwest::StatusCode, body: &[u8]) -> String {
        let (code, message) = service_error(body);
        let hint = self
            .hints
            .iter()
            .find(|(s, c, _)| *s == status.as_u16() && Some(*c) == code.as_deref())
            .map(|(_, _, h)| format!(" ({h})"))
            .unwrap_or_default();
        let said = match (code, message) {
            (Some(c), Some(m)) => format!(": {c}: {m}"),
            (Some(c), None) => format!(": {c}"),
            _ => String::new(),
        };
        format!("{what}: {status}{said}{hint}")
    }

    /// Sends one request, retrying what can be retried (429, 502–504 with `Retry-After`, a
    /// connection that failed before an answer, an expired token once), and returns the
    /// final answer whatever its status; a redirect to elsewhere is an error. A write is
    /// retried only where the service did not act on it (throttled, unavailable).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Json>,
    ) -> Result<(reqwest::StatusCode, Response)> {
        let what = format!("{method} {}", path_of(url));
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let idempotent = method == reqwest::Method::GET;
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            let mut req = self
                .client
                .request(method.clone(), url)
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            match &self.auth {
                Auth::Basic { user, password } => {
                    req = req.basic_auth(user, Some(password.expose()));
                }
                Auth::ClientCredentials { .. } => {
                    let token = self
                        .bearer(false)
                        .await?
                        .expect("client credentials give a token");
                    req = req.bearer_auth(token);
                }
            }
            let resp = match self.in_time(&what, req.send()).await? {
                Ok(r) => r,
                Err(e)
                    if attempt < self.retry.attempts
                        && (e.is_connect() || (idempotent && transient(&e))) =>
                {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(Error::runtime(format!("{what}: {}", without_url(&e)))),
            };
            let status = resp.status();
            if retryable(status) {
                if attempt < self.retry.attempts {
                    let wait = self.wait(resp.headers(), attempt);
                    self.in_time(&what, tokio::time::sleep(wait)).await?;
                    continue;
                }
                return Err(Error::runtime(format!(
                    "{what}: {status} after {attempt} attempts; the service is throttling or down"
                )));
            }
            let headers = resp.headers().clone();
            let body = match self.in_time(&what, resp.bytes()).await? {
                Ok(b) => b.to_vec(),
                // The connection broke mid-body: the page is incomplete, so ask again.
                Err(e) if idempotent && attempt < self.retry.attempts => {
                    let _ = e;
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(Error::runtime(format!("{what}: {}", without_url(&e)))),
            };
            if status == reqwest::StatusCode::UNAUTHORIZED
                && matches!(self.auth, Auth::ClientCredentials { .. })
                && !renewed
            {
                // An expired token: fetch a new one and ask again, once.
                renewed = true;
                self.bearer(true).await?;
                attempt -= 1;
                continue;
            }
            if status.is_redirection() {
                return Err(Error::runtime(format!(
                    "{what}: {status}{}: a redirect to another origin (or from https to http) is not followed with credentials; the snapshot is not recorded",
                    redirected_to(&headers)
                )));
            }
            return Ok((status, Response { headers, body }));
        }
    }
}

/// Follows a redirect only to the origin (scheme, host and port) the request started at, at
/// most five times: credentials never go to another host, and https never becomes http.
fn same_origin(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    let first = attempt.previous().first().map(|u| u.origin());
    if attempt.previous().len() > 5 {
        attempt.error("more than 5 redirects")
    } else if first.is_some_and(|o| o == attempt.url().origin()) {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// ` (to ORIGIN)`: where a redirect pointed, its origin only (a path may hold a token).
fn redirected_to(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" (to {})", origin(l)))
        .unwrap_or_default()
}

fn retryable(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

fn transient(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body()
}

/// A reqwest error without the URL it carries (the message names the request already).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "…");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// The code and message of a Graph (`{"error":{"code","message"}}`) or WordPress
/// (`{"code","message"}`) error body, when it has them.
fn service_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_slice::<Json>(body) else {
        return (None, None);
    };
    let e = if json["error"].is_object() {
        &json["error"]
    } else {
        &json
    };
    let text = |v: &Json| v.as_str().map(str::to_string);
    (text(&e["code"]), text(&e["message"]))
}

/// Percent-encodes one path segment (a channel id such as `19:abc@thread.tacv2`).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A current-thread runtime for one source's requests.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::runtime(format!("starting the HTTP runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_goes_only_to_this_machine_whatever_the_url_hides() {
        for ok in [
            "https://graph.microsoft.com/v1.0",
            "http://127.0.0.1:8080/x",
            "http://localhost",
            "http://[::1]:9/",
        ] {
            assert!(check_url(ok, "k").is_ok(), "{ok}");
        }
        // A user name or a port-like text before `@` does not make a remote host local.
        for bad in [
            "http://lms.example.org",
            "http://localhost:80@evil.example/",
            "http://127.0.0.1@evil.example",
            "ftp://localhost/",
            "lms.example.org",
        ] {
            assert!(check_url(bad, "k").is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_and_paths_come_from_the_parsed_url() {
        assert_eq!(
            origin("https://graph.microsoft.com/v1.0/users?$top=999"),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            origin("https://user@graph.microsoft.com.evil.example/x"),
            "https://graph.microsoft.com.evil.example"
        );
        assert_eq!(
            path_of("https://h/v1.0/users?$top=999"),
            "/v1.0/users?$top=999"
        );
    }
}
