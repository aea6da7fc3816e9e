//! Fan-out rows: an event published to many endpoints is stored with one
//! `fanouts` row for all its deliveries, and the delivery rows are written
//! later, when a claim takes them.
//!
//! Why: a delivery row costs four B-trees (the table, the due, endpoint and
//! event indexes). At 100 endpoints per event that would be 100 rows in the
//! publish's transaction, so fan-out ingest would be bounded by how fast the
//! one writer thread inserts them, and each publish would wait for all of
//! them.
//!
//! How: such events are published **without a lease**, whatever lease the
//! publish was given (the publish answers with none of them leased, and
//! [`crate::Published::left_for_claims`] tells the caller, which then wakes
//! the poller instead of handing the deliveries over); their
//! deliveries are pending, due at the event's time, and not held by any
//! dispatcher. The publish writes the event and one fan-out row. The next
//! claims of its workspace ([`claim`]) take fan-out rows oldest first and
//! write their entries as delivery rows, in id order (so at the right edge
//! of every index, as a publish would have), leased to the claimer, as many
//! as the claim has room for; the rest (entries of endpoints it has no room
//! for, and what is past its limit) stay in the fan-out row, which is
//! rewritten without the entries written out, or deleted when none is left.
//! So a delivery row is written once, already leased, and its outcome
//! updates it in place; and an endpoint that cannot take anything (throttled,
//! paused, hanging) costs its workspace's claims no writes, however deep its
//! backlog.
//!
//! **The rule:** an entry of a fan-out row has no delivery row; it is a
//! pending delivery, never attempted, due at the event's `created_at`.
//! Writes that need the deliveries as rows (an endpoint's deletion, a
//! requeue) write out the entries they need first ([`expand`]); reads never
//! write: they see the entries as the deliveries they stand for
//! ([`read_event`], [`read_delivery`], [`read_page`]). A purge keeps an event
//! while it has a fan-out row.
//!
//! This is SQLite only. PostgreSQL stores delivery rows at publish, and its
//! publishes stay leased to the node that accepted them (handing them over in
//! memory is what lets several nodes share the work without claiming).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use hookrelay_core::ids::{DeliveryId, EndpointId, EventId, WorkspaceId};
use hookrelay_core::model::{Delivery, DeliveryStatus};
use hookrelay_core::time::Timestamp;

use super::due::DueScan;
use crate::{Lease, NewDelivery, NewEvent, Result, StoreError};

/// Events to at least this many endpoints go through fan-out rows. Below it
/// a fan-out row saves little and costs an extra hop through the poller.
pub(crate) const MIN_FANOUT: usize = 3;

/// Whether a publish of `ne` writes a fan-out row (whatever its lease).
pub(crate) fn wanted(ne: &NewEvent) -> bool {
    ne.deliveries.len() >= MIN_FANOUT
}

/// One entry of a fan-out row: id, endpoint, event type, API version.
type Line<'a> = [&'a str; 4];

/// Appends one entry to a `deliveries` column.
fn push_line(s: &mut String, line: Line<'_>) {
    for (i, f) in line.into_iter().enumerate() {
        if i > 0 {
            s.push('\t');
        }
        s.push_str(f);
    }
    s.push('\n');
}

/// The `deliveries` column of a fan-out row.
pub(crate) fn encode(deliveries: &[NewDelivery]) -> String {
    let mut s = String::with_capacity(deliveries.len() * 96);
    for d in deliveries {
        push_line(
            &mut s,
            [
                d.id.as_str(),
                d.endpoint_id.as_str(),
                &d.event_type,
                &d.api_version,
            ],
        );
    }
    s
}

fn decode(s: &str) -> Result<Vec<Line<'_>>> {
    s.lines()
        .map(|l| {
            let mut f = l.split('\t');
            let line = [f.next(), f.next(), f.next(), f.next()];
            match (line, f.next()) {
                ([Some(a), Some(b), Some(c), Some(d)], None) => Ok([a, b, c, d]),
                _ => Err(StoreError::corrupt(format!("fan-out entry {l:?}"))),
            }
        })
        .collect()
}

