//! Rendering results: one `Grid` (headers and typed cells) written as a table (comfy-table),
//! CSV (RFC 4180), JSON (an array of objects), Markdown or an HTML table; `RowWriter` for rows streamed one at
//! a time (exports). Every command that prints rows goes through here, so the formats agree
//! everywhere.

mod rows;

pub use rows::RowWriter;

use serde_json::Value as Json;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Md,
    Html,
}

#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Json>>,
}

/// The text of a cell: strings without quotes, NULL empty.
pub fn cell_text(v: &Json) -> String {
    match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A progress bar on standard error for `len` steps of `what`, on a terminal only: pipes and cron
/// get none.
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) || len < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_message(what.to_string());
    bar
}

/// Text as HTML shows it: `&`, `<`, `>` and `"` escaped.
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How CSV is written for spreadsheets, set once by the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvOptions {
    /// Start with a UTF-8 byte-order mark, so that a double-clicked file shows non-ASCII names
    /// in Excel (which otherwise reads CSV in the machine's legacy code page).
    pub bom: bool,
    /// Write text cells as they are, even those a spreadsheet would run as a formula.
    pub raw: bool,
}

static CSV_OPTIONS: std::sync::OnceLock<CsvOptions> = std::sync::OnceLock::new();

/// Sets how this process writes CSV (once; later calls are ignored).
pub fn set_csv_options(o: CsvOptions) {
    let _ = CSV_OPTIONS.set(o);
}

fn csv_options() -> CsvOptions {
    CSV_OPTIONS.get().copied().unwrap_or_default()
}

/// A text cell as CSV holds it: one that begins with `=`, `+`, `-`, `@`, a tab or a carriage
/// return would run as a formula when a spreadsheet opens the file (a display name such as
/// `=HYPERLINK(…)` from a platform), so it gets a leading `'`, which spreadsheets show as
/// text and hide (OWASP's advice). Numbers are never changed; `--csv-raw` keeps text as is.
pub fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !csv_options().raw && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Starts a CSV output: the byte-order mark when asked for.
fn csv_start(out: &mut dyn Write) -> io::Result<()> {
    if csv_options().bom {
        out.write_all("\u{feff}".as_bytes())?;
    }
    Ok(())
}

/// A CSV error as the I/O error it is (keeping its kind: a closed pipe stays a closed pipe).
fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("csv: {other:?}")),
    }
}

/// The text of a cell as a terminal or a Markdown reader is shown it: control characters
/// (ESC, CR, …, which data such as a guest's display name may hold) are escaped as `\u{1b}`,
/// `\r`, so that no value can move the cursor, rewrite a line or change colours. A line break
/// stays one in a table.
fn shown_text(v: &Json) -> String {
    terminal_text(&cell_text(v))
}

/// `text` with its control characters escaped but line breaks kept (see `shown_text`).
pub fn terminal_text(text: &str) -> String {
    let text = text.to_string();
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A grid's CSV written a row at a time, for rows too many to hold: the header row, then each
/// row as `Grid` writes it.
pub struct CsvRows<'w> {
    w: csv::Writer<&'w mut dyn Write>,
}

impl<'w> CsvRows<'w> {
    pub fn new(headers: &[String], out: &'w mut dyn Write) -> io::Result<CsvRows<'w>> {
        csv_start(out)?;
        let mut w = csv::Writer::from_writer(out);
        w.write_record(headers).map_err(csv_io)?;
        Ok(CsvRows { w })
    }

    pub fn row(&mut self, row: &[Json]) -> io::Result<()> {
        self.w
            .write_record(row.iter().map(|v| match v {
                Json::String(s) => csv_text(s).into_owned(),
                other => cell_text(other),
            }))
            .map_err(csv_io)
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl Grid {
    pub fn new(headers: &[&str]) -> Grid {
        Grid {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// The grid with only the columns named, in that order.
    pub fn only(&self, names: &[&str]) -> Grid {
        let at: Vec<usize> = names
            .iter()
            .filter_map(|n| self.headers.iter().position(|h| h == n))
            .collect();
        Grid {
            headers: at.iter().map(|&i| self.headers[i].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| at.iter().map(|&i| r[i].clone()).collect())
                .collect(),
        }
    }

    pub fn push(&mut self, row: Vec<Json>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    pub fn to_json(&self) -> Json {
        Json::Array(
            self.rows
                .iter()
                .map(|r| {
                    Json::Object(
                        self.headers
                            .iter()
                            .cloned()
                            .zip(r.iter().cloned())
                            .collect(),
                    )
                })
                .collect(),
        )
    }

    pub fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Table => self.write_table(out),
            Format::Html => self.write_html(out),
            Format::Csv => self.write_csv(out),
            Format::Json => {
                serde_json::to_writer_pretty(&mut *out, &self.to_json())?;
                writeln!(out)
            }
            Format::Md => self.write_markdown(out),
        }
    }

    fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(self.headers.iter());
        for r in &self.rows {
            table.add_row(r.iter().map(shown_text));
        }
        for (i, _) in self.headers.iter().enumerate() {
            if self.rows.iter().all(|r| r[i].is_number() || r[i].is_null()) && !self.rows.is_empty()
            {
                if let Some(c) = table.column_mut(i) {
                    c.set_cell_alignment(comfy_table::CellAlignment::Right);
                }
            }
        }
        writeln!(out, "{table}")
    }

    fn write_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut w = CsvRows::new(&self.headers, out)?;
        for r in &self.rows {
            w.row(r)?;
        }
        w.finish()
    }

    /// An HTML table, every cell escaped.
    fn write_html(&self, out: &mut dyn Write) -> io::Result<()> {
        let esc = escape_html;
        write!(out, "<table>\n<tr>")?;
        for h in &self.headers {
            write!(out, "<th>{}</th>", esc(h))?;
        }
        writeln!(out, "</tr>")?;
        for r in &self.rows {
            write!(out, "<tr>")?;
            for c in r {
                write!(out, "<td>{}</td>", esc(&cell_text(c)))?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</table>")
    }

    fn write_markdown(&self, out: &mut dyn Write) -> io::Result<()> {
        let esc = |s: String| s.replace('|', "\\|").replace('\n', " ");
        writeln!(
            out,
            "| {} |",
            self.headers
                .iter()
                .cloned()
                .map(esc)
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
        writeln!(out, "|{}", "---|".repeat(self.headers.len()))?;
        for r in &self.rows {
            writeln!(
                out,
                "| {} |",
                r.iter()
                    .map(|v| esc(shown_text(v)))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terminal_escapes_from_data_are_shown_escaped_in_tables_and_markdown_but_kept_in_csv() {
        let mut g = Grid::new(&["name"]);
        g.push(vec![json!("Eve\u{1b}[2J\rAdmin\u{7}")]);
        for format in [Format::Table, Format::Md] {
            let mut out = Vec::new();
            g.write(format, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                !text.contains(['\u{1b}', '\r', '\u{7}']),
                "{format:?}: {text:?}"
            );
            assert!(text.contains("Eve\\u{1b}[2J\\rAdmin\\u{7}"), "{text}");
        }
        let mut out = Vec::new();
        g.write(Format::Csv, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Eve\u{1b}[2J\rAdmin\u{7}"));
    }
}
