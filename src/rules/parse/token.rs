//! Tokens of the rule language and the parser's error type: whitespace and comments,
//! keywords, symbols, names, strings, numbers and durations, and `alias in source.entity`.

use super::super::ast::*;
use nom::combinator::cut;
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

/// A parse error: where, what was expected there, and possibly a hint.
#[derive(Debug, Clone)]
pub struct PErr<'a> {
    pub(super) at: &'a str,
    pub(super) expected: Vec<String>,
    pub(super) hint: Option<String>,
    /// Said instead of "expected …, found …" where that reads badly.
    pub(super) message: Option<String>,
}

impl<'a> PErr<'a> {
    pub(super) fn new(at: &'a str, expected: impl Into<String>) -> PErr<'a> {
        PErr {
            at,
            expected: vec![expected.into()],
            hint: None,
            message: None,
        }
    }
    pub(super) fn message(mut self, message: impl Into<String>) -> PErr<'a> {
        self.message = Some(message.into());
        self
    }
    pub(super) fn hint(mut self, hint: impl Into<String>) -> PErr<'a> {
        self.hint = Some(hint.into());
        self
    }
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        PErr::new(input, format!("{kind:?}").to_lowercase())
    }
    fn append(_: &'a str, _: ErrorKind, other: Self) -> Self {
        other
    }
    /// The alternative that got further wins; at the same place, the expectations merge.
    fn or(mut self, other: Self) -> Self {
        match self.at.len().cmp(&other.at.len()) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => {
                for e in other.expected {
                    if !self.expected.contains(&e) {
                        self.expected.push(e);
                    }
                }
                self.hint = self.hint.or(other.hint);
                self
            }
        }
    }
}

pub(super) type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

pub(super) fn fail<'a, T>(at: &'a str, expected: impl Into<String>) -> Res<'a, T> {
    Err(nom::Err::Error(PErr::new(at, expected)))
}

/// Words that cannot be aliases: they would make expressions ambiguous.
pub(super) const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "is", "null", "like", "exists", "true", "false", "where",
];

pub(super) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
pub(super) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Skips whitespace and `#` comments.
pub(super) fn ws(mut i: &str) -> &str {
    loop {
        let t = i.trim_start();
        if let Some(rest) = t.strip_prefix('#') {
            // The end is a slice of the text too: positions are offsets into it.
            i = &rest[rest.find('\n').unwrap_or(rest.len())..];
        } else {
            return t;
        }
    }
}

/// The text of the token at `i`, for error spans: a word, a number, a quoted string, or one
/// character.
pub(super) fn token_len(i: &str) -> usize {
    let mut chars = i.char_indices();
    match chars.next() {
        None => 0,
        Some((_, c)) if is_ident_char(c) => i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len()),
        Some((_, q)) if q == '\'' || q == '"' => {
            let line = &i[1..i.find('\n').unwrap_or(i.len())];
            line.find(q).map_or(line.len() + 1, |n| n + 2)
        }
        Some((_, c)) => c.len_utf8(),
    }
}

/// How deep expressions may nest (parentheses, `not`, unary `-`, subqueries) while they are
/// parsed: deeper input is refused with its position instead of exhausting the stack.
pub(super) const MAX_NESTING: usize = 32;

/// How deep an expression's tree may be: past this, SQLite cannot run what it compiles to
/// (its limit is 1,000 levels, and compiling adds some). A long `and` or `or` chain is built
/// balanced, so it counts only the logarithm of its length.
pub(super) const MAX_DEPTH: usize = 100;

/// A parser over one file's text.
pub(super) struct P<'a> {
    pub(super) src: &'a str,
    /// How deep the parse is nested now.
    pub(super) nesting: std::cell::Cell<usize>,
}

/// One level of nesting, given back when dropped.
pub(super) struct Nested<'p>(&'p std::cell::Cell<usize>);

impl Drop for Nested<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl<'a> P<'a> {
    pub(super) fn new(src: &'a str) -> P<'a> {
        P {
            src,
            nesting: std::cell::Cell::new(0),
        }
    }

    /// Enters one level of nesting at `at`; more than [`MAX_NESTING`] is an error there.
    pub(super) fn nest(&self, at: &'a str) -> Result<Nested<'_>, nom::Err<PErr<'a>>> {
        let level = self.nesting.get() + 1;
        if level > MAX_NESTING {
            return Err(nom::Err::Failure(
                PErr::new(ws(at), "a shallower expression")
                    .message(format!(
                        "expressions nest more than {MAX_NESTING} levels deep here"
                    ))
                    .hint("split the rule, or name parts of it in separate rules"),
            ));
        }
        self.nesting.set(level);
        Ok(Nested(&self.nesting))
    }

    pub(super) fn off(&self, i: &'a str) -> usize {
        i.as_ptr() as usize - self.src.as_ptr() as usize
    }

    pub(super) fn span(&self, from: &'a str, to: &'a str) -> Span {
        Span::new(self.off(from), self.off(to))
    }

    /// A keyword, case-insensitive, not followed by an identifier character.
    pub(super) fn kw(&self, word: &'static str) -> impl Fn(&'a str) -> Res<'a, Span> + '_ {
        move |i: &'a str| {
            let i = ws(i);
            let n = word.len();
            if i.len() >= n
                && i.is_char_boundary(n)
                && i[..n].eq_ignore_ascii_case(word)
                && !i[n..].starts_with(is_ident_char)
            {
                Ok((&i[n..], Span::new(self.off(i), self.off(i) + n)))
            } else {
                fail(i, format!("`{word}`"))
            }
        }
    }

