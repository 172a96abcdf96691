//! Planning: the rules evaluated at a run, and each violation past its grace, not suppressed,
//! whose rule has a `fix`, turned into an action of the plan file.
//!
//! An action names its source (`platform`), the verb of that source's kind and its named
//! parameters, and the violation it resolves. Identical actions asked by two violations (two
//! rules, or one rule twice) are one action naming both. Actions are ordered by target, adds
//! before updates before removes. An action on a source that has no `[sources.NAME.write]`
//! table, or whose kind is never written (csv, json), is planned as `notify` with the reason:
//! listed, never executed.

use crate::error::{Error, Result};
use crate::history::{audit_with_history, AuditReport};
use crate::platforms::write::{Op, Verb};
use crate::platforms::Config;
use crate::rules::ast::Action as Template;
use crate::rules::diag::Diagnostic;
use crate::rules::eval::At;
use crate::rules::{Loaded, RuleFile};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const FORMAT_VERSION: u32 = 1;

/// The plan file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub format_version: u32,
    pub plan_id: String,
    pub created_at: String,
    pub store_id: String,
    pub run: i64,
    /// The snapshot of each source the rules read.
    pub snapshots: BTreeMap<String, i64>,
    /// The fingerprint of each rule evaluated.
    pub rules: BTreeMap<String, String>,
    pub actions: Vec<Action>,
    pub summary: Summary,
}

/// How many actions of each op.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub add: u64,
    pub remove: u64,
    pub update: u64,
    pub disable: u64,
    pub insert: u64,
    pub notify: u64,
}

impl Plan {
    /// Writes the plan file: pretty JSON, each action on a line of its own (a plan of 100,000
    /// actions stays a file a diff and a person can read, at a third of pretty JSON's size).
    pub fn write<W: std::io::Write>(&self, mut out: W) -> Result<()> {
        let head = Plan {
            format_version: self.format_version,
            plan_id: self.plan_id.clone(),
            created_at: self.created_at.clone(),
            store_id: self.store_id.clone(),
            run: self.run,
            snapshots: self.snapshots.clone(),
            rules: self.rules.clone(),
            actions: Vec::new(),
            summary: self.summary.clone(),
        };
        let text = serde_json::to_string_pretty(&head)?;
        let (before, after) = text
            .split_once("\"actions\": []")
            .expect("a plan serializes its actions");
        out.write_all(before.as_bytes())?;
        out.write_all(b"\"actions\": [")?;
        for (i, a) in self.actions.iter().enumerate() {
            out.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
            serde_json::to_writer(&mut out, a)?;
        }
        if !self.actions.is_empty() {
            out.write_all(b"\n  ")?;
        }
        out.write_all(b"]")?;
        out.write_all(after.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    }
}

impl Summary {
    fn count(&mut self, op: Op) {
        let slot = match op {
            Op::Add => &mut self.add,
            Op::Remove => &mut self.remove,
            Op::Update => &mut self.update,
            Op::Disable => &mut self.disable,
            Op::Insert => &mut self.insert,
            Op::Notify => &mut self.notify,
        };
        *slot += 1;
    }
}

/// One planned action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Action {
    pub id: u32,
    // Shared by the actions of a rule: a plan of 100,000 actions holds each text once.
    pub op: Arc<str>,
    pub platform: Arc<str>,
    pub verb: Arc<str>,
    pub params: Map<String, Json>,
    /// What the latest snapshot holds, and what the action makes of it (a change of values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Json>,
    /// Why a `notify` is not executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Arc<str>>,
    pub rule: Arc<str>,
    pub key: Vec<Json>,
    pub subject: Option<Json>,
    /// Other violations the same action resolves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Resolves>,
}

impl Action {
    pub fn op(&self) -> Op {
        Op::parse(&self.op).unwrap_or(Op::Notify)
    }

    /// Every violation the action resolves: its own, then those it was merged with.
    pub fn resolves(&self) -> Vec<Resolves> {
        let mut out = vec![Resolves {
            rule: self.rule.clone(),
            key: self.key.clone(),
            subject: self.subject.clone(),
        }];
        out.extend(self.also.iter().cloned());
        out
    }

    /// What it acts on, for grouping: the source and the parameters that name a container
    /// (team, channel, group, course, table), or the action's first parameter.
    pub fn target(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        out.push_str(&self.platform);
        let mut named = false;
        for name in ["table", "team", "channel", "group", "course"] {
            if let Some(v) = self.params.get(name) {
                let _ = write!(out, " · {name} {}", Shown(v));
                named = true;
            }
        }
        if !named {
            if let Some((k, v)) = self.params.iter().next() {
                let _ = write!(out, " · {k} {}", Shown(v));
            }
        }
        out
    }
}

