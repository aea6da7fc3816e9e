//! How SQLite reads a cell and binds an endpoint; the records themselves
//! are decoded in `crate::rows`.

use rusqlite::types::{FromSql, Value as SqlValue};
use rusqlite::Row;

use hookrelay_core::model::Endpoint;

use crate::crypt::Crypt;
use crate::rows::{bad_cell, Cells, EndpointValues, R};

/// Column `i` of `row`, or a corrupt-record error naming it.
fn col<T: FromSql>(row: &Row<'_>, i: usize) -> R<T> {
    row.get(i).map_err(|e| {
        let name = row.as_ref().column_name(i).unwrap_or("?");
        bad_cell(name, e)
    })
}

impl Cells for Row<'_> {
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
        col(self, i)
    }
    fn opt_int4(&self, i: usize) -> R<Option<i64>> {
        col(self, i)
    }
    fn flag(&self, i: usize) -> R<bool> {
        col(self, i)
    }
}

/// The bound values of `ENDPOINT_COLS` for an endpoint, in order.
pub(crate) fn endpoint_values(e: &Endpoint, crypt: &Crypt) -> R<Vec<SqlValue>> {
    let v = EndpointValues::of(e, crypt)?;
    Ok(vec![
        v.id.into(),
        v.workspace_id.into(),
        v.url.into(),
        v.name.into(),
        v.status.into(),
        v.disabled_reason.into(),
        v.enabled_events.into(),
        v.api_version.into(),
        v.advanced_options.into(),
        v.signature_scheme.into(),
        v.retry_schedule.into(),
        v.rate_limit_per_second.into(),
        v.secret.into(),
        v.previous_secret.into(),
        v.previous_secret_until.into(),
        v.created_at.into(),
        v.created_by.into(),
        v.updated_at.into(),
        v.failing_since.into(),
    ])
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::rows::{summary, workspace};
    use crate::ErrorKind;

    #[test]
    fn a_cell_of_the_wrong_type_is_a_corrupt_record_naming_its_column() {
        let c = Connection::open_in_memory().unwrap();
        let e = c
            .query_row("SELECT 'w', 'n', 'soon' AS created_at", [], |r| {
                Ok(workspace(r))
            })
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(e.to_string(), "corrupt record: column created_at");
    }

    #[test]
    fn a_number_out_of_range_is_a_corrupt_record() {
        let c = Connection::open_in_memory().unwrap();
        let e = c
            .query_row("SELECT 'd', 'e', 'pending', -1", [], |r| Ok(summary(r)))
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(e.to_string(), "corrupt record: bad attempt_count: -1");
    }
}
