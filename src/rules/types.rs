//! The types of rule expressions and the functions a rule may call.

use crate::value::ColumnType;

/// The type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    Integer,
    Real,
    Bool,
    Timestamp,
    Duration,
    /// `null`: fits anywhere.
    Null,
    /// Unknown after an error: fits anywhere, so one mistake is reported once.
    Any,
}

impl Ty {
    pub fn from_column(t: ColumnType) -> Ty {
        match t {
            ColumnType::Text => Ty::Text,
            ColumnType::Integer => Ty::Integer,
            ColumnType::Real => Ty::Real,
            ColumnType::Bool => Ty::Bool,
            ColumnType::Timestamp => Ty::Timestamp,
        }
    }

    /// How values of this type are rendered in output.
    pub fn column_type(self) -> ColumnType {
        match self {
            Ty::Integer | Ty::Duration => ColumnType::Integer,
            Ty::Real => ColumnType::Real,
            Ty::Bool => ColumnType::Bool,
            Ty::Timestamp => ColumnType::Timestamp,
            Ty::Text | Ty::Null | Ty::Any => ColumnType::Text,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Ty::Text => "text",
            Ty::Integer => "integer",
            Ty::Real => "real",
            Ty::Bool => "bool",
            Ty::Timestamp => "timestamp",
            Ty::Duration => "duration",
            Ty::Null => "null",
            Ty::Any => "any",
        }
    }

    pub(super) fn loose(self) -> bool {
        matches!(self, Ty::Null | Ty::Any)
    }
    pub(super) fn numeric(self) -> bool {
        matches!(self, Ty::Integer | Ty::Real) || self.loose()
    }
    pub(super) fn textual(self) -> bool {
        matches!(self, Ty::Text | Ty::Timestamp) || self.loose()
    }
    pub(super) fn boolean(self) -> bool {
        self == Ty::Bool || self.loose()
    }

    /// Whether values of the two types can be compared: numbers with numbers, text with text
    /// (a timestamp is ISO-8601 text), bools with bools.
    pub(super) fn comparable(self, other: Ty) -> bool {
        self.loose()
            || other.loose()
            || (self.numeric() && other.numeric())
            || (self.textual() && other.textual())
            || self == other
    }
}

/// The functions a rule may call: (name, least args, most args, aggregate).
pub const FUNCTIONS: &[(&str, usize, usize, bool)] = &[
    ("lower", 1, 1, false),
    ("upper", 1, 1, false),
    ("trim", 1, 1, false),
    ("coalesce", 1, usize::MAX, false),
    ("length", 1, 1, false),
    ("contains", 2, 2, false),
    ("days_between", 2, 2, false),
    ("now", 0, 0, false),
    ("bitand", 2, 2, false),
    ("min", 1, 1, true),
    ("max", 1, 1, true),
    ("sum", 1, 1, true),
];
