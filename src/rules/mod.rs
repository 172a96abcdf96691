//! The rule language: `ast`, `parse` (nom), `check` (names and types against entity schemas),
//! `sql` (compile to one statement with bound parameters), `eval` (run it at a run).
//!
//! A rule file is parsed whole (every broken rule is reported), each rule is checked on its own,
//! and a rule that does not check is reported while the others still run.

pub mod ast;
pub mod check;
pub mod diag;
pub mod eval;
pub mod parse;
pub mod schemas;
pub mod sql;
pub mod types;

use crate::error::{Error, Result};
use crate::platforms::Config;
use ast::Rule;
use check::{Checked, Schemas};
use diag::Diagnostic;
use std::path::{Path, PathBuf};

/// One rule file: its text, the rules that parsed, and its syntax errors.
#[derive(Debug)]
pub struct RuleFile {
    pub path: PathBuf,
    /// The path as shown in diagnostics.
    pub name: String,
    pub src: String,
    pub rules: Vec<Rule>,
    /// The file's `count`s, for `status`: kept apart, so that no rule command sees them.
    pub counts: Vec<Rule>,
    pub errors: Vec<Diagnostic>,
}

impl RuleFile {
    pub fn load(path: &Path) -> Result<RuleFile> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("rule file {}: {e}", path.display())))?;
        Ok(RuleFile::parse(path, src))
    }

    pub fn parse(path: &Path, src: String) -> RuleFile {
        let (all, errors) = parse::parse_file(&src);
        let (counts, rules) = all.into_iter().partition(|r| r.count);
        RuleFile {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            src,
            rules,
            counts,
            errors,
        }
    }

    pub fn render(&self, diags: &[Diagnostic]) -> String {
        diag::render_all(&self.name, &self.src, diags)
    }
}

/// A rule with the file it came from and the outcome of checking it.
#[derive(Debug)]
pub struct Loaded<'f> {
    pub file: &'f RuleFile,
    pub rule: &'f Rule,
    pub outcome: std::result::Result<Checked<'f>, Vec<Diagnostic>>,
}

impl Loaded<'_> {
    pub fn name(&self) -> &str {
        &self.rule.name.name
    }

    /// A hash of the rule's text, whitespace aside: its history belongs to this version of it.
    pub fn fingerprint(&self) -> String {
        let text = &self.file.src[self.rule.span.start..self.rule.span.end];
        let words: Vec<&str> = text.split_whitespace().collect();
        format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(words.join(" ").as_bytes())
        )
    }

    /// The first error, in one line, for reports: `file:line:col: message (hint)`.
    pub fn error_line(&self) -> Option<String> {
        let d = self.outcome.as_ref().err()?.first()?;
        let (line, col) = d.line_col(&self.file.src);
        let hint = d
            .hint
            .as_ref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        Some(format!(
            "{}:{line}:{col}: {}{hint}",
            self.file.name, d.message
        ))
    }
}

/// Checks every rule of the files against the schemas. A rule name given twice is an error
/// on the second one.
pub fn check_files<'f>(files: &'f [RuleFile], schemas: &Schemas) -> Vec<Loaded<'f>> {
    let mut out: Vec<Loaded<'f>> = Vec::new();
    for file in files {
        for rule in &file.rules {
            let mut outcome = check::check_rule(rule, &file.src, schemas);
            if let Some(prev) = out.iter().find(|l| l.name() == rule.name.name) {
                let (line, _) = Diagnostic::new("", prev.rule.name.span).line_col(&prev.file.src);
                let d = Diagnostic::new(
                    format!("rule `{}` is defined twice", rule.name),
                    rule.name.span,
                )
                .hint(format!("the first is at {}:{line}", prev.file.name));
                outcome = match outcome {
                    Ok(_) => Err(vec![d]),
                    Err(mut v) => {
                        v.insert(0, d);
                        Err(v)
                    }
                };
            }
            out.push(Loaded {
                file,
                rule,
                outcome,
            });
        }
    }
    out
}

/// The rule files named by globs (relative ones against `dir`), in natural order.
pub fn expand_globs(patterns: &[String], dir: &Path, origin: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in patterns {
        // A relative pattern is the config folder's; `join` keeps an absolute one as it is.
        let text = dir.join(p).to_string_lossy().to_string();
        let found = crate::text::files_matching(&text)
            .map_err(|e| Error::input(format!("{origin}: rule pattern `{p}`: {e}")))?;
        if found.is_empty() {
            return Err(Error::input(format!(
                "{origin}: no rule file matches `{p}` (looked for {text})"
            )));
        }
        for f in found {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    Ok(files)
}

/// The rule files: `files` when given, else the config's `rules` patterns.
pub fn load_files(config: Option<&Config>, files: &[PathBuf]) -> Result<Vec<RuleFile>> {
    let paths =
        if !files.is_empty() {
            files.to_vec()
        } else {
            match config {
                Some(c) if !c.rules.is_empty() => expand_globs(
                    &c.rules,
                    &c.origin.dir,
                    &format!("{}: rules", c.origin.file.display()),
                )?,
                Some(c) => {
                    return Err(Error::input(format!(
                    "{}: no `rules` to run: add rules = [\"queries/*.rules\"] or pass --rules FILE",
                    c.origin.file.display()
                )))
                }
                None => return Err(Error::input(
                    "no rule files: pass --rules FILE, or --config FILE whose `rules` names them",
                )),
            }
        };
    paths.iter().map(|p| RuleFile::load(p)).collect()
}

/// The rules named by `--rule` (all when none is named), or an error naming the unknown one.
pub fn select<'a, 'f>(loaded: &'a [Loaded<'f>], names: &[String]) -> Result<Vec<&'a Loaded<'f>>> {
    if names.is_empty() {
        return Ok(loaded.iter().collect());
    }
    let mut out = Vec::new();
    for n in names {
        match loaded.iter().find(|l| l.name() == n) {
            Some(l) => out.push(l),
            None => {
                let hint = match crate::text::nearest(n, loaded.iter().map(|l| l.name())) {
                    Some(m) => format!("; did you mean `{m}`?"),
                    None => format!(
                        " (rules: {})",
                        loaded
                            .iter()
                            .map(|l| l.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                return Err(Error::input(format!("no rule named `{n}`{hint}")));
            }
        }
    }
    Ok(out)
}
