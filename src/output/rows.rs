//! Rows written one at a time, for entities too large to hold (`export`): CSV (RFC 4180, a
//! header row) or JSON (an array of objects), the same formats a `Grid` writes.

use crate::value::{ColumnType, Value};
use serde_json::Value as Json;
use std::io::{self, Write};

enum Sink<'w> {
    Csv(Box<csv::Writer<&'w mut dyn Write>>, csv::ByteRecord),
    Json { out: &'w mut dyn Write, first: bool },
}

/// A writer of typed rows under `columns`.
pub struct RowWriter<'w> {
    columns: Vec<(String, ColumnType)>,
    sink: Sink<'w>,
}

impl<'w> RowWriter<'w> {
    /// CSV, its header written at once.
    pub fn csv(columns: Vec<(String, ColumnType)>, out: &'w mut dyn Write) -> io::Result<Self> {
        super::csv_start(out)?;
        let mut w = csv::Writer::from_writer(out);
        w.write_record(columns.iter().map(|(n, _)| n))
            .map_err(super::csv_io)?;
        Ok(RowWriter {
            columns,
            sink: Sink::Csv(Box::new(w), csv::ByteRecord::new()),
        })
    }

    /// A JSON array of objects, one per row.
    pub fn json(columns: Vec<(String, ColumnType)>, out: &'w mut dyn Write) -> io::Result<Self> {
        writeln!(out, "[")?;
        Ok(RowWriter {
            columns,
            sink: Sink::Json { out, first: true },
        })
    }

    /// Writes one row, its values in column order.
    pub fn row(&mut self, values: &[Value]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(w, record) => {
                record.clear();
                for (v, (_, ty)) in values.iter().zip(&self.columns) {
                    let text = v.render(*ty);
                    match (ty, v) {
                        (ColumnType::Text, Value::Text(_)) => {
                            record.push_field(super::csv_text(&text).as_bytes())
                        }
                        _ => record.push_field(text.as_bytes()),
                    }
                }
                w.write_byte_record(record).map_err(super::csv_io)?;
            }
            Sink::Json { out, first } => {
                let obj: serde_json::Map<String, Json> = self
                    .columns
                    .iter()
                    .zip(values)
                    .map(|((name, ty), v)| (name.clone(), v.to_json(*ty)))
                    .collect();
                write!(
                    out,
                    "{}  {}",
                    if *first { "" } else { ",\n" },
                    Json::Object(obj)
                )?;
                *first = false;
            }
        }
        Ok(())
    }

    /// Ends the output (closes the JSON array) and flushes it.
    pub fn finish(self) -> io::Result<()> {
        match self.sink {
            Sink::Csv(mut w, _) => w.flush(),
            Sink::Json { out, first } => writeln!(out, "{}]", if first { "" } else { "\n" }),
        }
    }
}
