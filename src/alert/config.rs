//! `[[alerts]]` and `[receivers.NAME]` of the config, typed.

use crate::config::{Origin, Secret};
use crate::error::Result;
use crate::platforms::Config;
use serde::Deserialize;

/// When an alert fires.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// `violations > N` (counted violations of the chosen rules, summed).
    Violations(u64),
    /// `violations > N%` of the rows the rules range over.
    Share(f64),
    /// `new > N`: violations new since the run before.
    New(u64),
    /// `growth > N over K`: violations now minus violations K evaluated runs before.
    Growth(i64, usize),
    /// `age > SPAN`: a violation first seen longer ago than the span (in run time).
    Age(i64),
    /// `source_failed`: a source whose collection failed in the run.
    SourceFailed,
    /// `stale > SPAN`: a source whose latest complete snapshot is older than the span.
    Stale(i64),
}

impl When {
    pub fn parse(text: &str) -> Option<When> {
        let t: Vec<&str> = text.split_whitespace().collect();
        let span = |s: &str| crate::time::parse_duration(s).filter(|s| *s > 0);
        match t.as_slice() {
            ["source_failed"] => Some(When::SourceFailed),
            ["violations", ">", n] => match n.strip_suffix('%') {
                Some(p) => p
                    .parse()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .map(When::Share),
                None => n.parse().ok().map(When::Violations),
            },
            ["new", ">", n] => n.parse().ok().map(When::New),
            ["growth", ">", n, "over", k] => Some(When::Growth(
                n.parse().ok()?,
                k.parse().ok().filter(|k| *k > 0)?,
            )),
            ["age", ">", s] => span(s).map(When::Age),
            ["stale", ">", s] => span(s).map(When::Stale),
            _ => None,
        }
    }
}

/// One `[[alerts]]` entry.
#[derive(Debug, Clone)]
pub struct Alert {
    pub name: String,
    /// Rule names or globs (`email_*`); empty with tags or severity: every rule they allow.
    pub rules: Vec<String>,
    pub tags: Vec<String>,
    pub severity: Option<String>,
    pub when: When,
    pub when_text: String,
    pub to: Vec<String>,
    /// Seconds of run time before a still-firing alert is sent again; None: never.
    pub repeat: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    name: String,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    severity: Option<String>,
    when: String,
    to: Vec<String>,
    repeat: Option<String>,
}

/// A receiver: where notifications go.
#[derive(Debug)]
pub enum Receiver {
    Slack(Secret),
    Teams(Secret),
    Webhook(Secret),
    Stdout,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    kind: String,
    url: Option<toml::Value>,
}

/// The receivers, by name, in the config's order.
pub type Receivers = Vec<(String, Receiver)>;

/// The alerts and receivers of `config`, checked: every `when` parses, every `to` names a
/// receiver, every URL is a secret from the environment or a file.
pub fn parse(config: &Config) -> Result<(Vec<Alert>, Receivers)> {
    let origin: &Origin = &config.origin;
    let mut receivers = Vec::new();
    for (name, value) in &config.receivers {
        let key = format!("receivers.{name}");
        let raw: RawReceiver = origin.typed(value.clone(), &key, "a receiver")?;
        let url = |kind: &str| -> Result<Secret> {
            let v = raw.url.as_ref().ok_or_else(|| {
                origin.error(
                    &key,
                    format!("a {kind} receiver needs `url` (a secret: url = {{ env = \"NAME\" }})"),
                )
            })?;
            origin.secret(v, &format!("{key}.url"))
        };
        let r = match raw.kind.as_str() {
            "slack" => Receiver::Slack(url("slack")?),
            "teams" => Receiver::Teams(url("teams")?),
            "webhook" => Receiver::Webhook(url("webhook")?),
            "stdout" => Receiver::Stdout,
            other => {
                return Err(origin.error(
                    &format!("{key}.kind"),
                    format!(
                    "unknown receiver kind {other:?}; kinds are slack, teams, webhook and stdout"
                ),
                ))
            }
        };
        receivers.push((name.clone(), r));
    }
    let mut alerts = Vec::new();
    for (i, value) in config.alerts.iter().enumerate() {
        let key = format!("alerts[{i}]");
        let raw: RawAlert = origin.typed(value.clone(), &key, "an alert")?;
        let key = format!("alerts.{}", raw.name);
        let when = When::parse(&raw.when).ok_or_else(|| {
            origin.error(
                &format!("{key}.when"),
                format!("{:?} is not a condition; conditions are violations > N, violations > N%, new > N, growth > N over K, age > 3d, source_failed, stale > 1d", raw.when),
            )
        })?;
        for to in &raw.to {
            if !receivers.iter().any(|(n, _)| n == to) {
                let names: Vec<&str> = receivers.iter().map(|(n, _)| n.as_str()).collect();
                return Err(origin.error(
                    &format!("{key}.to"),
                    format!("no receiver {to:?} (receivers: {})", names.join(", ")),
                ));
            }
        }
        if let Some(s) = &raw.severity {
            if !["info", "warning", "error", "critical"].contains(&s.as_str()) {
                return Err(origin.error(
                    &format!("{key}.severity"),
                    format!("{s:?} is not a severity (info, warning, error, critical)"),
                ));
            }
        }
        let repeat = raw
            .repeat
            .as_ref()
            .map(|r| {
                crate::time::parse_duration(r)
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        origin.error(
                            &format!("{key}.repeat"),
                            format!("{r:?} is not a duration such as \"30d\""),
                        )
                    })
            })
            .transpose()?;
        if alerts.iter().any(|a: &Alert| a.name == raw.name) {
            return Err(origin.error(&key, "two alerts have this name"));
        }
        alerts.push(Alert {
            name: raw.name,
            rules: raw.rules,
            tags: raw.tags,
            severity: raw.severity,
            when,
            when_text: raw.when,
            to: raw.to,
            repeat,
        });
    }
    Ok((alerts, receivers))
}