/// A value as a cell shows it (`output::cell_text`), written without a String of its own.
struct Shown<'a>(&'a Json);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Json::Null => Ok(()),
            Json::String(s) => f.write_str(s),
            other => write!(f, "{other}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resolves {
    pub rule: Arc<str>,
    pub key: Vec<Json>,
    pub subject: Option<Json>,
}

/// A plan and the audit it was made from.
pub struct Planned {
    pub plan: Plan,
    pub audit: AuditReport,
    /// Rules whose fix could not become actions, and why.
    pub notes: Vec<String>,
}

/// Evaluates `rules` at `at` and plans their fixes.
pub fn plan(
    store: &Store,
    config: &Config,
    files: &[RuleFile],
    rules: &[&Loaded<'_>],
    at: &At,
) -> Result<Planned> {
    let audit = audit_with_history(store, Some(config), files, rules, at, None)?;
    from_audit(store, config, rules, at, audit)
}

/// Plans the fixes of an audit already made of `rules` at `at` (its violations become the
/// actions; the plan keeps its counts).
pub fn from_audit(
    store: &Store,
    config: &Config,
    rules: &[&Loaded<'_>],
    at: &At,
    mut audit: AuditReport,
) -> Result<Planned> {
    let mut notes = audit.notes.clone();
    let mut actions: Vec<Action> = Vec::new();
    // Actions by a 128-bit hash of (source, verb, parameters).
    let mut seen: HashMap<u128, usize> = HashMap::new();
    for (l, report) in rules.iter().zip(&mut audit.rules) {
        let Some(template) = &l.rule.fix else {
            continue;
        };
        if report.error.is_some() {
            continue;
        }
        let maker = match Maker::new(store, config, template, at.run) {
            Ok(m) => m,
            Err(e) => {
                notes.push(format!(
                    "rule {}: its fix is not planned: {}",
                    l.name(),
                    e.message
                ));
                continue;
            }
        };
        let rule_name: Arc<str> = Arc::from(l.name());
        // The plan keeps the audit's counts, not its violations: they become actions.
        for v in std::mem::take(&mut report.violations) {
            if v.pending || v.suppressed.is_some() {
                continue;
            }
            let mut action = maker.action(v.fix)?;
            action.rule = rule_name.clone();
            action.key = v.key;
            action.subject = v.subject;
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(action.platform.as_bytes());
            h.update(b"\x01");
            h.update(action.verb.as_bytes());
            h.update(b"\x01");
            serde_json::to_writer(&mut HashWriter(&mut h), &action.params)?;
            let identity = h.digest128();
            match seen.get(&identity) {
                Some(&i) => actions[i].also.push(Resolves {
                    rule: action.rule,
                    key: action.key,
                    subject: action.subject,
                }),
                None => {
                    seen.insert(identity, actions.len());
                    actions.push(action);
                }
            }
        }
    }
    // By target, adds before updates before removes; the rule's order within.
    let rank = |op: Op| match op {
        Op::Insert | Op::Add => 0,
        Op::Update | Op::Notify => 1,
        Op::Remove | Op::Disable => 2,
    };
    actions.sort_by_cached_key(|a| (a.target(), rank(a.op())));
    let mut summary = Summary::default();
    for (i, a) in actions.iter_mut().enumerate() {
        a.id = i as u32 + 1;
        summary.count(a.op());
    }
    let created_at = crate::time::format(crate::time::now());
    let store_id = store.id()?;
    let seed = format!(
        "{store_id}:{}:{}:{}",
        at.run,
        crate::time::now_millis(),
        std::process::id()
    );
    let plan = Plan {
        format_version: FORMAT_VERSION,
        plan_id: format!("{:032x}", xxhash_rust::xxh3::xxh3_128(seed.as_bytes())),
        created_at,
        store_id,
        run: at.run,
        snapshots: audit
            .snapshots
            .iter()
            .map(|s| (s.source.clone(), s.id))
            .collect(),
        rules: rules
            .iter()
            .filter(|l| l.outcome.is_ok())
            .map(|l| (l.name().to_string(), l.fingerprint()))
            .collect(),
        actions,
        summary,
    };
    Ok(Planned { plan, audit, notes })
}

/// What a rule's `fix` names, as the config's sources know it.
pub enum Resolved {
    /// `notify(text = …)`: for a person.
    Notify,
    /// A verb of a source driftwatch reads from files: for a person, with the reason.
    Unwritten(String),
    /// A verb of the source's kind, and whether the source has write credentials.
    Verb(&'static Verb, bool),
}

/// Resolves a rule's `fix` against the config: its source exists, its kind has the verb, the
/// verb gets the parameters it takes. An error points at the part of the fix that is wrong.
pub fn resolve(config: &Config, template: &Template) -> std::result::Result<Resolved, Diagnostic> {
    let target = template.target();
    let source = &target.name;
    let Ok(s) = config.source(source) else {
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        let hint = match crate::text::nearest(source, names.iter().copied()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("sources: {}", names.join(", ")),
        };
        return Err(Diagnostic::new(
            format!("`fix` names no source `{source}` of the config"),
            target.span,
        )
        .hint(hint));
    };
    let verb_name = template.verb();
    let verb_span = match template {
        Template::Platform { verb, .. } => verb.span,
        _ => target.span,
    };
    if verb_name == "notify" {
        return Ok(Resolved::Notify);
    }
    let verbs = s.reader.verbs();
    if verbs.is_empty() {
        return Ok(Resolved::Unwritten(format!(
            "source {source} is read from files, which driftwatch does not write: do it by hand, or collect {source} from its service with write credentials"
        )));
    }
    let Some(verb) = verbs.iter().find(|v| v.name == verb_name) else {
        let names: Vec<&str> = verbs.iter().map(|v| v.name).collect();
        let hint = match crate::text::nearest(verb_name, names.iter().copied()) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("it takes {}", names.join(", ")),
        };
        return Err(Diagnostic::new(
            format!("source {source} has no verb `{verb_name}`"),
            verb_span,
        )
        .hint(hint));
    };
    if let Template::Platform { args, .. } = template {
        for p in verb.params {
            if !args
                .iter()
                .any(|a| a.name.as_ref().is_some_and(|n| n.name == *p))
            {
                return Err(
                    Diagnostic::new(format!("`{verb_name}` needs `{p} = …`"), verb_span)
                        .hint(format!("it takes {}", verb.params.join(", "))),
                );
            }
        }
        if !verb.more {
            if let Some(extra) = args.iter().find(|a| {
                a.name
                    .as_ref()
                    .is_none_or(|n| !verb.params.contains(&n.name.as_str()))
            }) {
                let span = extra.name.as_ref().map_or(extra.expr.span, |n| n.span);
                return Err(Diagnostic::new(
                    format!("`{verb_name}` takes no such parameter"),
                    span,
                )
                .hint(format!("it takes {}", verb.params.join(", "))));
            }
        }
    }
    Ok(Resolved::Verb(verb, s.reader.writable()))
}

/// Feeds what serde writes into a hash.
struct HashWriter<'a>(&'a mut xxhash_rust::xxh3::Xxh3);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes the actions of one rule's fix.
struct Maker<'a> {
    store: &'a Store,
    template: &'a Template,
    source: Arc<str>,
    /// The verb's name and the ops' names, shared by the rule's actions.
    verb_name: Arc<str>,
    ops: Vec<Arc<str>>,
    verb: Option<&'static Verb>,
    /// Set when the action is only listed for a person.
    notify: Option<Arc<str>>,
    run: i64,
    /// The name of each parameter, in the order of the fix's values.
    names: Vec<String>,
}