    pub(super) fn sym(&self, s: &'static str) -> impl Fn(&'a str) -> Res<'a, Span> + '_ {
        move |i: &'a str| {
            let i = ws(i);
            match i.strip_prefix(s) {
                Some(rest) => Ok((rest, Span::new(self.off(i), self.off(rest)))),
                None => fail(i, format!("`{s}`")),
            }
        }
    }

    pub(super) fn word(&self, i: &'a str) -> Res<'a, Ident> {
        let i = ws(i);
        if !i.starts_with(is_ident_start) {
            return fail(i, "a name");
        }
        let n = i.find(|c: char| !is_ident_char(c)).unwrap_or(i.len());
        let (name, rest) = i.split_at(n);
        Ok((
            rest,
            Ident {
                name: name.to_string(),
                span: self.span(i, rest),
            },
        ))
    }

    /// A name that can be an alias: not a reserved word.
    pub(super) fn alias(&self, i: &'a str) -> Res<'a, Ident> {
        let (rest, id) = self.word(i)?;
        if RESERVED.contains(&id.name.to_ascii_lowercase().as_str()) {
            return Err(nom::Err::Error(PErr::new(ws(i), "a name").hint(format!(
                "`{}` is a keyword and cannot name an alias",
                id.name
            ))));
        }
        Ok((rest, id))
    }

    pub(super) fn string(&self, i: &'a str) -> Res<'a, (String, Span)> {
        let start = ws(i);
        let Some(quote) = start.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            return fail(start, "a string");
        };
        let mut out = String::new();
        let mut chars = start[1..].char_indices();
        while let Some((n, c)) = chars.next() {
            if c == '\n' {
                break; // a string ends on its line: a missing quote is reported where it opens
            }
            if c == quote {
                // `''` inside a single-quoted string is one quote.
                if quote == '\'' && start[1 + n + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                let rest = &start[1 + n + 1..];
                return Ok((rest, (out, self.span(start, rest))));
            }
            if c == '\\' && quote == '"' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    Some((m, other)) => {
                        let at = &start[1 + m..];
                        return Err(nom::Err::Failure(
                            PErr::new(at, "an escape: \\\" \\\\ \\n or \\t").hint(format!(
                                "`\\{other}` is not an escape; write `\\\\{other}` for a backslash"
                            )),
                        ));
                    }
                    None => break,
                }
                continue;
            }
            out.push(c);
        }
        Err(nom::Err::Failure(
            PErr::new(start, "a closing quote")
                .message("unterminated string")
                .hint(format!(
                    "this string is not closed on its line: add `{quote}`"
                )),
        ))
    }

    /// A number, or a duration when a unit (`m`, `h`, `d`, `w`) follows it directly.
    pub(super) fn number(&self, i: &'a str) -> Res<'a, (Literal, Span)> {
        let start = ws(i);
        let digits = start
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(start.len());
        if digits == 0 {
            return fail(start, "a number");
        }
        let mut end = digits;
        let mut real = false;
        if start[end..].starts_with('.')
            && start[end + 1..].starts_with(|c: char| c.is_ascii_digit())
        {
            real = true;
            end += 1 + start[end + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(start.len() - end - 1);
        }
        let text = &start[..end];
        let after = &start[end..];
        let unit_len = after
            .find(|c: char| !is_ident_char(c))
            .unwrap_or(after.len());
        let too_big =
            || nom::Err::Failure(PErr::new(start, "a smaller number").hint("numbers are 64-bit"));
        if unit_len > 0 {
            let unit = &after[..unit_len];
            let secs = match unit {
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                "w" => 604_800,
                _ => {
                    return Err(nom::Err::Failure(
                        PErr::new(after, "a duration unit").hint(format!(
                            "`{unit}` is not a unit: write m (minutes), h (hours), d (days) or w (weeks)"
                        )),
                    ))
                }
            };
            if real {
                return Err(nom::Err::Failure(
                    PErr::new(start, "a whole number of units").hint("write 90m rather than 1.5h"),
                ));
            }
            let n: i64 = text.parse().map_err(|_| too_big())?;
            let rest = &after[unit_len..];
            let secs = n.checked_mul(secs).ok_or_else(too_big)?;
            return Ok((rest, (Literal::Duration(secs), self.span(start, rest))));
        }
        let lit = if real {
            Literal::Real(text.parse().map_err(|_| too_big())?)
        } else {
            Literal::Integer(text.parse().map_err(|_| too_big())?)
        };
        Ok((after, (lit, self.span(start, after))))
    }

    pub(super) fn binding(&self, i: &'a str) -> Res<'a, Binding> {
        let (i, alias) = self.alias(i)?;
        let (i, _) = self.kw("in")(i)?;
        let (i, source) = cut(|i| self.word(i)).parse(i)?;
        let (i, _) = cut(self.sym(".")).parse(i).map_err(|e| {
            e.map(|e| e.hint("a binding names `source.entity`, such as ssot.members"))
        })?;
        let (i, entity) = cut(|i| self.word(i)).parse(i)?;
        Ok((
            i,
            Binding {
                alias,
                source,
                entity,
            },
        ))
    }
}
