//! Microsoft Graph change notifications for a graph source (`[sources.NAME.notifications]`):
//! the `clientState` secret that tells its notifications from forged ones, and, when the config
//! names the public URL Graph can reach, the subscriptions `watch` creates and renews
//! (`users`, each group's and team's `members`).
//!
//! ```toml
//! [sources.entra.notifications]
//! url = "https://driftwatch.example.org/graph/notifications"   # public; optional
//! client_state = { env = "DRIFTWATCH_GRAPH_CLIENT_STATE" }
//! resources = ["users", "groups/0b1c…/members"]                # default: users
//! ```

use super::super::http::{check_url, origin, runtime, Auth, Http, Retry};
use super::super::{ChangeFeed, Context, Subscription};
use crate::config::{Origin, Secret};
use crate::error::{Error, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

/// How long a subscription is asked for; `watch` renews it when half of it is left.
const LIFETIME: i64 = 2 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    url: Option<String>,
    client_state: toml::Value,
    resources: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct Notifications {
    url: Option<String>,
    client_state: Secret,
    resources: Vec<String>,
}

pub fn parse(value: toml::Value, key: &str, origin: &Origin) -> Result<Notifications> {
    let s: Settings = origin.typed(value, key, "the notifications table of a graph source")?;
    Ok(Notifications {
        client_state: origin.secret(&s.client_state, &format!("{key}.client_state"))?,
        resources: s.resources.unwrap_or_else(|| vec!["users".into()]),
        url: s.url,
    })
}

impl super::GraphReader {
    pub(super) fn feed(&self, source: &str, cx: &Context<'_>) -> Result<Option<ChangeFeed>> {
        let Some(n) = &self.notifications else {
            return Ok(None);
        };
        let key = |k: &str| format!("sources.{source}.notifications.{k}");
        let url = n
            .url
            .as_ref()
            .map(|u| cx.expand(u, &key("url")))
            .transpose()?;
        Ok(Some(ChangeFeed {
            client_state: n.client_state.reveal(&key("client_state"))?,
            url,
            resources: n.resources.clone(),
        }))
    }

    /// A client for subscriptions, with the source's read credentials.
    fn client(&self, source: &str, cx: &Context<'_>) -> Result<(Http, String)> {
        let e = self.expand(source, cx)?;
        let key = |k: &str| format!("sources.{source}.{k}");
        check_url(&e.base, &key("base_url"))?;
        let auth = Auth::ClientCredentials {
            token_url: e.token_url,
            client_id: e.client_id,
            secret: self.client_secret.reveal(&key("client_secret"))?,
            scope: format!("{}/.default", origin(&e.base)),
        };
        Ok((
            Http::new(source, auth, 1, Retry::default())?.with_deadline(self.deadline),
            e.base,
        ))
    }

    /// Creates a subscription for each resource of the feed, notifying `feed.url`.
    pub(super) fn subscribe_all(
        &self,
        source: &str,
        cx: &Context<'_>,
        feed: &ChangeFeed,
        now: i64,
    ) -> Result<Vec<Subscription>> {
        let url = feed.url.as_deref().ok_or_else(|| {
            Error::input(format!(
                "sources.{source}.notifications: no `url` Graph can reach, so no subscription is made"
            ))
        })?;
        let (http, base) = self.client(source, cx)?;
        let rt = runtime()?;
        let mut out = Vec::new();
        for resource in &feed.resources {
            let change = if resource.ends_with("/members") {
                "created,updated,deleted"
            } else {
                "updated,deleted"
            };
            let body = json!({
                "changeType": change,
                "notificationUrl": url,
                "lifecycleNotificationUrl": url,
                "resource": resource,
                "expirationDateTime": crate::time::format(now + LIFETIME),
                "clientState": feed.client_state.expose(),
            });
            let what = format!("POST /subscriptions ({resource})");
            let (status, resp) = rt.block_on(http.send(
                Method::POST,
                &format!("{base}/subscriptions"),
                Some(&body),
            ))?;
            if !status.is_success() {
                return Err(Error::runtime(http.failure(&what, status, &resp.body)));
            }
            let doc = resp.json(&what)?;
            out.push(Subscription {
                id: doc["id"].as_str().unwrap_or_default().to_string(),
                resource: resource.clone(),
                expires: doc["expirationDateTime"]
                    .as_str()
                    .and_then(crate::time::parse)
                    .unwrap_or(now + LIFETIME),
            });
        }
        Ok(out)
    }

    /// Extends a subscription by another lifetime.
    pub(super) fn renew_one(
        &self,
        source: &str,
        cx: &Context<'_>,
        id: &str,
        now: i64,
    ) -> Result<i64> {
        let (http, base) = self.client(source, cx)?;
        let expires = now + LIFETIME;
        let body = json!({"expirationDateTime": crate::time::format(expires)});
        let url = format!("{base}/subscriptions/{}", super::super::http::segment(id));
        let (status, resp) = runtime()?.block_on(http.send(Method::PATCH, &url, Some(&body)))?;
        if !status.is_success() {
            return Err(Error::runtime(http.failure(
                "PATCH /subscriptions/…",
                status,
                &resp.body,
            )));
        }
        Ok(expires)
    }
}
