//! What the platforms write: the fix verbs each kind knows, and the [`Writer`] a source with
//! a `[sources.NAME.write]` table gets. A writer takes the actions of one source, re-reads
//! each target just before acting (what is already in effect is not sent again), and returns
//! each action's outcome with the requests it sent, or would send on a dry run.

use super::Context;
use crate::error::Result;
use serde_json::{Map, Value as Json};

/// What an action does, as the plan's summary counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Add,
    Remove,
    Update,
    Disable,
    Insert,
    Notify,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Add,
        Op::Remove,
        Op::Update,
        Op::Disable,
        Op::Insert,
        Op::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Update => "update",
            Op::Disable => "disable",
            Op::Insert => "insert",
            Op::Notify => "notify",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Takes an account away: counted by the mass-removal guard.
    pub fn removes(self) -> bool {
        matches!(self, Op::Remove | Op::Disable)
    }
}

/// A fix verb of a kind: its name, what it does, and its parameters. `more` lets the verb
/// take named values besides its parameters (`update_user(user, mail = …)`).
#[derive(Debug)]
pub struct Verb {
    pub name: &'static str,
    pub op: Op,
    pub params: &'static [&'static str],
    pub more: bool,
    /// What the action acts in (a group, channel or course), for the share guard.
    pub container: Option<Container>,
    /// The parameter naming the account, for the total guard.
    pub account: Option<&'static str>,
    /// What the action changes, so that the plan shows it before → after.
    pub change: Option<Change>,
    /// Parameters that take a list (a JSON array in the plan; a text in the rule is split on
    /// commas).
    pub lists: &'static [&'static str],
}

/// The members of a group, channel or course in the snapshot: the entity that lists them and
/// the columns that pick the container, each with the parameter that names it.
#[derive(Debug)]
pub struct Container {
    pub entity: &'static str,
    pub by: &'static [(&'static str, &'static str)],
}

/// The values an action sets on a row of `entity` (the one whose `column` is the value of
/// parameter `param`), as `after` makes them from the action's parameters.
#[derive(Debug)]
pub struct Change {
    pub entity: &'static str,
    pub param: &'static str,
    pub column: &'static str,
    pub after: fn(&Map<String, Json>) -> Map<String, Json>,
}

/// The parameters besides `skip`, as they are: `update_user(user, mail = …)` sets `mail`.
pub fn others(params: &Map<String, Json>, skip: &str) -> Map<String, Json> {
    params
        .iter()
        .filter(|(k, _)| *k != skip)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `update_user(user, FIELD = …)`: graph (`mail = …`) and wordpress (`email = …`) alike; the
/// fields are the user entity's columns.
pub const UPDATE_USER: Verb = Verb {
    more: true,
    change: Some(Change {
        entity: "users",
        param: "user",
        column: "id",
        after: |p| others(p, "user"),
    }),
    ..verb("update_user", Op::Update, &["user"])
};

pub const fn verb(name: &'static str, op: Op, params: &'static [&'static str]) -> Verb {
    Verb {
        name,
        op,
        params,
        more: false,
        container: None,
        account: None,
        change: None,
        lists: &[],
    }
}

/// An action as a writer gets it.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: u32,
    pub verb: String,
    pub params: Map<String, Json>,
}

/// What became of an action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// In effect already when re-read: nothing was sent.
    Already,
    /// The service refused it or it could not be sent: the service's code and message.
    Failed(String),
    /// Not attempted (the plan was refused, the source has no writer).
    Refused(String),
    /// `--dry-run`: what would be sent is in the requests.
    DryRun,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Already => "already",
            Outcome::Failed(_) => "failed",
            Outcome::Refused(_) => "refused",
            Outcome::DryRun => "dry-run",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Failed(e) | Outcome::Refused(e) => Some(e),
            _ => None,
        }
    }
}

/// A request as the log and `--dry-run` show it: method and path (or SQL verb and table),
/// and the body; never a credential.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Option<Json>,
}

impl Request {
    pub fn new(method: &str, path: impl Into<String>, body: Option<Json>) -> Request {
        Request {
            method: method.to_string(),
            path: path.into(),
            body,
        }
    }

    /// `METHOD path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// An action's outcome and the requests (writes) it sent or would send.
#[derive(Debug, Clone)]
pub struct Applied {
    pub id: u32,
    pub outcome: Outcome,
    pub requests: Vec<Request>,
}

impl Applied {
    pub fn new(id: u32, outcome: Outcome, requests: Vec<Request>) -> Applied {
        Applied {
            id,
            outcome,
            requests,
        }
    }
}

/// The error for a source that has no write credentials: it is never written.
pub fn not_writable(source: &str) -> crate::error::Error {
    crate::error::Error::input(format!(
        "source {source} is never written: it has no [sources.{source}.write] table"
    ))
}

/// Writes one source's actions.
pub trait Writer {
    /// Applies `steps` (all of this source's executable actions, adds before removes) and
    /// returns one [`Applied`] per step, in any order. With `dry_run` it may read, and writes
    /// nothing.
    fn apply(&self, source: &str, cx: &Context<'_>, steps: &[Step], dry_run: bool) -> Vec<Applied>;
}

/// A text parameter of an action (numbers as their decimal text).
pub fn text(params: &Map<String, Json>, name: &str) -> Result<String> {
    match params.get(name) {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(Json::Number(n)) => Ok(n.to_string()),
        Some(Json::Bool(b)) => Ok(b.to_string()),
        _ => Err(crate::error::Error::input(format!(
            "the action has no value for `{name}` (the rule's fix evaluated to null)"
        ))),
    }
}

/// A list parameter (Teams `roles`): a JSON array, or a text split on commas.
pub fn list(params: &Map<String, Json>, name: &str) -> Vec<String> {
    params.get(name).map(list_value).unwrap_or_default()
}

/// A value as a list: a JSON array's items, or a text split on commas.
pub fn list_value(value: &Json) -> Vec<String> {
    match value {
        Json::Array(a) => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Json::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}
