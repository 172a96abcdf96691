//! `watch --listen`: a small HTTP/1.1 server on a thread of its own, for `/healthz`,
//! `/metrics` (Prometheus text format 0.0.4) and `/` (the latest report as HTML), and the
//! receiver of Microsoft Graph change notifications at `/graph/notifications`: a
//! `validationToken` is echoed as text/plain at once; a notification whose `clientState` is a
//! source's is answered 202 and passed to the loop, which re-collects that source; one whose
//! `clientState` is no source's is refused (its content is not trusted). What the server
//! serves is made by the loop after each cycle; the server only reads it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the loop publishes for the server.
#[derive(Default)]
pub struct Published {
    /// The last cycle's end and whether it succeeded.
    pub last: Option<(Instant, bool)>,
    /// How long a cycle may be away before the watch is overdue.
    pub overdue_after: Duration,
    pub metrics: String,
    pub report: String,
}

pub type Shared = Arc<Mutex<Published>>;

/// What a notification asks of the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A change on a resource of this source: collect it again.
    Changed(String),
    /// Graph asks for a subscription to be reauthorized (renewed).
    Reauthorize(String, String),
}

/// The sources whose change notifications are received: (source, its `clientState`).
#[derive(Clone, Default)]
pub struct Feeds {
    pub states: Vec<(String, crate::config::SecretString)>,
    pub events: Option<std::sync::mpsc::Sender<Event>>,
}

/// Starts serving on `addr`; returns the address bound (port 0 picks one).
pub fn start(addr: &str, shared: Shared, feeds: Feeds) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("watch http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, feeds) = (shared.clone(), feeds.clone());
                // One short-lived thread a request: a slow client never holds the others.
                let _ = std::thread::Builder::new().spawn(move || {
                    let _ = serve(stream, &shared, &feeds);
                });
            }
        })?;
    Ok(bound)
}

/// The value of `name` in a query string, percent-decoded (`+` is a space).
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            let bytes = v.replace('+', " ");
            let b = bytes.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    if let Ok(x) = u8::from_str_radix(&bytes[i + 1..i + 3], 16) {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                }
                out.push(b[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    })
}

/// A Graph change or lifecycle notification batch: which sources changed, what to renew.
/// Returns None when a notification's `clientState` is no source's.
fn notifications(body: &[u8], feeds: &Feeds) -> Option<Vec<Event>> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut events = Vec::new();
    for n in doc["value"].as_array()? {
        let state = n["clientState"].as_str()?;
        let (source, _) = feeds.states.iter().find(|(_, s)| s.expose() == state)?;
        match n["lifecycleEvent"].as_str() {
            Some("reauthorizationRequired") | Some("subscriptionRemoved") => {
                events.push(Event::Reauthorize(
                    source.clone(),
                    n["subscriptionId"].as_str().unwrap_or("").into(),
                ))
            }
            Some(_) => events.push(Event::Changed(source.clone())),
            None => events.push(Event::Changed(source.clone())),
        }
    }
    Some(events)
}

fn serve(stream: TcpStream, shared: &Shared, feeds: &Feeds) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // The headers, up to the blank line; a body only as long as Content-Length says.
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0).min(1 << 20);
            }
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method == "POST" && path == "/graph/notifications" {
        let (status, ctype, body) = match query_value(query, "validationToken") {
            // Graph's handshake: the token back, as text, at once.
            Some(token) => ("200 OK", "text/plain", token),
            None => {
                let mut body = vec![0; length];
                std::io::Read::read_exact(&mut reader, &mut body)?;
                match notifications(&body, feeds) {
                    Some(events) => {
                        if let Some(tx) = &feeds.events {
                            for e in events {
                                let _ = tx.send(e);
                            }
                        }
                        ("202 Accepted", "text/plain", String::new())
                    }
                    None => (
                        "403 Forbidden",
                        "text/plain",
                        "unknown clientState\n".into(),
                    ),
                }
            }
        };
        return respond(stream, status, ctype, &body);
    }
    let p = shared.lock().unwrap_or_else(|e| e.into_inner());
    let (status, ctype, body) = match (method, path) {
        ("GET", "/healthz") => {
            let healthy = p
                .last
                .is_some_and(|(at, ok)| ok && at.elapsed() <= p.overdue_after);
            match (healthy, p.last) {
                (true, _) => ("200 OK", "text/plain", "ok\n".to_string()),
                (false, None) => (
                    "503 Service Unavailable",
                    "text/plain",
                    "no cycle has finished yet\n".into(),
                ),
                (false, Some((_, false))) => (
                    "503 Service Unavailable",
                    "text/plain",
                    "the last cycle failed\n".into(),
                ),
                (false, Some(_)) => (
                    "503 Service Unavailable",
                    "text/plain",
                    "the next cycle is overdue\n".into(),
                ),
            }
        }
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            p.metrics.clone(),
        ),
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", p.report.clone()),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    drop(p);
    respond(stream, status, ctype, &body)
}

fn respond(stream: TcpStream, status: &str, ctype: &str, body: &str) -> std::io::Result<()> {
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body.as_bytes())?;
    out.flush()
}
