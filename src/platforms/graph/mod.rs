//! The `graph` source: Entra ID users and groups and Microsoft Teams through Microsoft Graph.
//!
//! Lists follow `@odata.nextLink` verbatim until it is absent (a page may be empty), with
//! `$select` and `$top=999`. The teams, groups and channels fan out: their members are listed
//! `concurrency` at a time. A page that is not a Graph page (malformed, truncated, no `value`)
//! fails the source, so a half-read list never looks like removed members.
//!
//! `users` and `groups` are read through delta queries once they have been read whole
//! (`delta`), and `group_members` through the group delta's `members@delta` (`membership`):
//! a collection then costs what changed.

mod delta;
mod membership;
pub mod notify;
pub mod write;

use super::http::{check_url, origin, path_of, runtime, segment, Auth, Http, Refusal, Retry};
use super::records::{f, fan_out, listed_entities, write_records, Field, Record, Spec};
use super::{at_least_one, Context, Declared, EntityConfig, Kind, Reader};
use crate::config::{Origin, Secret};
use crate::error::{Error, Result};
use crate::store::SnapshotWriter;
use crate::value::ColumnType::{Bool, Text, Timestamp};
use serde::Deserialize;
use serde_json::Value as Json;

const DEFAULT_BASE: &str = "https://graph.microsoft.com/v1.0";
const DEFAULT_TOKEN: &str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
/// Graph allows 4 requests a second per team or channel and 60 per app per tenant for Teams;
/// four in flight at ~100 ms each stays well inside.
const DEFAULT_CONCURRENCY: usize = 4;

/// The properties read of a user and of a group, by a list and by a delta query alike.
macro_rules! user_select {
    () => {
        "id,userPrincipalName,mail,displayName,accountEnabled,userType,externalUserState,createdDateTime"
    };
}
macro_rules! group_select {
    () => {
        "id,displayName,mail,mailEnabled,securityEnabled,groupTypes"
    };
}
use {group_select, user_select};

const USERS: &str = concat!("/users?$select=", user_select!(), "&$top=999");
const GROUPS: &str = concat!("/groups?$select=", group_select!(), "&$top=999");
const TEAMS: &str = "/teams?$select=id,displayName";

pub const KIND: Kind = Kind {
    name: "graph",
    parse: |table, key, origin: &Origin| {
        let s: Settings = origin.typed(toml::Value::Table(table), key, "a graph source")?;
        Ok(Box::new(GraphReader {
            client_secret: origin.secret(&s.client_secret, &format!("{key}.client_secret"))?,
            concurrency: at_least_one(origin, &format!("{key}.concurrency"), s.concurrency)?
                .unwrap_or(DEFAULT_CONCURRENCY),
            deadline: super::deadline(origin, &format!("{key}.deadline"), s.deadline)?,
            entities: listed_entities(origin, key, "graph", CATALOGUE, s.entities)?,
            tenant: s.tenant,
            client_id: s.client_id,
            base_url: s.base_url,
            token_url: s.token_url,
            teams: s.teams,
            write: s
                .write
                .map(|w| write::parse(w, &format!("{key}.write"), origin))
                .transpose()?,
            notifications: s
                .notifications
                .map(|n| notify::parse(n, &format!("{key}.notifications"), origin))
                .transpose()?,
        }))
    },
};

/// `[sources.NAME]` of kind graph, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    tenant: String,
    client_id: String,
    client_secret: toml::Value,
    base_url: Option<String>,
    token_url: Option<String>,
    concurrency: Option<usize>,
    deadline: Option<String>,
    teams: Option<Vec<String>>,
    entities: Option<toml::Value>,
    write: Option<toml::Value>,
    notifications: Option<toml::Value>,
}