impl<'a> Maker<'a> {
    fn new(
        store: &'a Store,
        config: &Config,
        template: &'a Template,
        run: i64,
    ) -> Result<Maker<'a>> {
        let source = template.target().name.clone();
        let verb_name = template.verb();
        let names = template
            .named()
            .enumerate()
            .map(|(i, n)| {
                n.name
                    .as_ref()
                    .map_or_else(|| format!("arg{}", i + 1), |n| n.name.clone())
            })
            .collect();
        let mut maker = Maker {
            store,
            template,
            source: Arc::from(source.as_str()),
            verb_name: Arc::from(verb_name),
            ops: Op::ALL.iter().map(|o| Arc::from(o.as_str())).collect(),
            verb: None,
            notify: None,
            run,
            names,
        };
        match resolve(config, template).map_err(|d| Error::input(d.message))? {
            Resolved::Notify => {}
            Resolved::Unwritten(why) => maker.notify = Some(Arc::from(why)),
            Resolved::Verb(verb, writable) => {
                maker.verb = Some(verb);
                if !writable {
                    maker.notify = Some(Arc::from(format!(
                        "source {source} has no [sources.{source}.write] table, so driftwatch does not write it"
                    )));
                }
            }
        }
        Ok(maker)
    }

    fn action(&self, values: Vec<Json>) -> Result<Action> {
        let mut values = values.into_iter();
        let mut value = |_: usize| values.next().unwrap_or(Json::Null);
        let names = &self.names;
        let mut params = Map::new();
        match self.template {
            Template::Platform { .. } => {
                let lists = self.verb.map_or(&[][..], |v| v.lists);
                for (i, n) in names.iter().enumerate() {
                    let mut v = value(i);
                    if lists.contains(&n.as_str()) {
                        v = Json::Array(
                            crate::platforms::write::list_value(&v)
                                .into_iter()
                                .map(Json::from)
                                .collect(),
                        );
                    }
                    params.insert(n.clone(), v);
                }
            }
            Template::SqlInsert { table, .. } => {
                params.insert("table".into(), Json::from(table.name.as_str()));
                let cols: Map<String, Json> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.clone(), value(i)))
                    .collect();
                params.insert("values".into(), Json::Object(cols));
            }
            Template::SqlUpdate { table, set, .. } => {
                params.insert("table".into(), Json::from(table.name.as_str()));
                let (s, w) = names.split_at(set.len());
                let set: Map<String, Json> = s
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.clone(), value(i)))
                    .collect();
                let filter: Map<String, Json> = w
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.clone(), value(set.len() + i)))
                    .collect();
                params.insert("set".into(), Json::Object(set));
                params.insert("where".into(), Json::Object(filter));
            }
        }
        let op = match (&self.notify, self.verb) {
            (None, Some(v)) => v.op,
            _ => Op::Notify,
        };
        let (before, after) = match self.verb.and_then(|v| v.change.as_ref()) {
            Some(change) => {
                let after = (change.after)(&params);
                let before = self.before(change, &params, &after)?;
                (before, Some(Json::Object(after)))
            }
            None => match self.template {
                Template::SqlUpdate { .. } => (None, params.get("set").cloned()),
                _ => (None, None),
            },
        };
        Ok(Action {
            id: 0,
            op: self.ops[Op::ALL.iter().position(|o| *o == op).unwrap_or(0)].clone(),
            platform: self.source.clone(),
            verb: self.verb_name.clone(),
            params,
            before,
            after,
            reason: self.notify.clone(),
            rule: Arc::from(""),
            key: Vec::new(),
            subject: None,
            also: Vec::new(),
        })
    }

    /// The values `after` changes, as the latest snapshot of the entity holds them.
    fn before(
        &self,
        change: &crate::platforms::write::Change,
        params: &Map<String, Json>,
        after: &Map<String, Json>,
    ) -> Result<Option<Json>> {
        let Some(entity) = self.store.entity(&self.source, change.entity)? else {
            return Ok(None);
        };
        let Some(snap) = self.store.snapshot_for(&entity, self.run)? else {
            return Ok(None);
        };
        let Some(key) = params.get(change.param) else {
            return Ok(None);
        };
        let cols: Vec<&String> = after
            .keys()
            .filter(|k| entity.columns.iter().any(|c| &c.name == *k))
            .collect();
        if cols.is_empty() || !entity.columns.iter().any(|c| c.name == change.column) {
            return Ok(None);
        }
        let select: Vec<String> = cols.iter().map(|c| crate::store::quote(c)).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?1 AND {} LIMIT 1",
            select.join(", "),
            crate::store::quote(&entity.table),
            crate::store::quote(change.column),
            crate::store::visible_as("", "?2")
        );
        let key = crate::value::Value::from_json_cell(key);
        let found = self
            .store
            .conn()
            .query_row(&sql, rusqlite::params![key, snap.id], |r| {
                let mut m = Map::new();
                for (i, c) in cols.iter().enumerate() {
                    let v: crate::value::Value = crate::value::Value::from_sql(r.get_ref(i)?);
                    let ty = entity
                        .columns
                        .iter()
                        .find(|x| &&x.name == c)
                        .map(|x| x.ty)
                        .unwrap_or(crate::value::ColumnType::Text);
                    m.insert((*c).clone(), v.to_json(ty));
                }
                Ok(m)
            });
        match found {
            Ok(m) => Ok(Some(Json::Object(m))),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