/// Writes the event's fan-out row (in the publish's transaction). The
/// claim's memory of delivery rows (`due`) hears of these deliveries when
/// [`write_rows`] writes them; its memory of fan-out rows hears of this one
/// now.
pub(crate) fn insert(c: &Connection, ne: &NewEvent, due: &std::sync::Mutex<DueScan>) -> Result<()> {
    let ev = &ne.event;
    due.lock()
        .expect("due lock")
        .fanout_published(ev.workspace_id.as_str(), ev.created_at.0);
    c.prepare_cached(
        "INSERT INTO fanouts (event_id, workspace_id, created_at, test, n, deliveries) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        ev.id.as_str(),
        ev.workspace_id.as_str(),
        ev.created_at.0,
        ev.test,
        ne.deliveries.len() as i64,
        encode(&ne.deliveries),
    ])?;
    Ok(())
}

/// One fan-out row, read back.
struct Fanout {
    event_id: String,
    workspace_id: String,
    created_at: i64,
    test: bool,
    deliveries: String,
}

fn read(c: &Connection, event_id: &str) -> Result<Option<Fanout>> {
    Ok(c.prepare_cached(
        "SELECT workspace_id, created_at, test, deliveries FROM fanouts WHERE event_id = ?1",
    )?
    .query_row(params![event_id], |r| {
        Ok(Fanout {
            event_id: event_id.to_owned(),
            workspace_id: r.get(0)?,
            created_at: r.get(1)?,
            test: r.get(2)?,
            deliveries: r.get(3)?,
        })
    })
    .optional()?)
}

/// The entries of a fan-out row as the deliveries they stand for: pending,
/// never attempted, due at the event's time.
fn as_deliveries(f: &Fanout) -> Result<Vec<Delivery>> {
    Ok(decode(&f.deliveries)?
        .into_iter()
        .map(|line| entry_delivery(f, line))
        .collect())
}

/// One entry of a fan-out row as the delivery it stands for.
fn entry_delivery(f: &Fanout, [id, endpoint, event_type, version]: Line<'_>) -> Delivery {
    Delivery {
        id: DeliveryId::from_trusted(id.to_owned()),
        workspace_id: WorkspaceId::from_trusted(f.workspace_id.clone()),
        event_id: EventId::from_trusted(f.event_id.clone()),
        endpoint_id: EndpointId::from_trusted(endpoint.to_owned()),
        event_type: event_type.to_owned(),
        api_version: version.to_owned(),
        status: DeliveryStatus::Pending,
        attempt_count: 0,
        next_attempt_at: Some(Timestamp(f.created_at)),
        created_at: Timestamp(f.created_at),
        test: f.test,
        manual: false,
    }
}

const FANOUT_COLS: &str = "event_id, workspace_id, created_at, test, deliveries";

fn fanout_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Fanout> {
    Ok(Fanout {
        event_id: r.get(0)?,
        workspace_id: r.get(1)?,
        created_at: r.get(2)?,
        test: r.get(3)?,
        deliveries: r.get(4)?,
    })
}