/// A graph source. Strings are as written: `${NAME}` is expanded when it is collected.
#[derive(Debug)]
pub struct GraphReader {
    tenant: String,
    client_id: String,
    client_secret: Secret,
    base_url: Option<String>,
    token_url: Option<String>,
    concurrency: usize,
    deadline: std::time::Duration,
    /// Only these teams (ids), when given.
    teams: Option<Vec<String>>,
    entities: Vec<(&'static Spec, EntityConfig)>,
    /// `[sources.NAME.write]`: the credentials that may write, when given.
    write: Option<write::Credentials>,
    /// `[sources.NAME.notifications]`: Graph change notifications, when given.
    notifications: Option<notify::Notifications>,
}

const MEMBER_FIELDS: &[Field] = &[
    f("id", "id", Text),
    f("team_id", "$team_id", Text),
    f("user_id", "userId", Text),
    f("email", "email", Text),
    f("display_name", "displayName", Text),
    f("roles", "roles", Text),
];

pub const CATALOGUE: &[Spec] = &[
    Spec {
        name: "users",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("user_principal_name", "userPrincipalName", Text),
            f("mail", "mail", Text),
            f("display_name", "displayName", Text),
            f("account_enabled", "accountEnabled", Bool),
            f("user_type", "userType", Text),
            f("external_user_state", "externalUserState", Text),
            f("created_at", "createdDateTime", Timestamp),
        ],
    },
    Spec {
        name: "groups",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("display_name", "displayName", Text),
            f("mail", "mail", Text),
            f("mail_enabled", "mailEnabled", Bool),
            f("security_enabled", "securityEnabled", Bool),
            f("group_types", "groupTypes", Text),
        ],
    },
    Spec {
        name: "group_members",
        key: &["group_id", "member_id"],
        fields: &[
            f("group_id", "$group_id", Text),
            f("member_id", "id", Text),
            f("member_type", "@odata.type", Text),
            f("display_name", "displayName", Text),
            f("user_principal_name", "userPrincipalName", Text),
            f("mail", "mail", Text),
        ],
    },
    Spec {
        name: "teams",
        key: &["id"],
        fields: &[f("id", "id", Text), f("display_name", "displayName", Text)],
    },
    Spec {
        name: "team_members",
        key: &["id"],
        fields: MEMBER_FIELDS,
    },
    Spec {
        name: "channels",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("team_id", "$team_id", Text),
            f("display_name", "displayName", Text),
            f("membership_type", "membershipType", Text),
        ],
    },
    Spec {
        name: "channel_members",
        key: &["id"],
        fields: &[
            f("id", "id", Text),
            f("team_id", "$team_id", Text),
            f("channel_id", "$channel_id", Text),
            f("user_id", "userId", Text),
            f("email", "email", Text),
            f("display_name", "displayName", Text),
            f("roles", "roles", Text),
        ],
    },
];

/// One collection's client and what it has listed so far.
struct Graph {
    http: Http,
    base: String,
    concurrency: usize,
    teams: Option<Vec<String>>,
    channels: Option<Vec<Record>>,
}

/// The expanded settings a collection uses.
struct Expanded {
    tenant: String,
    client_id: String,
    base: String,
    token_url: String,
}

impl GraphReader {
    fn expand(&self, source: &str, cx: &Context<'_>) -> Result<Expanded> {
        let key = |k: &str| format!("sources.{source}.{k}");
        let setting = |name: &str, v: &Option<String>, default: &str| {
            cx.expand(v.as_deref().unwrap_or(default), &key(name))
        };
        let tenant = cx.expand(&self.tenant, &key("tenant"))?;
        let base = setting("base_url", &self.base_url, DEFAULT_BASE)?;
        let token_url =
            setting("token_url", &self.token_url, DEFAULT_TOKEN)?.replace("{tenant}", &tenant);
        Ok(Expanded {
            tenant,
            client_id: cx.expand(&self.client_id, &key("client_id"))?,
            base: base.trim_end_matches('/').to_string(),
            token_url,
        })
    }
}

impl Reader for GraphReader {
    fn entities(&self) -> Vec<&EntityConfig> {
        super::records::configs(&self.entities)
    }

    /// Expands the settings and checks the URLs, before a run is recorded.
    fn check_vars(&self, source: &str, cx: &Context<'_>) -> Result<()> {
        let e = self.expand(source, cx)?;
        check_url(&e.base, &format!("sources.{source}.base_url"))?;
        check_url(&e.token_url, &format!("sources.{source}.token_url"))?;
        self.client_secret
            .reveal(&format!("sources.{source}.client_secret"))
            .map(|_| ())
    }

    fn declared(&self, _source: &str, entity: &str, _cx: &Context<'_>) -> Declared {
        super::records::declared(CATALOGUE, entity)
    }

