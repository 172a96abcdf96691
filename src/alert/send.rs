//! Delivering the outbox: each due notification in its receiver's form (Slack `{"text": …}`,
//! a Teams Workflows message with an Adaptive Card, the generic webhook's JSON, a line on
//! standard output), retried with backoff; what still fails stays due.

use super::{logged, Notification, Receiver, Report};
use crate::error::{Error, Result};
use crate::store::Store;
use serde_json::{json, Value as Json};
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(300);

/// The text a person reads: `[FIRING] name: summary`, and each rule's count.
fn text(payload: &Json) -> String {
    let status = payload["status"].as_str().unwrap_or("").to_uppercase();
    let mut t = format!(
        "[{status}] {}",
        payload["annotations"]["summary"].as_str().unwrap_or("")
    );
    for r in payload["rules"].as_array().into_iter().flatten() {
        t.push_str(&format!(
            "\n- {}: {}",
            r["rule"].as_str().unwrap_or(""),
            r["violations"]
        ));
    }
    t
}

/// The body a receiver of `kind` takes.
pub fn body(receiver: &Receiver, payload: &Json) -> Json {
    match receiver {
        Receiver::Slack(_) => json!({"text": text(payload)}),
        Receiver::Teams(_) => {
            let facts: Vec<Json> = payload["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| json!({"title": r["rule"], "value": r["violations"].to_string()}))
                .collect();
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                             "text": format!("[{}] {}", payload["status"].as_str().unwrap_or("").to_uppercase(), payload["alert"].as_str().unwrap_or(""))},
                            {"type": "TextBlock", "wrap": true, "text": payload["annotations"]["summary"]},
                            {"type": "FactSet", "facts": facts}
                        ]
                    }
                }]
            })
        }
        Receiver::Webhook(_) | Receiver::Stdout => payload.clone(),
    }
}

/// Sends every due notification of the outbox.
pub fn deliver(
    store: &Store,
    receivers: &[(String, Receiver)],
    report: &mut Report,
    stdout: &mut dyn std::io::Write,
) -> Result<()> {
    let mut stmt = store.conn().prepare(
        "SELECT id, alert, receiver, payload FROM alert_outbox WHERE sent_at IS NULL ORDER BY id",
    )?;
    let due: Vec<(i64, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if due.is_empty() {
        return Ok(());
    }
    let rt = crate::platforms::http::runtime()?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::runtime(format!("alert: HTTP client: {e}")))?;
    let mut entries = Vec::new();
    for (id, alert, receiver, payload) in due {
        let payload: Json = serde_json::from_str(&payload).unwrap_or(Json::Null);
        let n = Notification {
            alert,
            receiver: receiver.clone(),
            payload,
        };
        let Some((_, r)) = receivers.iter().find(|(name, _)| *name == receiver) else {
            let why = format!("receiver {receiver} is no longer in the config");
            report.failed.push((n, why));
            continue;
        };
        let outcome: std::result::Result<(), String> = match r {
            Receiver::Stdout => writeln!(stdout, "{}", text(&n.payload)).map_err(|e| e.to_string()),
            Receiver::Slack(url) | Receiver::Teams(url) | Receiver::Webhook(url) => {
                let key = format!("receivers.{receiver}.url");
                match url
                    .reveal(&key)
                    .and_then(|u| crate::platforms::http::check_url(u.expose(), &key).map(|()| u))
                {
                    Err(e) => Err(e.message),
                    Ok(url) => {
                        let body = body(r, &n.payload);
                        rt.block_on(post(&client, url.expose(), &body))
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {
                store.conn().execute(
                    "UPDATE alert_outbox SET sent_at = ?2, attempts = attempts + 1 WHERE id = ?1",
                    rusqlite::params![id, crate::time::format(crate::time::now())],
                )?;
                entries.push(logged(&n, "sent", None));
                report.sent.push(n);
            }
            Err(why) => {
                let why = crate::config::mask(&why);
                store.conn().execute(
                    "UPDATE alert_outbox SET attempts = attempts + ?2, last_error = ?3 WHERE id = ?1",
                    rusqlite::params![id, ATTEMPTS, why],
                )?;
                entries.push(logged(&n, "failed", Some(why.clone())));
                report.failed.push((n, why));
            }
        }
    }
    store.log(entries)?;
    Ok(())
}

/// POSTs `body`, retrying a failure up to [`ATTEMPTS`] times with backoff. The error never holds
/// the URL (it is a secret).
async fn post(client: &reqwest::Client, url: &str, body: &Json) -> std::result::Result<(), String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF * 2u32.pow(attempt - 1)).await;
        }
        match client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("the receiver answered {}", r.status()),
            Err(e) => {
                last = if e.is_timeout() {
                    "no answer in time".into()
                } else if e.is_connect() {
                    "cannot connect".into()
                } else {
                    "the request failed".into()
                }
            }
        }
    }
    Err(format!(
        "{last} (after {ATTEMPTS} attempts; it stays due for the next `alert`)"
    ))
}
