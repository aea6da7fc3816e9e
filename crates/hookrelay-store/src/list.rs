//! How lists are read, the same on every backend: which conditions each
//! list filter stands for, keyset pagination on `id` (the comparison and
//! order a [`SortDir`] means, one row past the limit to learn whether more
//! follow) and the [`Page`] those rows make. A backend supplies its column
//! list, renders the query in its placeholder style and binds the values.

use std::fmt::Write as _;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{DeliveryId, WorkspaceId};

use crate::windows::cutoff_id;
use crate::{DeliveryFilter, EndpointFilter, EventFilter, Page, PageRequest, SubscriptionFilter};

/// A value bound to a list query's placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

/// How a backend spells the `n`th placeholder (1-based).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Placeholder {
    /// SQLite: `?1`, `?2`, …
    Question,
    /// PostgreSQL: `$1`, `$2`, …
    Dollar,
}

/// One condition of a list's `WHERE`: a comparison with a bound value, or
/// fixed SQL that binds nothing.
#[derive(Clone, Debug)]
enum Cond {
    Bind(&'static str, &'static str, Value),
    Fixed(&'static str),
}

/// A list query before rendering: `SELECT <cols> FROM <table> WHERE …`.
#[derive(Clone, Debug)]
pub(crate) struct List {
    select: String,
    conds: Vec<Cond>,
}

/// A rendered list query and the values of its placeholders, in order.
#[derive(Clone, Debug)]
pub(crate) struct ListSql {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

impl List {
    /// The rows of `table` belonging to workspace `ws`.
    fn of(cols: &str, table: &str, ws: &WorkspaceId) -> Self {
        Self {
            select: format!("SELECT {cols} FROM {table}"),
            conds: vec![Cond::Bind("workspace_id", "=", Value::Text(ws.to_string()))],
        }
    }

    fn fixed(mut self, sql: &'static str) -> Self {
        self.conds.push(Cond::Fixed(sql));
        self
    }

    fn bind(&mut self, column: &'static str, op: &'static str, v: Value) {
        self.conds.push(Cond::Bind(column, op, v));
    }

    /// Renders the query for one page: the conditions, then `id` after the
    /// cursor, ordered by `id`, with `limit + 1` rows.
    pub(crate) fn render(self, page: &PageRequest, style: Placeholder) -> ListSql {
        let mut sql = self.select;
        let mut params = Vec::with_capacity(self.conds.len() + 2);
        let mut conds = self.conds;
        if let Some(after) = &page.after {
            conds.push(Cond::Bind(
                "id",
                after_op(page.dir),
                Value::Text(after.clone()),
            ));
        }
        let mut bind = |sql: &mut String, v: Value| {
            params.push(v);
            let _ = match style {
                Placeholder::Question => write!(sql, "?{}", params.len()),
                Placeholder::Dollar => write!(sql, "${}", params.len()),
            };
        };
        for (i, c) in conds.into_iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            match c {
                Cond::Bind(column, op, v) => {
                    let _ = write!(sql, "{column} {op} ");
                    bind(&mut sql, v);
                }
                Cond::Fixed(s) => sql.push_str(s),
            }
        }
        let _ = write!(sql, " ORDER BY id {} LIMIT ", order(page.dir));
        bind(&mut sql, Value::Int(fetch_limit(page.limit)));
        ListSql { sql, params }
    }
}

/// How `id` compares with the cursor for rows after it.
pub(crate) fn after_op(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => ">",
        SortDir::Desc => "<",
    }
}

/// The SQL order of a sort direction.
pub(crate) fn order(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    }
}

/// How two ids compare in a page sorted `dir`, for pages merged in memory.
pub(crate) fn id_order<T: Ord>(dir: SortDir, a: &T, b: &T) -> std::cmp::Ordering {
    match dir {
        SortDir::Asc => a.cmp(b),
        SortDir::Desc => b.cmp(a),
    }
}

/// How many rows to fetch for a page: one more than it holds, so that the
/// extra row tells whether a next page exists without counting.
pub(crate) fn fetch_limit(limit: u32) -> i64 {
    i64::from(limit) + 1
}

/// Turns rows fetched with [`fetch_limit`] (in page order) into a page:
/// at most `limit` items, and `next` (the last item's id) when more follow.
pub(crate) fn page_of<T>(mut items: Vec<T>, limit: u32, id_of: impl Fn(&T) -> String) -> Page<T> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(id_of)
    } else {
        None
    };
    Page { items, next }
}

/// Every workspace (for the org admin's picker).
pub(crate) fn workspaces(cols: &str) -> List {
    List {
        select: format!("SELECT {cols} FROM workspaces"),
        conds: Vec::new(),
    }
}

/// Live API keys of a workspace.
pub(crate) fn api_keys(cols: &str, ws: &WorkspaceId) -> List {
    List::of(cols, "api_keys", ws).fixed("revoked_at IS NULL")
}

/// Live (not deleted) endpoints of a workspace.
pub(crate) fn endpoints(cols: &str, ws: &WorkspaceId, f: &EndpointFilter) -> List {
    let mut l = List::of(cols, "endpoints", ws).fixed("deleted_at IS NULL");
    if let Some(s) = f.status {
        l.bind("status", "=", Value::Text(s.as_str().to_owned()));
    }
    if let Some(v) = &f.api_version {
        l.bind("api_version", "=", Value::Text(v.clone()));
    }
    l
}

