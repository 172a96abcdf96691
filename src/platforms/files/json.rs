//! The `json` source: one file, or a glob of files (paged exports, read in natural order:
//! `page-2` before `page-10`), per entity. `records` names the record array (`value` for Graph
//! pages; absent for a top-level array, as WordPress returns). `columns` maps output columns to
//! paths: `a.b` inside the record, `$.a` from the file's top level (the envelope a paged export
//! adds, such as the channel a page of members belongs to). Without `columns`, every top-level
//! field of the records whose name is a usable column name is collected.

use super::FileEntity;
use crate::error::{Error, Result};
use crate::platforms::{Context, Declared};
use crate::store::{Column, SnapshotWriter};
use crate::text::check_column_name;
use crate::value::ColumnType;
use serde_json::Value as Json;

struct Page {
    file: String,
    doc: Json,
}

fn lookup<'j>(mut at: &'j Json, path: &str) -> Option<&'j Json> {
    for part in path.split('.').filter(|p| !p.is_empty()) {
        at = match at {
            Json::Object(map) => map.get(part)?,
            Json::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}

/// The value of a column path for one record of a page.
fn field<'j>(record: &'j Json, doc: &'j Json, path: &str) -> Option<&'j Json> {
    match path.strip_prefix("$.") {
        Some(top) => lookup(doc, top),
        None => lookup(record, path),
    }
}

fn read_pages(pattern: &str) -> Result<Vec<Page>> {
    let files: Vec<String> = if pattern.contains(['*', '?', '[']) {
        let found: Vec<String> = crate::text::files_matching(pattern)
            .map_err(|e| Error::input(format!("{pattern}: bad glob pattern: {e}")))?
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if found.is_empty() {
            return Err(Error::input(format!("{pattern}: no file matches")));
        }
        found
    } else {
        vec![pattern.to_string()]
    };
    files
        .into_iter()
        .map(|file| {
            let text =
                std::fs::read_to_string(&file).map_err(|e| Error::input(format!("{file}: {e}")))?;
            let doc = serde_json::from_str(&text).map_err(|e| {
                Error::input(format!(
                    "{file}:{}:{}: malformed JSON: {e}",
                    e.line(),
                    e.column()
                ))
            })?;
            Ok(Page { file, doc })
        })
        .collect()
}

/// A paged export that stops early must fail, not look like rows were removed. For files
/// named `…page-N…`, the numbers must run without a gap; and the last file of each series
/// (files named alike but for their last number) must not point to a next page with
/// `@odata.nextLink`, as a Graph page does while more pages follow.
fn check_complete(pages: &[Page]) -> Result<()> {
    let mut series: Vec<(String, Vec<(u64, &Page)>)> = Vec::new();
    for page in pages {
        let name = std::path::Path::new(&page.file)
            .file_name()
            .map_or(page.file.clone(), |n| n.to_string_lossy().into_owned());
        let (stem, number) = split_last_number(&name);
        match series.iter_mut().find(|(s, _)| *s == stem) {
            Some((_, members)) => members.push((number.unwrap_or(0), page)),
            None => series.push((stem, vec![(number.unwrap_or(0), page)])),
        }
    }
    for (stem, mut members) in series {
        members.sort_by_key(|(n, _)| *n);
        let before_number = stem.split('#').next().unwrap_or("").to_ascii_lowercase();
        let paged = before_number
            .trim_end_matches(['-', '_', '.'])
            .ends_with("page");
        if paged {
            // Pages count from 1 (or from 0): a series that starts later lost its first pages.
            if let Some((first, page)) = members.first().filter(|(n, _)| *n > 1) {
                return Err(Error::input(format!(
                    "{}: the export is incomplete: it starts at page {first}; pages are numbered from 1",
                    page.file
                )));
            }
            for pair in members.windows(2) {
                if pair[1].0 != pair[0].0 + 1 {
                    return Err(Error::input(format!(
                        "{}: the export is incomplete: page {} follows page {}",
                        pair[1].1.file, pair[1].0, pair[0].0
                    )));
                }
            }
        }
        let (_, last) = members.last().expect("a series has a page");
        if last
            .doc
            .get("@odata.nextLink")
            .is_some_and(|l| !l.is_null())
        {
            return Err(Error::input(format!(
                "{}: the export is incomplete: the last page has an @odata.nextLink, so more pages were due",
                last.file
            )));
        }
    }
    Ok(())
}

/// `members-C01-page-12.json` → (`members-C01-page-#.json`, Some(12)).
fn split_last_number(name: &str) -> (String, Option<u64>) {
    let bytes = name.as_bytes();
    let Some(end) = bytes.iter().rposition(|b| b.is_ascii_digit()) else {
        return (name.to_string(), None);
    };
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let number = name[start..=end].parse().ok();
    (format!("{}#{}", &name[..start], &name[end + 1..]), number)
}

fn records<'p>(page: &'p Page, records: Option<&str>) -> Result<&'p [Json]> {
    let found = match records {
        None => Some(&page.doc),
        Some(path) => lookup(&page.doc, path),
    };
    match found {
        Some(Json::Array(items)) => Ok(items),
        _ => Err(Error::input(match records {
            None => format!("{}: expected a top-level array of records (or set `records` to where the array is)", page.file),
            Some(p) => format!("{}: no array of records at `{p}`", page.file),
        })),
    }
}

