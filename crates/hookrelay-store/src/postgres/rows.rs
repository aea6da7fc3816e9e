//! How PostgreSQL reads a cell (booleans are `BOOLEAN`, counts `INTEGER`,
//! other numbers `BIGINT`), and text helpers of its own; the records
//! themselves are decoded in `crate::rows`.

use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use crate::rows::{bad_cell, Cells, R};

/// Column `i` of `row`, or a corrupt-record error naming it.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> R<T> {
    row.try_get(i).map_err(|e| {
        let name = row.columns().get(i).map_or("?", |c| c.name());
        bad_cell(name, e)
    })
}

impl Cells for Row {
    fn text(&self, i: usize) -> R<String> {
        col(self, i)
    }
    fn opt_text(&self, i: usize) -> R<Option<String>> {
        col(self, i)
    }
    fn int(&self, i: usize) -> R<i64> {
        col(self, i)
    }
    fn opt_int(&self, i: usize) -> R<Option<i64>> {
        col(self, i)
    }
    fn int4(&self, i: usize) -> R<i64> {
        col::<i32>(self, i).map(i64::from)
    }
    fn opt_int4(&self, i: usize) -> R<Option<i64>> {
        Ok(col::<Option<i32>>(self, i)?.map(i64::from))
    }
    fn flag(&self, i: usize) -> R<bool> {
        col(self, i)
    }
}

/// Prefixes every column of a list with `alias.`.
pub(crate) fn qualified(cols: &str, alias: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL text cannot hold NUL characters; free text taken from the
/// outside world (a receiver's response body, an error message) has them
/// replaced by U+FFFD rather than failing the whole batch.
pub(crate) fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}