pub(crate) fn subscriptions(cols: &str, ws: &WorkspaceId, f: &SubscriptionFilter) -> List {
    let mut l = List::of(cols, "subscriptions", ws);
    if let Some(e) = &f.endpoint_id {
        l.bind("endpoint_id", "=", Value::Text(e.to_string()));
    }
    if let Some(r) = &f.resource_id {
        l.bind("resource_id", "=", Value::Text(r.clone()));
    }
    l
}

pub(crate) fn events(cols: &str, ws: &WorkspaceId, f: &EventFilter) -> List {
    let mut l = List::of(cols, "events", ws);
    if let Some(t) = &f.event_type {
        l.bind("event_type", "=", Value::Text(t.clone()));
    }
    if let Some(t) = f.since {
        l.bind("created_at", ">=", Value::Int(t.0));
    }
    if let Some(t) = f.until {
        l.bind("created_at", "<", Value::Int(t.0));
    }
    l
}

pub(crate) fn deliveries(cols: &str, ws: &WorkspaceId, f: &DeliveryFilter) -> List {
    let mut l = List::of(cols, "deliveries", ws);
    if let Some(e) = &f.endpoint_id {
        l.bind("endpoint_id", "=", Value::Text(e.to_string()));
    }
    if let Some(e) = &f.event_id {
        l.bind("event_id", "=", Value::Text(e.to_string()));
    }
    if let Some(t) = &f.event_type {
        l.bind("event_type", "=", Value::Text(t.clone()));
    }
    if let Some(s) = f.status {
        l.bind("status", "=", Value::Text(s.as_str().to_owned()));
    }
    // A delivery's id is minted at its creation time, so a time range is a
    // range of ids: the list reads one stretch of the `(workspace_id, id)`
    // (or `(endpoint_id, id)`) index, however old the range or large the
    // history, instead of filtering rows on `created_at` one by one.
    if let Some(t) = f.since {
        l.bind("id", ">=", Value::Text(cutoff_id(DeliveryId::PREFIX, t)));
    }
    if let Some(t) = f.until {
        l.bind("id", "<", Value::Text(cutoff_id(DeliveryId::PREFIX, t)));
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookrelay_core::model::DeliveryStatus;
    use hookrelay_core::time::Timestamp;

    fn ws() -> WorkspaceId {
        WorkspaceId::from_trusted("ws_1".into())
    }

    #[test]
    fn renders_filters_cursor_and_limit_in_each_placeholder_style() {
        let f = DeliveryFilter {
            status: Some(DeliveryStatus::Pending),
            since: Some(Timestamp(5)),
            ..Default::default()
        };
        let page = PageRequest {
            limit: 10,
            after: Some("dlv_9".into()),
            dir: SortDir::Desc,
        };
        let q = deliveries("id", &ws(), &f).render(&page, Placeholder::Dollar);
        assert_eq!(
            q.sql,
            "SELECT id FROM deliveries WHERE workspace_id = $1 AND status = $2 \
             AND id >= $3 AND id < $4 ORDER BY id DESC LIMIT $5"
        );
        assert_eq!(
            q.params,
            vec![
                Value::Text("ws_1".into()),
                Value::Text("pending".into()),
                Value::Text(cutoff_id(DeliveryId::PREFIX, Timestamp(5))),
                Value::Text("dlv_9".into()),
                Value::Int(11),
            ]
        );
        let page = PageRequest {
            dir: SortDir::Asc,
            after: None,
            ..page
        };
        let q = api_keys("id", &ws()).render(&page, Placeholder::Question);
        assert_eq!(
            q.sql,
            "SELECT id FROM api_keys WHERE workspace_id = ?1 AND revoked_at IS NULL \
             ORDER BY id ASC LIMIT ?2"
        );
    }

    #[test]
    fn a_delivery_time_range_is_an_id_range() {
        let (since, until) = (Timestamp(1_700_000_000_000), Timestamp(1_700_000_060_000));
        let f = DeliveryFilter {
            endpoint_id: Some(hookrelay_core::ids::EndpointId::from_trusted("ep_1".into())),
            since: Some(since),
            until: Some(until),
            ..Default::default()
        };
        let q = deliveries("id", &ws(), &f).render(&PageRequest::default(), Placeholder::Question);
        assert_eq!(
            q.sql,
            "SELECT id FROM deliveries WHERE workspace_id = ?1 AND endpoint_id = ?2 \
             AND id >= ?3 AND id < ?4 ORDER BY id DESC LIMIT ?5"
        );
        let (Value::Text(lo), Value::Text(hi)) = (&q.params[2], &q.params[3]) else {
            panic!("{:?}", q.params)
        };
        // Ids minted in the range fall between the bounds; those of the
        // millisecond before `since` or at `until` do not.
        for _ in 0..100 {
            let first = DeliveryId::at(since.0).into_string();
            let last = DeliveryId::at(until.0 - 1).into_string();
            assert!(lo <= &first && &first < hi);
            assert!(lo <= &last && &last < hi);
            assert!(&DeliveryId::at(since.0 - 1).into_string() < lo);
            assert!(&DeliveryId::at(until.0).into_string() >= hi);
        }
    }

    #[test]
    fn a_page_keeps_limit_items_and_points_past_the_last_only_when_more_follow() {
        let p = page_of(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((p.items, p.next), (vec![1, 2], Some("2".to_owned())));
        let p = page_of(vec![1, 2], 2, |n| n.to_string());
        assert_eq!((p.items, p.next), (vec![1, 2], None));
    }
}
