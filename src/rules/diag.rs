//! Diagnostics for rule files, shown as `file:line:col`, the source line, a caret under the bad
//! token and a hint:
//!
//! ```text
//! error: unknown field `emial` on ssot.members
//!   --> queries/lms.rules:12:11
//!    |
//! 12 |   where m.emial = 'x'
//!    |           ^^^^^
//!    = hint: did you mean `email`?
//! ```

use super::ast::Span;
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Span,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    pub fn hint(self, hint: impl Into<String>) -> Diagnostic {
        self.with_hint(Some(hint.into()))
    }

    /// 1-based line and column (in characters) of the span's start in `src`.
    pub fn line_col(&self, src: &str) -> (usize, usize) {
        let at = floor_char_boundary(src, self.span.start.min(src.len()));
        let before = &src[..at];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        (line, src[line_start..at].chars().count() + 1)
    }

    /// The report for this diagnostic in the file `name` whose text is `src`.
    pub fn render(&self, name: &str, src: &str) -> String {
        let (line, col) = self.line_col(src);
        let at = floor_char_boundary(src, self.span.start.min(src.len()));
        let line_start = src[..at].rfind('\n').map_or(0, |n| n + 1);
        let line_end = src[at..].find('\n').map_or(src.len(), |n| at + n);
        let text = src[line_start..line_end].trim_end_matches('\r');
        let end = floor_char_boundary(src, self.span.end.clamp(at, line_end));
        let width = src[at..end].chars().count().max(1);
        let pad = src[line_start..at]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect::<String>();
        let gutter = " ".repeat(line.to_string().len());
        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.message);
        let _ = writeln!(out, "{gutter}--> {name}:{line}:{col}");
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{line} | {text}");
        let _ = writeln!(out, "{gutter} | {pad}{}", "^".repeat(width));
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "{gutter} = hint: {h}");
        }
        out
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The diagnostics of one file, rendered one after the other.
pub fn render_all(name: &str, src: &str, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render(name, src));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_token_on_its_line() {
        let src = "rule r {\n  where m.emial = 'x'\n}\n";
        let start = src.find("emial").unwrap();
        let d = Diagnostic::new("unknown field", Span::new(start, start + 5))
            .hint("did you mean `email`?");
        let text = d.render("f.rules", src);
        assert_eq!(
            text,
            "error: unknown field\n --> f.rules:2:11\n  |\n2 |   where m.emial = 'x'\n  |           ^^^^^\n  = hint: did you mean `email`?\n"
        );
    }
}
