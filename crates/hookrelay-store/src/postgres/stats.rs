//! The statistics rollups on PostgreSQL: adding a batch's increments
//! (inside the outcome transaction, one array-bound upsert per rollup),
//! reading a window's rows, and purging old rows. What the rows mean is
//! `crate::stats`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use deadpool_postgres::GenericClient;

use crate::stats::{self, totals_at, Increments, Rollup, Totals, COLUMNS};

use super::rows::col;
use super::{query_all, Param, F};

/// One upsert per rollup, of every row the batch touches: the increments
/// come as arrays, already one per row (an upsert may not touch a row
/// twice) and in key order, so concurrent writers lock rows in one order.
static UPSERT: LazyLock<[String; 2]> = LazyLock::new(|| {
    Rollup::ALL.map(|r| {
        let table = r.table();
        let cols = stats::counter_columns().join(", ");
        let arrays = (4..=3 + COLUMNS)
            .map(|i| format!("${i}::int8[]"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {table} (workspace_id, start_at, endpoint_id, {cols}) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], {arrays}) \
             ON CONFLICT (workspace_id, start_at, endpoint_id) DO UPDATE SET {}",
            stats::upsert_set(table, "LEAST", "GREATEST")
        )
    })
});

/// Adds a batch's increments.
pub(super) async fn add<C: GenericClient + Sync>(c: &C, inc: &Increments<'_>) -> F<()> {
    for r in Rollup::ALL {
        let rows = inc.of(r);
        if rows.is_empty() {
            continue;
        }
        let ws: Vec<&str> = rows.keys().map(|k| k.0).collect();
        let start: Vec<i64> = rows.keys().map(|k| k.1).collect();
        let ep: Vec<&str> = rows.keys().map(|k| k.2).collect();
        let mut counters: Vec<Vec<i64>> = (0..COLUMNS)
            .map(|_| Vec::with_capacity(rows.len()))
            .collect();
        for t in rows.values() {
            for (column, v) in counters.iter_mut().zip(t.to_columns()) {
                column.push(v);
            }
        }
        let mut params: Vec<Param<'_>> = vec![&ws, &start, &ep];
        params.extend(counters.iter().map(|c| c as Param<'_>));
        let stmt = c.prepare_cached(&UPSERT[r as usize]).await?;
        c.execute(&stmt, &params).await?;
    }
    Ok(())
}

/// The rows of workspace `ws` (of one endpoint, if given) starting in
/// `[from, to)`, summed per start.
pub(super) async fn read<C: GenericClient + Sync>(
    c: &C,
    r: Rollup,
    ws: &str,
    endpoint: Option<&str>,
    from: i64,
    to: i64,
) -> F<Vec<(i64, Totals)>> {
    let table = r.table();
    let sums = stats::sum_columns("::int8");
    let decode = |row: &tokio_postgres::Row| Ok((col::<i64>(row, 0)?, totals_at(row, 1)?));
    Ok(match endpoint {
        // A workspace's rows by time (the primary key), an endpoint's
        // through its index.
        None => {
            let sql = format!(
                "SELECT start_at, {sums} FROM {table} WHERE workspace_id = $1 \
                 AND start_at >= $2 AND start_at < $3 GROUP BY start_at"
            );
            query_all(c, &sql, &[&ws, &from, &to], decode).await?
        }
        Some(ep) => {
            let sql = format!(
                "SELECT start_at, {sums} FROM {table} WHERE workspace_id = $1 AND endpoint_id = $4 \
                 AND start_at >= $2 AND start_at < $3 GROUP BY start_at"
            );
            query_all(c, &sql, &[&ws, &from, &to, &ep], decode).await?
        }
    })
}

/// Adds the rows of workspace `ws` starting in `[from, to)` to `into`, per
/// endpoint.
pub(super) async fn read_per_endpoint<C: GenericClient + Sync>(
    c: &C,
    r: Rollup,
    ws: &str,
    from: i64,
    to: i64,
    into: &mut BTreeMap<String, Totals>,
) -> F<()> {
    let sql = format!(
        "SELECT endpoint_id, {} FROM {} WHERE workspace_id = $1 \
         AND start_at >= $2 AND start_at < $3 GROUP BY endpoint_id",
        stats::sum_columns("::int8"),
        r.table()
    );
    let rows = query_all(c, &sql, &[&ws, &from, &to], |row| {
        Ok((col::<String>(row, 0)?, totals_at(row, 1)?))
    })
    .await?;
    for (ep, t) in rows {
        into.entry(ep).or_default().merge(&t);
    }
    Ok(())
}

/// The workspaces with rows in the rollup: a loose scan of its primary key,
/// one probe per workspace.
pub(super) async fn workspaces<C: GenericClient + Sync>(c: &C, r: Rollup) -> F<Vec<String>> {
    let table = r.table();
    let sql = format!(
        "WITH RECURSIVE w AS ( \
           (SELECT workspace_id FROM {table} ORDER BY workspace_id LIMIT 1) \
           UNION ALL \
           SELECT n.workspace_id FROM w, LATERAL (SELECT workspace_id FROM {table} \
             WHERE workspace_id > w.workspace_id ORDER BY workspace_id LIMIT 1) n) \
         SELECT workspace_id FROM w"
    );
    query_all(c, &sql, &[], |row| col::<String>(row, 0)).await
}

/// Deletes up to `chunk` rows of workspace `ws` starting before `cut`;
/// returns how many.
pub(super) async fn purge_chunk<C: GenericClient + Sync>(
    c: &C,
    r: Rollup,
    ws: &str,
    cut: i64,
    chunk: i64,
) -> F<u64> {
    let table = r.table();
    let sql = format!(
        "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} \
           WHERE workspace_id = $1 AND start_at < $2 ORDER BY start_at LIMIT $3))"
    );
    let stmt = c.prepare_cached(&sql).await?;
    Ok(c.execute(&stmt, &[&ws, &cut, &chunk]).await?)
}