/// Without `columns`: every top-level field, in the order the records first show them, each
/// read from the field of its own name. Annotations (`@odata.etag`) are not data and are left
/// out; any other field whose name is not a usable column name is refused, as a CSV header is,
/// rather than dropped unseen.
fn top_level_fields(pages: &[(&Page, &[Json])]) -> Result<Vec<(String, String)>> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (page, recs) in pages {
        for k in recs
            .iter()
            .flat_map(|r| r.as_object().map(|o| o.keys()))
            .flatten()
        {
            if k.starts_with('@') || seen.iter().any(|(n, _)| n == k) {
                continue;
            }
            check_column_name(k).map_err(|e| Error::input(format!("{}: field {e}", page.file)))?;
            seen.push((k.clone(), k.clone()));
        }
    }
    Ok(seen)
}

/// The type the values at `path` suggest: integers and reals make real; any other mix, text.
fn infer_type(pages: &[(&Page, &[Json])], path: &str) -> Option<ColumnType> {
    let mut inferred: Option<ColumnType> = None;
    for (page, recs) in pages {
        for r in *recs {
            let t = field(r, &page.doc, path).and_then(ColumnType::infer_json);
            inferred = match (inferred, t) {
                (None, t) | (t, None) => t,
                (Some(a), Some(b)) if a == b => Some(a),
                (Some(ColumnType::Integer), Some(ColumnType::Real))
                | (Some(ColumnType::Real), Some(ColumnType::Integer)) => Some(ColumnType::Real),
                _ => Some(ColumnType::Text),
            };
        }
    }
    inferred
}

/// The columns of a json entity before it is collected: the mapped ones; their types are the
/// declared ones, else unknown until collected.
pub(super) fn declared(fe: &FileEntity) -> Declared {
    let names: Vec<&str> = fe
        .columns
        .iter()
        .flatten()
        .map(|(n, _)| n.as_str())
        .collect();
    Declared {
        columns: fe.entity.declared_columns(names.iter().copied()),
        untyped: names
            .iter()
            .filter(|n| fe.entity.declared_type(n).is_none())
            .map(|n| n.to_string())
            .collect(),
    }
}

/// Reads one json entity (one file or a glob of pages) into its snapshot.
pub(super) fn collect_entity(
    fe: &FileEntity,
    source: &str,
    cx: &Context<'_>,
    out: &mut SnapshotWriter<'_>,
) -> Result<()> {
    let entity = &fe.entity;
    let pattern = fe.path(source, cx)?;
    let pages = read_pages(&pattern)?;
    check_complete(&pages)?;
    let record_path = fe.records.as_deref();
    // Each page with its records, found once.
    let pages: Vec<(&Page, &[Json])> = pages
        .iter()
        .map(|p| Ok((p, records(p, record_path)?)))
        .collect::<Result<_>>()?;
    let label = format!("{source}.{} ({pattern})", entity.name);
    let recorded = out.recorded_columns(&entity.name)?;
    let mapping = match &fe.columns {
        Some(map) => map.clone(),
        None if pages.iter().all(|(_, recs)| recs.is_empty()) => {
            // No record to show the fields: the columns are those recorded before, else the
            // ones the config names (an empty export is a real state, not a broken one).
            let mut names: Vec<&str> = recorded.iter().map(|c| c.name.as_str()).collect();
            if names.is_empty() {
                let declared = entity.key.iter().chain(entity.types.iter().map(|(c, _)| c));
                for c in declared {
                    if !names.contains(&c.as_str()) {
                        names.push(c);
                    }
                }
            }
            names
                .iter()
                .map(|n| (n.to_string(), n.to_string()))
                .collect()
        }
        None => top_level_fields(&pages)?,
    };
    let names: Vec<String> = mapping.iter().map(|(n, _)| n.clone()).collect();
    entity.check_declared(&label, &names)?;
    let columns: Vec<Column> = mapping
        .iter()
        .map(|(name, path)| {
            let ty = entity.column_type(&recorded, name, || infer_type(&pages, path));
            Column::new(name.clone(), ty)
        })
        .collect();
    out.write_entity(&entity.name, &entity.key, &columns, |sink| {
        let mut values = Vec::with_capacity(columns.len());
        let mut number = 0u64;
        sink.reserve(pages.iter().map(|(_, recs)| recs.len()).sum());
        for (page, recs) in &pages {
            for (i, r) in recs.iter().enumerate() {
                number += 1;
                if !r.is_object() {
                    return Err(Error::input(format!(
                        "{}: record {}: expected an object, found {r}",
                        page.file,
                        i + 1
                    )));
                }
                values.clear();
                for (column, (_, path)) in columns.iter().zip(&mapping) {
                    let raw = field(r, &page.doc, path).unwrap_or(&Json::Null);
                    let v = column.ty.from_json(raw).map_err(|m| {
                        Error::input(format!(
                            "{}: record {}, field `{}` (`{path}`): {m}",
                            page.file,
                            i + 1,
                            column.name
                        ))
                    })?;
                    values.push(v);
                }
                sink.row(&values, number)?;
            }
        }
        Ok(())
    })
}
