//! `watch --listen`: a small HTTP/1.1 server on a thread of its own, for `/healthz`,
//! `/metrics` (Prometheus text format 0.0.4) and `/` (the latest report as HTML). What it
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

/// Starts serving on `addr`; returns the address bound (port 0 picks one).
pub fn start(addr: &str, shared: Shared) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("watch http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                // One short-lived thread a request: a slow client never holds the others.
                let _ = std::thread::Builder::new().spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        })?;
    Ok(bound)
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // The headers, up to the blank line (a request body is not read: only GETs are served).
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
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
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(body.as_bytes())?;
    out.flush()
}