    fn verbs(&self) -> &'static [super::write::Verb] {
        write::VERBS
    }

    fn writable(&self) -> bool {
        self.write.is_some()
    }

    fn writer(&self, source: &str, cx: &Context<'_>) -> Result<Box<dyn super::write::Writer>> {
        self.make_writer(source, cx)
    }

    fn change_feed(&self, source: &str, cx: &Context<'_>) -> Result<Option<super::ChangeFeed>> {
        self.feed(source, cx)
    }

    fn subscribe(
        &self,
        source: &str,
        cx: &Context<'_>,
        feed: &super::ChangeFeed,
        now: i64,
    ) -> Result<Vec<super::Subscription>> {
        self.subscribe_all(source, cx, feed, now)
    }

    fn renew(&self, source: &str, cx: &Context<'_>, id: &str, now: i64) -> Result<i64> {
        self.renew_one(source, cx, id, now)
    }

    fn collect(&self, source: &str, cx: &Context<'_>, out: &mut SnapshotWriter<'_>) -> Result<()> {
        let Expanded {
            tenant,
            client_id,
            base,
            token_url,
        } = self.expand(source, cx)?;
        // Whose changes a delta link follows: another tenant, app or service starts afresh.
        let identity = format!("{base} tenant={tenant} client={client_id}");
        let key = |k: &str| format!("sources.{source}.{k}");
        check_url(&base, &key("base_url"))?;
        check_url(&token_url, &key("token_url"))?;
        let auth = Auth::ClientCredentials {
            token_url,
            client_id,
            secret: self.client_secret.reveal(&key("client_secret"))?,
            scope: format!("{}/.default", origin(&base)),
        };
        let mut g = Graph {
            http: Http::new(source, auth, self.concurrency, Retry::default())?
                .with_deadline(self.deadline),
            base,
            concurrency: self.concurrency,
            teams: self.teams.clone(),
            channels: None,
        };
        let rt = runtime()?;
        let result = rt.block_on(async {
            // Users first: a delta collection of group members takes their names from them.
            let users = self.entities.iter().any(|(s, _)| s.name == "users");
            let mut entities: Vec<_> = self.entities.iter().collect();
            entities.sort_by_key(|(s, _)| s.name != "users");
            for (spec, entity) in entities {
                if spec.name == "group_members" {
                    g.collect_group_members(source, spec, &identity, users, out)
                        .await?;
                    continue;
                }
                if let Some(t) = delta::tracked(&entity.name) {
                    g.collect_tracked(source, spec, t, &identity, out).await?;
                    continue;
                }
                let records = g.entity(&entity.name).await?;
                write_records(out, source, spec, &records)?;
            }
            Ok(())
        });
        g.http.finish();
        result
    }
}

/// The channels in turns across their teams (the first of each team, then the second …), so
/// that the requests in flight fall on different teams: Graph limits requests per team.
fn across_teams(channels: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut turn: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut keyed: Vec<(usize, usize, (String, String))> = channels
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let n = turn.entry(c.0.clone()).or_insert(0);
            *n += 1;
            (*n, i, c)
        })
        .collect();
    keyed.sort_by_key(|(n, i, _)| (*n, *i));
    keyed.into_iter().map(|(_, _, c)| c).collect()
}

impl Graph {
    async fn entity(&mut self, name: &str) -> Result<Vec<Record>> {
        Ok(match name {
            "users" => self.list(USERS).await.map(|v| Record::all(v, &[]))?,
            "groups" => self.list(GROUPS).await.map(|v| Record::all(v, &[]))?,
            "teams" => self.list(TEAMS).await.map(|v| Record::all(v, &[]))?,
            "group_members" => {
                let groups = self.ids(GROUPS).await?;
                self.fan_out(groups, |g| {
                    (
                        format!("/groups/{}/members?$top=999", segment(g)),
                        vec![("group_id", Json::from(g.as_str()))],
                    )
                })
                .await?
            }
            "team_members" => {
                let teams = self.team_ids().await?;
                self.fan_out(teams, |t| {
                    (
                        format!("/teams/{}/members?$top=999", segment(t)),
                        vec![("team_id", Json::from(t.as_str()))],
                    )
                })
                .await?
            }
            "channels" => self.channels().await?,
            "channel_members" => {
                let channels: Vec<(String, String)> = self
                    .channels()
                    .await?
                    .iter()
                    .filter_map(|c| {
                        let team = c.context.first()?.1.as_str()?.to_string();
                        Some((team, c.value["id"].as_str()?.to_string()))
                    })
                    .collect();
                self.fan_out(across_teams(channels), |(t, c)| {
                    (
                        format!(
                            "/teams/{}/channels/{}/members?$top=999",
                            segment(t),
                            segment(c)
                        ),
                        vec![
                            ("team_id", Json::from(t.as_str())),
                            ("channel_id", Json::from(c.as_str())),
                        ],
                    )
                })
                .await?
            }
            other => return Err(Error::input(format!("graph has no entity `{other}`"))),
        })
    }

