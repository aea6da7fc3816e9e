//! The statistics rollups on SQLite: adding a batch's increments (inside
//! the outcome write, on the writer thread), reading a window's rows, and
//! purging old rows. What the rows mean is `crate::stats`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};

use crate::stats::{self, totals_at, Increments, Rollup, Totals, COLUMNS};
use crate::Result;

/// Per rollup, the upsert of one row: its increment is added to the stored
/// row. (Statements of many rows were tried: per row they cost about the
/// same, the row's own work being most of it.)
static UPSERT: LazyLock<[String; 2]> = LazyLock::new(|| {
    Rollup::ALL.map(|r| {
        let table = r.table();
        let cols = stats::counter_columns().join(", ");
        let values = (1..=3 + COLUMNS)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {table} (workspace_id, start_at, endpoint_id, {cols}) VALUES ({values}) \
             ON CONFLICT (workspace_id, start_at, endpoint_id) DO UPDATE SET {}",
            stats::upsert_set(table, "min", "max")
        )
    })
});

/// Adds a batch's increments: one upsert per row touched, in key order.
pub(super) fn add(c: &Connection, inc: &Increments<'_>) -> Result<()> {
    for r in Rollup::ALL {
        let rows = inc.of(r);
        if rows.is_empty() {
            continue;
        }
        let mut stmt = c.prepare_cached(&UPSERT[r as usize])?;
        for ((ws, start, ep), totals) in rows {
            stmt.raw_bind_parameter(1, ws)?;
            stmt.raw_bind_parameter(2, start)?;
            stmt.raw_bind_parameter(3, ep)?;
            for (i, v) in totals.to_columns().into_iter().enumerate() {
                stmt.raw_bind_parameter(4 + i, v)?;
            }
            stmt.raw_execute()?;
        }
    }
    Ok(())
}

/// The rows of workspace `ws` (of one endpoint, if given) starting in
/// `[from, to)`, summed per start.
pub(super) fn read(
    c: &Connection,
    r: Rollup,
    ws: &str,
    endpoint: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Totals)>> {
    let table = r.table();
    let sums = stats::sum_columns("");
    // Two statements, so that each gets its own plan: a workspace's rows by
    // time (the primary key), an endpoint's through its index.
    let sql = match endpoint {
        None => format!(
            "SELECT start_at, {sums} FROM {table} WHERE workspace_id = ?1 \
             AND start_at >= ?2 AND start_at < ?3 GROUP BY start_at"
        ),
        Some(_) => format!(
            "SELECT start_at, {sums} FROM {table} WHERE workspace_id = ?1 AND endpoint_id = ?4 \
             AND start_at >= ?2 AND start_at < ?3 GROUP BY start_at"
        ),
    };
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = match endpoint {
        None => stmt.query(params![ws, from, to])?,
        Some(ep) => stmt.query(params![ws, from, to, ep])?,
    };
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push((row.get(0)?, totals_at(row, 1)?));
    }
    Ok(out)
}

/// Adds the rows of workspace `ws` starting in `[from, to)` to `into`, per
/// endpoint.
pub(super) fn read_per_endpoint(
    c: &Connection,
    r: Rollup,
    ws: &str,
    from: i64,
    to: i64,
    into: &mut BTreeMap<String, Totals>,
) -> Result<()> {
    let sql = format!(
        "SELECT endpoint_id, {} FROM {} WHERE workspace_id = ?1 \
         AND start_at >= ?2 AND start_at < ?3 GROUP BY endpoint_id",
        stats::sum_columns(""),
        r.table()
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![ws, from, to])?;
    while let Some(row) = rows.next()? {
        let ep: String = row.get(0)?;
        into.entry(ep).or_default().merge(&totals_at(row, 1)?);
    }
    Ok(())
}

/// The workspaces with rows in the rollup: a loose scan of its primary key,
/// one seek per workspace.
pub(super) fn workspaces(c: &Connection, r: Rollup) -> Result<Vec<String>> {
    let mut next = c.prepare_cached(&format!(
        "SELECT workspace_id FROM {} WHERE workspace_id > ?1 ORDER BY workspace_id LIMIT 1",
        r.table()
    ))?;
    let mut out: Vec<String> = Vec::new();
    let mut after = String::new();
    while let Some(ws) = next
        .query_row(params![after], |row| row.get::<_, String>(0))
        .optional()?
    {
        after.clone_from(&ws);
        out.push(ws);
    }
    Ok(out)
}

/// Deletes up to `chunk` rows of workspace `ws` starting before `cut`;
/// returns how many.
pub(super) fn purge_chunk(
    c: &Connection,
    r: Rollup,
    ws: &str,
    cut: i64,
    chunk: i64,
) -> Result<u64> {
    let table = r.table();
    let n = c
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE workspace_id = ?1 AND (start_at, endpoint_id) IN \
             (SELECT start_at, endpoint_id FROM {table} WHERE workspace_id = ?1 AND start_at < ?2 \
              ORDER BY start_at LIMIT ?3)"
        ))?
        .execute(params![ws, cut, chunk])?;
    Ok(n as u64)
}