/// For a read: the deliveries of an event's fan-out row (none if it has
/// none), in id order.
pub(crate) fn read_event(c: &Connection, ws: &str, event_id: &str) -> Result<Vec<Delivery>> {
    let f = c
        .prepare_cached(&format!(
            "SELECT {FANOUT_COLS} FROM fanouts WHERE event_id = ?1 AND workspace_id = ?2"
        ))?
        .query_row(params![event_id, ws], fanout_row)
        .optional()?;
    let mut out = match f {
        Some(f) => as_deliveries(&f)?,
        None => Vec::new(),
    };
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// For a read: the delivery `id` of the workspace if it is still an entry
/// of a fan-out row. Its id was made at its event's time, which narrows the
/// search to the rows of that millisecond.
pub(crate) fn read_delivery(c: &Connection, ws: &str, id: &DeliveryId) -> Result<Option<Delivery>> {
    let Some(at) = id.millis() else {
        return Ok(None);
    };
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FANOUT_COLS} FROM fanouts WHERE workspace_id = ?1 AND created_at = ?2 \
         AND instr(deliveries, ?3) > 0"
    ))?;
    let rows = stmt.query_map(params![ws, at, id.as_str()], fanout_row)?;
    for f in rows {
        if let Some(d) = as_deliveries(&f?)?.into_iter().find(|d| &d.id == id) {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// For a read: the deliveries of the workspace's fan-out rows that match
/// `filter` and come after the page's cursor, in the page's order: at least
/// `page.limit + 1` of them if there are that many (every entry of the last
/// millisecond read, since ids of one millisecond need not follow the rows'
/// order). The caller merges them with the delivery rows of the same page.
pub(crate) fn read_page(
    c: &Connection,
    ws: &str,
    filter: &crate::DeliveryFilter,
    page: &crate::PageRequest,
) -> Result<Vec<Delivery>> {
    use hookrelay_core::cursor::SortDir;
    if filter.status.is_some_and(|s| s != DeliveryStatus::Pending) {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT {FANOUT_COLS} FROM fanouts WHERE workspace_id = ?");
    let mut p: Vec<rusqlite::types::Value> = vec![ws.to_owned().into()];
    if let Some(e) = &filter.event_id {
        sql.push_str(" AND event_id = ?");
        p.push(e.to_string().into());
    }
    if let Some(e) = &filter.endpoint_id {
        sql.push_str(" AND instr(deliveries, ?) > 0");
        p.push(e.to_string().into());
    }
    if let Some(t) = filter.since {
        sql.push_str(" AND created_at >= ?");
        p.push(t.0.into());
    }
    if let Some(t) = filter.until {
        sql.push_str(" AND created_at < ?");
        p.push(t.0.into());
    }
    let after = page
        .after
        .as_ref()
        .map(|a| DeliveryId::from_trusted(a.clone()));
    if let Some(ms) = after.as_ref().and_then(DeliveryId::millis) {
        sql.push_str(match page.dir {
            SortDir::Asc => " AND created_at >= ?",
            SortDir::Desc => " AND created_at <= ?",
        });
        p.push(ms.into());
    }
    let order = crate::list::order(page.dir);
    sql.push_str(&format!(" ORDER BY created_at {order}, event_id {order}"));
    let want = page.limit as usize + 1;
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(p))?;
    let mut out = Vec::new();
    let mut last_ms = None;
    while let Some(r) = rows.next()? {
        let f = fanout_row(r)?;
        if out.len() >= want && last_ms != Some(f.created_at) {
            break;
        }
        for d in as_deliveries(&f)? {
            let keep = filter
                .endpoint_id
                .as_ref()
                .is_none_or(|e| &d.endpoint_id == e)
                && filter
                    .event_type
                    .as_ref()
                    .is_none_or(|t| &d.event_type == t)
                && after.as_ref().is_none_or(|a| match page.dir {
                    SortDir::Asc => &d.id > a,
                    SortDir::Desc => &d.id < a,
                });
            if keep {
                last_ms = Some(f.created_at);
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// What [`write_rows`] does with one entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// A row leased to the claimer, returned to it.
    Take,
    /// A row, unleased and due at the event's time.
    Due,
    /// Nothing: it stays in the fan-out row.
    Keep,
}

/// Writes delivery rows for the entries of one fan-out row as `fate` decides
/// (given each entry's endpoint), then deletes the fan-out row, or rewrites
/// it with the entries kept. Returns the entries taken, leased to `lease`.
fn write_rows(
    c: &Connection,
    f: &Fanout,
    lease: Option<&Lease>,
    mut fate: impl FnMut(&str) -> Fate,
    due: &std::sync::Mutex<DueScan>,
) -> Result<Vec<Delivery>> {
    let mut ins = c.prepare_cached(
        "INSERT INTO deliveries (id, workspace_id, event_id, endpoint_id, event_type, api_version, status, \
         attempt_count, next_attempt_at, ready_at, lease_owner, manual, test, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?9, 0, ?10, ?7, ?7)",
    )?;
    let mut entries = decode(&f.deliveries)?;
    let n_total = entries.len() as i64;
    // In id order: each index is written at its right edge.
    entries.sort_unstable_by(|a, b| a[0].cmp(b[0]));
    let mut taken = Vec::new();
    let mut kept = String::new();
    let mut n_kept = 0i64;
    let mut due = due.lock().expect("due lock");
    for [id, endpoint, event_type, version] in entries {
        let (ready, owner) = match (fate(endpoint), lease) {
            (Fate::Keep, _) => {
                push_line(&mut kept, [id, endpoint, event_type, version]);
                n_kept += 1;
                continue;
            }
            (Fate::Take, Some(l)) => (l.until.0, Some(l.owner.as_str())),
            _ => (f.created_at, None),
        };
        ins.execute(params![
            id,
            f.workspace_id,
            f.event_id,
            endpoint,
            event_type,
            version,
            f.created_at,
            ready,
            owner,
            f.test
        ])?;
        due.touch(ready, &f.workspace_id, endpoint);
        if owner.is_some() {
            taken.push(entry_delivery(f, [id, endpoint, event_type, version]));
        }
    }
    drop(due);
    if taken.is_empty() && n_kept == n_total {
        // Nothing written out: the row stays as it is.
        return Ok(taken);
    }
    if n_kept == 0 {
        c.prepare_cached("DELETE FROM fanouts WHERE event_id = ?1")?
            .execute(params![f.event_id])?;
    } else {
        c.prepare_cached("UPDATE fanouts SET n = ?2, deliveries = ?3 WHERE event_id = ?1")?
            .execute(params![f.event_id, n_kept, kept])?;
    }
    Ok(taken)
}

/// The claim's part: takes entries of the workspace's fan-out rows due at
/// `now`, oldest first, up to `limit`, and writes their delivery rows leased
/// to `lease` (see [`write_rows`]), taking from `rooms` (endpoints not in it
/// have room). Entries of endpoints without room, and what is past the
/// limit, stay in their fan-out row: a workspace whose endpoints cannot take
/// anything may have thousands of fan-out rows waiting, and writing them
/// out would only keep the writer, and every other workspace's writes,
/// waiting. Nor are they read again at every claim: `due` remembers up to
/// when the fan-out rows hold only entries of endpoints without room; the
/// next claim reads the older rows only for such endpoints that have room
/// again, and only until that room is used. Returns the deliveries taken.
pub(crate) fn claim(
    c: &Connection,
    piece: &super::ClaimPiece,
    limit: usize,
    rooms: &mut HashMap<String, u32>,
    due: &std::sync::Mutex<DueScan>,
) -> Result<Vec<Delivery>> {
    let ws: &str = &piece.ws;
    let known = due.lock().expect("due lock").fanouts_known(ws);
    let mut taken = Vec::new();
    // Rows up to `upto` hold only entries of `only`: read them while some of
    // those have room.
    let mut after = (i64::MIN, String::new());
    if let Some((upto, only)) = &known {
        let default = piece.default_room;
        let has_room = |rooms: &HashMap<String, u32>| {
            only.iter()
                .any(|e| rooms.get(e).map_or(default != Some(0), |n| *n > 0))
        };
        if has_room(rooms) {
            scan(
                c,
                piece,
                (i64::MIN, String::new()),
                *upto,
                limit,
                rooms,
                due,
                &mut taken,
                |r| !has_room(r),
            )?;
        }
        // Everything up to `upto` is read, or holds nothing this claim may
        // take.
        after = (*upto, "\u{10ffff}".to_owned());
    }
    let read_all = taken.len() < limit
        && scan(
            c,
            piece,
            after,
            piece.now.0,
            limit,
            rooms,
            due,
            &mut taken,
            |_| false,
        )?;
    if read_all && taken.len() < limit {
        // Every entry left in a row created by now holds an endpoint
        // without room.
        due.lock()
            .expect("due lock")
            .fanouts_exhausted(ws, piece.now.0, super::skipped(rooms));
    }
    Ok(taken)
}

/// Reads the workspace's fan-out rows after `after` and created at or
/// before `upto`, in order, taking what the rooms allow, until `limit` is
/// taken or `done(rooms)` says nothing more can be. True if it read them all.
#[allow(clippy::too_many_arguments)]
fn scan(
    c: &Connection,
    piece: &super::ClaimPiece,
    mut after: (i64, String),
    upto: i64,
    limit: usize,
    rooms: &mut HashMap<String, u32>,
    due: &std::sync::Mutex<DueScan>,
    taken: &mut Vec<Delivery>,
    done: impl Fn(&HashMap<String, u32>) -> bool,
) -> Result<bool> {
    loop {
        let next: Vec<Fanout> = c
            .prepare_cached(&format!(
                "SELECT {FANOUT_COLS} FROM fanouts WHERE workspace_id = ?1 \
                 AND (created_at, event_id) > (?2, ?3) AND created_at <= ?4 \
                 ORDER BY created_at, event_id LIMIT 64"
            ))?
            .query_map(params![&*piece.ws, after.0, after.1, upto], fanout_row)?
            .collect::<rusqlite::Result<_>>()?;
        if next.is_empty() {
            return Ok(true);
        }
        for f in next {
            if taken.len() >= limit || done(rooms) {
                return Ok(false);
            }
            after = (f.created_at, f.event_id.clone());
            let room = limit - taken.len();
            let mut n = 0;
            let got = write_rows(
                c,
                &f,
                Some(&piece.lease),
                |endpoint| {
                    if n < room
                        && crate::Claim::take_room(rooms, endpoint.to_owned(), piece.default_room)
                    {
                        n += 1;
                        Fate::Take
                    } else {
                        Fate::Keep
                    }
                },
                due,
            )?;
            taken.extend(got);
        }
    }
}

/// The events of the workspace whose fan-out rows have an entry mentioning
/// `id` (a delivery's or an endpoint's; ids are unique and prefixed, so
/// nothing else matches them, and a row matched for nothing is merely
/// written out early), oldest first.
fn mentioning(c: &Connection, ws: &str, id: &str) -> Result<Vec<String>> {
    let mut stmt = c.prepare_cached(
        "SELECT event_id FROM fanouts WHERE workspace_id = ?1 AND instr(deliveries, ?2) > 0 \
         ORDER BY created_at, event_id",
    )?;
    let rows = stmt.query_map(params![ws, id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Writes the delivery rows of the events' fan-out rows (unleased, due) and
/// deletes those rows, so that what follows in the transaction, or a read
/// after it, sees them as rows. A row already gone is skipped.
pub(crate) fn expand(
    c: &Connection,
    events: &[String],
    due: &std::sync::Mutex<DueScan>,
) -> Result<()> {
    for id in events {
        if let Some(f) = read(c, id)? {
            write_rows(c, &f, None, |_| Fate::Due, due)?;
        }
    }
    Ok(())
}

/// Writes out the workspace's fan-out rows that mention `id` (see
/// [`mentioning`]).
pub(crate) fn expand_mentioning(
    c: &Connection,
    ws: &str,
    id: &str,
    due: &std::sync::Mutex<DueScan>,
) -> Result<()> {
    expand(c, &mentioning(c, ws, id)?, due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliveries(n: usize) -> Vec<NewDelivery> {
        (0..n)
            .map(|_| NewDelivery {
                id: DeliveryId::at(0),
                endpoint_id: EndpointId::at(0),
                event_type: "workflow_run.completed".into(),
                api_version: "2025-04-21".into(),
            })
            .collect()
    }

    #[test]
    fn entries_round_trip_through_the_column() {
        let ds = deliveries(3);
        let s = encode(&ds);
        let lines = decode(&s).unwrap();
        assert_eq!(lines.len(), 3);
        for (l, d) in lines.iter().zip(&ds) {
            assert_eq!(
                *l,
                [
                    d.id.as_str(),
                    d.endpoint_id.as_str(),
                    "workflow_run.completed",
                    "2025-04-21"
                ]
            );
        }
        assert!(decode("a\tb\tc\n").is_err(), "a short line is corrupt");
        assert!(decode("a\tb\tc\td\te\n").is_err(), "a long line is corrupt");
    }
}