    /// The channels of every team, each with its team; listed once however many entities
    /// need them.
    async fn channels(&mut self) -> Result<Vec<Record>> {
        if let Some(c) = &self.channels {
            return Ok(c.clone());
        }
        let teams = self.team_ids().await?;
        let channels = self
            .fan_out(teams, |t| {
                (
                    format!(
                        "/teams/{}/channels?$select=id,displayName,membershipType",
                        segment(t)
                    ),
                    vec![("team_id", Json::from(t.as_str()))],
                )
            })
            .await?;
        self.channels = Some(channels.clone());
        Ok(channels)
    }

    /// The teams named in the config, else every team of the tenant.
    async fn team_ids(&mut self) -> Result<Vec<String>> {
        if let Some(t) = &self.teams {
            return Ok(t.clone());
        }
        let teams = self.ids(TEAMS).await?;
        self.teams = Some(teams.clone());
        Ok(teams)
    }

    async fn ids(&self, path: &str) -> Result<Vec<String>> {
        Ok(self
            .list(path)
            .await?
            .iter()
            .filter_map(|v| v["id"].as_str().map(str::to_string))
            .collect())
    }

    /// Lists each item's path, `concurrency` at a time, each record with the item's context.
    async fn fan_out<T>(
        &self,
        items: Vec<T>,
        request: impl Fn(&T) -> (String, Vec<(&'static str, Json)>),
    ) -> Result<Vec<Record>> {
        fan_out(items.iter(), self.concurrency, |item| {
            let (path, context) = request(item);
            async move { Ok(Record::all(self.list(&path).await?, &context)) }
        })
        .await
    }

    /// Every record of a Graph list: the first page at `path`, then each `@odata.nextLink`.
    async fn list(&self, path: &str) -> Result<Vec<Json>> {
        let mut out = Vec::new();
        self.walk(&format!("{}{path}", self.base), |values| out.extend(values))
            .await?
            .map_err(|refused| Error::runtime(refused.message))?;
        Ok(out)
    }

    /// Follows a Graph list from `url`: each page's `value` goes to `take`, then the page's
    /// `@odata.nextLink` is followed until a page has none. Returns the last page's
    /// `@odata.deltaLink` (the end of a delta round), or the service's refusal of a page.
    async fn walk(
        &self,
        url: &str,
        mut take: impl FnMut(Vec<Json>),
    ) -> Result<std::result::Result<Option<String>, Refusal>> {
        let mut url = url.to_string();
        for page in 1.. {
            let what = format!("GET {} (page {page})", path_of(&url));
            let mut doc = match self.http.get_answer(&url).await? {
                Ok(r) => r.json(&what)?,
                Err(refused) => return Ok(Err(refused)),
            };
            let Some(Json::Array(values)) = doc.get_mut("value").map(Json::take) else {
                return Err(Error::runtime(format!(
                    "{what}: not a Graph page (no `value` array); the snapshot is not recorded"
                )));
            };
            take(values);
            match self.link(&doc, "@odata.nextLink", &what)? {
                Some(next) => url = next,
                None => return Ok(Ok(self.link(&doc, "@odata.deltaLink", &what)?)),
            }
        }
        unreachable!("the page loop returns")
    }

    /// A page's link `name`, if it has one; a link to another host is refused: the token goes
    /// only to the service it is for.
    fn link(&self, doc: &Json, name: &str, what: &str) -> Result<Option<String>> {
        match doc.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(link)) => {
                if origin(link) != origin(&self.base) {
                    return Err(Error::runtime(format!(
                        "{what}: {name} leads to another host ({}); refusing to follow it",
                        origin(link)
                    )));
                }
                Ok(Some(link.clone()))
            }
            Some(other) => Err(Error::runtime(format!(
                "{what}: {name} is not a link: {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn channels_are_taken_in_turns_across_teams() {
        let c = |t: &str, n: &str| (t.to_string(), n.to_string());
        let order = super::across_teams(vec![
            c("a", "1"),
            c("a", "2"),
            c("a", "3"),
            c("b", "1"),
            c("c", "1"),
            c("c", "2"),
        ]);
        assert_eq!(
            order,
            [
                c("a", "1"),
                c("b", "1"),
                c("c", "1"),
                c("a", "2"),
                c("c", "2"),
                c("a", "3")
            ]
        );
    }
}
