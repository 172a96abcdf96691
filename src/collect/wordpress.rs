//! The `wordpress` source: WordPress users (context=edit) and the LearnDash courses, groups and
//! course users, through the REST API with an application password.
//!
//! Lists are read 100 a page. The first page's `X-WP-TotalPages` says how many there are; the
//! others are read `concurrency` at a time. A page that is not a JSON array, or a list whose
//! length differs from its `X-WP-Total` (it changed while it was read), fails the source.

use super::http::{check_url, path_of, runtime, Auth, Http, Retry};
use super::platform::{fan_out, spec, write_records, Record};
use super::{Collector, Context};
use crate::config::{SourceConfig, SourceKind};
use crate::error::{Error, Result};
use crate::store::SnapshotWriter;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value as Json;

const PER_PAGE: usize = 100;
const DEFAULT_CONCURRENCY: usize = 4;

pub struct WordpressCollector<'a> {
    pub cx: &'a Context<'a>,
}

struct Site {
    http: Http,
    api: String,
    concurrency: usize,
}

impl Collector for WordpressCollector<'_> {
    fn collect(&self, source: &SourceConfig, out: &mut SnapshotWriter<'_>) -> Result<()> {
        let (config, vars) = (self.cx.config, self.cx.vars);
        let r = &source.remote;
        let key = |k: &str| format!("sources.{}.{k}", source.name);
        let url = source.expand(config, vars, "url", r.url.as_deref().unwrap_or_default())?;
        let url = url.trim_end_matches('/').to_string();
        check_url(&url, &key("url"))?;
        let user = source.expand(
            config,
            vars,
            "username",
            r.username.as_deref().unwrap_or_default(),
        )?;
        let password = r
            .password
            .as_ref()
            .expect("checked when the config loaded")
            .reveal(&key("password"))?;
        let concurrency = r.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        let site = Site {
            http: Http::new(
                &source.name,
                Auth::Basic { user, password },
                concurrency,
                Retry::default(),
            )?,
            api: format!("{url}/wp-json"),
            concurrency,
        };
        let rt = runtime()?;
        let result = rt.block_on(async {
            let mut courses: Option<Vec<Json>> = None;
            for entity in &source.entities {
                let records: Vec<Record> = match entity.name.as_str() {
                    "users" => site
                        .list("/wp/v2/users?context=edit&orderby=id&order=asc")
                        .await
                        .map(|v| Record::all(v, &[]))?,
                    "groups" => site
                        .list("/ldlms/v2/groups?orderby=id&order=asc")
                        .await
                        .map(|v| Record::all(v, &[]))?,
                    "courses" | "course_users" => {
                        if courses.is_none() {
                            courses = Some(
                                site.list("/ldlms/v2/sfwd-courses?orderby=id&order=asc")
                                    .await?,
                            );
                        }
                        let list = courses.clone().unwrap_or_default();
                        if entity.name == "courses" {
                            Record::all(list, &[])
                        } else {
                            site.course_users(&list).await?
                        }
                    }
                    other => {
                        return Err(Error::input(format!("wordpress has no entity `{other}`")))
                    }
                };
                let spec = spec(SourceKind::Wordpress, &entity.name)
                    .expect("checked when the config loaded");
                write_records(out, &source.name, spec, &records)?;
            }
            Ok(())
        });
        site.http.finish();
        result
    }
}

impl Site {
    /// The users enrolled in each course, each with its course.
    async fn course_users(&self, courses: &[Json]) -> Result<Vec<Record>> {
        let ids = courses.iter().filter_map(|c| c["id"].as_i64());
        fan_out(ids, self.concurrency, |id| async move {
            let path = format!("/ldlms/v2/sfwd-courses/{id}/users?orderby=id&order=asc");
            Ok(Record::all(
                self.list(&path).await?,
                &[("course_id", Json::from(id))],
            ))
        })
        .await
    }

    /// Every item of a paged list.
    async fn list(&self, path: &str) -> Result<Vec<Json>> {
        let url = |page: usize| format!("{}{path}&per_page={PER_PAGE}&page={page}", self.api);
        let first_url = url(1);
        let first = self.http.get(&first_url).await?;
        let what = format!("GET {}", path_of(&first_url));
        let number = |name: &str| -> Result<Option<usize>> {
            first
                .header(name)
                .map(|v| {
                    v.trim().parse().map_err(|_| {
                        Error::runtime(format!("{what}: header {name} is not a number: {v:?}"))
                    })
                })
                .transpose()
        };
        let total = number("X-WP-Total")?;
        let pages = number("X-WP-TotalPages")?;
        let mut items = array(first.json(&what)?, &what)?;
        let pages = match pages {
            Some(p) => p,
            None if items.len() < PER_PAGE => 1,
            None => {
                return Err(Error::runtime(format!(
                "{what}: a full page without X-WP-TotalPages; cannot tell how many pages there are"
            )))
            }
        };
        let rest: Vec<Vec<Json>> = futures_util::stream::iter((2..=pages).map(|page| {
            let u = url(page);
            async move {
                let what = format!("GET {}", path_of(&u));
                array(self.http.get(&u).await?.json(&what)?, &what)
            }
        }))
        .buffered(self.concurrency)
        .try_collect()
        .await?;
        items.extend(rest.into_iter().flatten());
        if let Some(total) = total {
            if total != items.len() {
                return Err(Error::runtime(format!(
                    "{what}: X-WP-Total said {total} items but the {pages} pages held {}; the list changed while it was read, or a page was cut short",
                    items.len()
                )));
            }
        }
        Ok(items)
    }
}

fn array(doc: Json, what: &str) -> Result<Vec<Json>> {
    match doc {
        Json::Array(items) => Ok(items),
        _ => Err(Error::runtime(format!(
            "{what}: not a list of items; the snapshot is not recorded"
        ))),
    }
}
