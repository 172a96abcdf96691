//! The `csv` source: one file per entity, a header row, every header column collected (as text
//! unless typed), or only the columns mapped with `columns = { name = "Header" }`.

use super::{check_declared_columns, column_type, Collector, Context};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::store::{Column, SnapshotWriter};
use std::fs::File;
use std::io::BufReader;

/// How many records are read before the number of the rest is estimated from the file size.
const SAMPLE_RECORDS: u64 = 256;

pub struct CsvCollector<'a> {
    pub cx: &'a Context<'a>,
}

impl Collector for CsvCollector<'_> {
    fn collect(&self, source: &SourceConfig, out: &mut SnapshotWriter<'_>) -> Result<()> {
        for entity in &source.entities {
            let path = entity
                .path(&source.name, self.cx.config, self.cx.vars)?
                .expect("checked when the config loaded");
            let file = File::open(&path).map_err(|e| Error::input(format!("{path}: {e}")))?;
            let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let mut reader =
                ::csv::ReaderBuilder::new().from_reader(BufReader::with_capacity(1 << 16, file));
            let csv_error = |e: ::csv::Error| match e.kind() {
                ::csv::ErrorKind::Io(_) => Error::runtime(format!("{path}: {e}")),
                _ => Error::input(format!("{path}: {e}")),
            };
            let headers: Vec<String> = reader
                .headers()
                .map_err(csv_error)?
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
                .collect();
            if headers.iter().all(String::is_empty) {
                return Err(Error::input(format!("{path}: no header row")));
            }
            // (output name, index of the field in a record)
            let wanted: Vec<(String, usize)> = match &entity.columns {
                None => headers
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, h)| (h, i))
                    .collect(),
                Some(map) => map
                    .iter()
                    .map(
                        |(name, header)| match headers.iter().position(|h| h == header) {
                            Some(i) => Ok((name.clone(), i)),
                            None => {
                                let hint = crate::text::nearest(
                                    header,
                                    headers.iter().map(String::as_str),
                                )
                                .map(|n| format!("; did you mean `{n}`?"))
                                .unwrap_or_else(|| format!(" (header: {})", headers.join(", ")));
                                Err(Error::input(format!(
                                    "{path}: no column `{header}` in the header{hint}"
                                )))
                            }
                        },
                    )
                    .collect::<Result<_>>()?,
            };
            let label = format!("{}.{} ({path})", source.name, entity.name);
            let names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
            check_declared_columns(&label, entity, &names)?;
            let recorded = out.recorded_columns(&entity.name)?;
            let columns: Vec<Column> = names
                .iter()
                .map(|n| Column::new(n.clone(), column_type(entity, &recorded, n, || None)))
                .collect();

            out.write_entity(&entity.name, &entity.key, &columns, |rows| {
                let mut record = ::csv::StringRecord::new();
                let mut values = Vec::with_capacity(columns.len());
                let mut number = 0u64;
                while reader.read_record(&mut record).map_err(csv_error)? {
                    number += 1;
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
                Ok(())
            })?;
        }
        Ok(())
    }
}
