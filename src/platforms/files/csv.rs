//! The `csv` source: one file per entity, a header row, every header column collected (as text
//! unless typed), or only the columns mapped with `columns = { name = "Header" }`.

use super::FileEntity;
use crate::error::{Error, Result};
use crate::platforms::{Context, Declared};
use crate::store::{Column, SnapshotWriter};
use std::fs::File;
use std::io::BufReader;

/// How many records are read before the number of the rest is estimated from the file size.
const SAMPLE_RECORDS: u64 = 256;

/// An open CSV file: its reader, its header (trimmed, without a byte-order mark) and its size.
/// The one way driftwatch reads CSV.
struct CsvFile {
    reader: ::csv::Reader<BufReader<File>>,
    headers: Vec<String>,
    len: u64,
}

fn csv_error(path: &str) -> impl Fn(::csv::Error) -> Error + '_ {
    move |e| match e.kind() {
        ::csv::ErrorKind::Io(_) => Error::runtime(format!("{path}: {e}")),
        _ => Error::input(format!("{path}: {e}")),
    }
}

fn open(path: &str) -> Result<CsvFile> {
    let file = File::open(path).map_err(|e| Error::input(format!("{path}: {e}")))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader =
        ::csv::ReaderBuilder::new().from_reader(BufReader::with_capacity(1 << 16, file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_error(path))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(Error::input(format!("{path}: no header row")));
    }
    Ok(CsvFile {
        reader,
        headers,
        len,
    })
}

/// The columns of a csv entity before it is collected: the file's header with the mapped names
/// (when the file is there to read), else the mapped ones.
pub(super) fn declared(fe: &FileEntity, source: &str, cx: &Context<'_>) -> Declared {
    let read = fe.path(source, cx).and_then(|p| {
        let headers = open(&p)?.headers;
        named_columns(&p, &headers, fe.columns.as_deref())
    });
    let names: Vec<String> = match (read, &fe.columns) {
        (Ok(named), _) => named.into_iter().map(|(n, _)| n).collect(),
        // The file is not there yet: at least the mapped columns are known.
        (Err(_), Some(cols)) => cols.iter().map(|(n, _)| n.clone()).collect(),
        (Err(_), None) => Vec::new(),
    };
    Declared {
        columns: fe.entity.declared_columns(names.iter().map(String::as_str)),
        untyped: Vec::new(),
    }
}

/// Every column of the file, in its order, with the index of its field: each under its header,
/// or the name `columns` maps its header to (`columns = { first_name = "First Name" }` renames
/// that one and keeps the others). A mapped header the file does not have is an error.
fn named_columns(
    path: &str,
    headers: &[String],
    columns: Option<&[(String, String)]>,
) -> Result<Vec<(String, usize)>> {
    let columns = columns.unwrap_or_default();
    for (_, header) in columns {
        if !headers.contains(header) {
            let hint = crate::text::nearest(header, headers.iter().map(String::as_str))
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_else(|| format!(" (header: {})", headers.join(", ")));
            return Err(Error::input(format!(
                "{path}: no column `{header}` in the header{hint}"
            )));
        }
    }
    Ok(headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = columns
                .iter()
                .find(|(_, from)| from == h)
                .map_or(h, |(n, _)| n);
            (name.clone(), i)
        })
        .collect())
}

/// Reads one csv entity into its snapshot.
pub(super) fn collect_entity(
    fe: &FileEntity,
    source: &str,
    cx: &Context<'_>,
    out: &mut SnapshotWriter<'_>,
) -> Result<()> {
    let entity = &fe.entity;
    let path = fe.path(source, cx)?;
    let CsvFile {
        mut reader,
        headers,
        len: file_len,
    } = open(&path)?;
    let csv_error = csv_error(&path);
    // (output name, index of the field in a record)
    let wanted = named_columns(&path, &headers, fe.columns.as_deref())?;
    let label = format!("{source}.{} ({path})", entity.name);
    let names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
    entity.check_declared(&label, &names)?;
    let recorded = out.recorded_columns(&entity.name)?;
    let columns: Vec<Column> = names
        .iter()
        .map(|n| Column::new(n.clone(), entity.column_type(&recorded, n, || None)))
        .collect();

    out.write_entity(&entity.name, &entity.key, &columns, |rows| {
        let mut record = ::csv::StringRecord::new();
        let mut values = Vec::with_capacity(columns.len());
        let mut number = 0u64;
        let mut last = None;
        while reader.read_record(&mut record).map_err(&csv_error)? {
            number += 1;
            last = record.position().cloned();
            values.clear();
            for (column, (_, field)) in columns.iter().zip(&wanted) {
                let text = record.get(*field).unwrap_or("");
                let value = column.ty.from_text(text).map_err(|m| {
                    let line = record.position().map(|p| p.line()).unwrap_or(0);
                    Error::input(format!(
                        "{path}:{line}: record {number}, field `{}`: {m}",
                        column.name
                    ))
                })?;
                values.push(value);
            }
            rows.row(&values, number)?;
            if number == SAMPLE_RECORDS {
                // Estimate the rest from the bytes the first records took.
                let per_record = record.position().map_or(0, |p| p.byte()) / SAMPLE_RECORDS;
                rows.reserve((file_len / per_record.max(1)) as usize);
            }
        }
        // A quote that never closes runs to the end of the file, so it can only be in the last
        // record, which then holds every row after it in one field.
        if let Some(at) = last.filter(|at| quote_left_open(&path, at.byte()).unwrap_or(false)) {
            return Err(Error::input(format!(
                "{path}:{}: record {number}: a quoted field is never closed (it runs to the end of the file, taking every row after it)",
                at.line()
            )));
        }
        Ok(())
    })
}

/// Whether the CSV text from byte `start` (the start of a record) to the end of the file ends
/// inside a quoted field. A quote opens a field only at its start; inside, `""` is a quote.
fn quote_left_open(path: &str, start: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let (mut quoted, mut field_start) = (false, true);
    let mut bytes = tail.iter().peekable();
    while let Some(&b) = bytes.next() {
        match (quoted, b) {
            (false, b'"') if field_start => quoted = true,
            (true, b'"') if bytes.peek() == Some(&&b'"') => {
                bytes.next();
            }
            (true, b'"') => quoted = false,
            _ => {}
        }
        field_start = !quoted && matches!(b, b',' | b'\n' | b'\r');
    }
    Ok(quoted)
}
