//! Group commit for [`crate::DeliveryQueue::publish`]: callers hand their events to
//! a writer task over a channel; the writer takes everything queued, runs it
//! as one transaction on a pooled connection and answers every caller after
//! the commit. A few groups may be in flight at once ([`GROUPS`]); while all
//! of them are busy, new calls queue up and form the next, larger group.
//!
//! A group is written with a handful of array-bound statements whatever its
//! size (the fast path): idempotency keys (`INSERT … ON CONFLICT`), the
//! events, every delivery, and one `pg_notify` when unleased deliveries were
//! created. They are pipelined: without idempotency keys, `BEGIN`, the
//! inserts, the notify and the `COMMIT` go out as one flight. Should any of
//! them fail (a duplicate id, say), the transaction is rolled back and the
//! group is redone item by item, each in a savepoint of its own, so that one
//! bad item fails alone (the slow path). A group that hit a deadlock or a
//! serialization failure is tried again whole.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_postgres::types::ToSql;

use hookrelay_core::model::Event;

use super::listen::DUE;
use super::rows::qualified;
use super::Fail;
use crate::rows::{event_at, EVENT_COLS};
use crate::windows::IDEMPOTENCY_MS;
use crate::{Lease, NewEvent, Published, Result, StoreError};

/// Group transactions in flight at once.
const GROUPS: usize = 3;
/// A group stops taking queued calls once it holds this many events.
const MAX_GROUP_EVENTS: usize = 2048;
/// Tries of a group that hit a deadlock or serialization failure.
const TRIES: u32 = 4;

type Reply = Result<Vec<Result<Published>>>;

struct Job {
    events: Vec<NewEvent>,
    lease: Option<Lease>,
    reply: oneshot::Sender<Reply>,
}

/// The publish writer; see the module docs.
pub(crate) struct Writer {
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(pool: Pool, channel: Arc<str>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(rx, pool, channel));
        Self {
            queue: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
        }
    }

    /// Queues the events and waits for their group to commit.
    pub(crate) async fn publish(&self, events: Vec<NewEvent>, lease: Option<Lease>) -> Reply {
        let (reply, answer) = oneshot::channel();
        {
            let queue = self.queue.lock().expect("publish queue lock");
            let queue = queue.as_ref().ok_or(StoreError::Closed)?;
            queue
                .send(Job {
                    events,
                    lease,
                    reply,
                })
                .map_err(|_| StoreError::Closed)?;
        }
        // A writer that went away without answering has stopped.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Takes no more calls, and returns once everything queued is committed
    /// (or has failed).
    pub(crate) async fn close(&self) {
        self.queue.lock().expect("publish queue lock").take();
        let mut task = self.task.lock().await;
        if let Some(t) = task.take() {
            let _ = t.await;
        }
    }

    /// Takes no more calls; what is queued is still written.
    pub(crate) fn stop_taking(&self) {
        self.queue.lock().expect("publish queue lock").take();
    }
}

async fn run(mut queue: mpsc::UnboundedReceiver<Job>, pool: Pool, channel: Arc<str>) {
    let slots = Arc::new(Semaphore::new(GROUPS));
    let mut running = JoinSet::new();
    loop {
        // Wait for a free slot first: meanwhile calls queue up into a group.
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed");
        let Some(first) = queue.recv().await else {
            break;
        };
        let mut events = first.events.len();
        let mut group = vec![first];
        while events < MAX_GROUP_EVENTS {
            match queue.try_recv() {
                Ok(job) => {
                    events += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let (pool, channel) = (pool.clone(), channel.clone());
        running.spawn(async move {
            commit(&pool, &channel, group).await;
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// What became of one event of a group.
enum Resolution {
    Created,
    Duplicate(Box<Event>),
}

/// One event of a group with the lease its call asked for.
struct Item<'a> {
    ne: &'a NewEvent,
    lease: Option<&'a Lease>,
}

/// Writes a group (trying again after deadlocks) and answers its callers.
async fn commit(pool: &Pool, channel: &str, jobs: Vec<Job>) {
    let mut tries = 0;
    let result = loop {
        tries += 1;
        match write_group(pool, channel, &jobs).await {
            Err(f) if f.transient() && tries < TRIES => {
                tokio::time::sleep(Duration::from_millis(2 << tries)).await;
            }
            r => break r,
        }
    };
    match result {
        Ok(results) => {
            let mut results = results.into_iter();
            for job in jobs {
                let out = job
                    .events
                    .into_iter()
                    .map(|ne| match results.next().expect("one result per event") {
                        Ok(Resolution::Created) => Ok(Published::stored(
                            ne.event,
                            &ne.deliveries,
                            job.lease.is_some(),
                        )),
                        Ok(Resolution::Duplicate(first)) => Ok(Published::Duplicate(*first)),
                        Err(e) => Err(e),
                    })
                    .collect();
                let _ = job.reply.send(Ok(out));
            }
        }
        Err(f) => {
            let e = StoreError::from(f);
            tracing::warn!(error = %e, "postgres: publish group failed");
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// Whether committing these results makes unleased deliveries due.
fn makes_due(items: &[Item<'_>], results: &[Result<Resolution>]) -> bool {
    items.iter().zip(results).any(|(item, r)| {
        item.lease.is_none()
            && !item.ne.deliveries.is_empty()
            && matches!(r, Ok(Resolution::Created))
    })
}

async fn notify_due(tx: &Transaction<'_>, channel: &str) -> Result<(), Fail> {
    let stmt = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    tx.execute(&stmt, &[&channel, &DUE]).await?;
    Ok(())
}

async fn write_group(
    pool: &Pool,
    channel: &str,
    jobs: &[Job],
) -> Result<Vec<Result<Resolution>>, Fail> {
    let items: Vec<Item<'_>> = jobs
        .iter()
        .flat_map(|j| {
            j.events.iter().map(move |ne| Item {
                ne,
                lease: j.lease.as_ref(),
            })
        })
        .collect();
    let mut client = pool.get().await?;

    // Fast path: the whole group in a few statements.
    match write_items(&client, &items, Mode::Group(channel)).await {
        Ok(done) => return Ok(done.into_iter().map(Ok).collect()),
        Err(f) => {
            // Whatever was left open (a transaction already ended makes this
            // a harmless warning).
            let rolled_back = client.batch_execute("ROLLBACK").await;
            if f.transient() || f.connection() {
                return Err(f);
            }
            rolled_back?;
            if items.len() == 1 {
                // Nothing else to spare: this item simply failed.
                return Ok(vec![Err(StoreError::from(f))]);
            }
            tracing::debug!(error = %StoreError::from(f), "postgres: publish group redone item by item");
        }
    }

    // Slow path: each item in a savepoint of its own.
    let mut tx = client.transaction().await?;
    let mut results = Vec::with_capacity(items.len());
    for item in &items {
        let sp = tx.savepoint("item").await?;
        match write_items(&sp, std::slice::from_ref(item), Mode::Inside).await {
            Ok(mut done) => {
                sp.commit().await?;
                results.push(Ok(done.pop().expect("one result")));
            }
            Err(f) if f.transient() || f.connection() => return Err(f),
            Err(f) => {
                sp.rollback().await?;
                results.push(Err(StoreError::from(f)));
            }
        }
    }
    if makes_due(&items, &results) {
        notify_due(&tx, channel).await?;
    }
    tx.commit().await?;
    Ok(results)
}

static KEYS_SQL: &str =
    "INSERT INTO idempotency_keys AS k (workspace_id, key, event_id, created_at) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) \
     ON CONFLICT (workspace_id, key) DO UPDATE \
       SET event_id = EXCLUDED.event_id, created_at = EXCLUDED.created_at \
       WHERE EXCLUDED.created_at - k.created_at >= $5 \
     RETURNING k.workspace_id, k.key";

/// Takes over keys whose event is gone (the rows are locked already: the
/// `ON CONFLICT` above locks a conflicting row even when it does not update it).
static TAKE_OVER_SQL: &str = "UPDATE idempotency_keys k SET event_id = u.ev, created_at = u.at \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(ws, key, ev, at) \
     WHERE k.workspace_id = u.ws AND k.key = u.key \
       AND k.workspace_id = ANY($1::text[]) AND k.key = ANY($2::text[])";

static DUPLICATES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT k.workspace_id, k.key, {} FROM idempotency_keys k \
         LEFT JOIN events e ON e.id = k.event_id AND e.workspace_id = k.workspace_id \
         WHERE (k.workspace_id, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
           AND k.workspace_id = ANY($1::text[]) AND k.key = ANY($2::text[])",
        qualified(EVENT_COLS, "e")
    )
});

static EVENTS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO events ({EVENT_COLS}) SELECT * FROM unnest($1::text[], $2::text[], \
         $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], \
         $10::int4[], $11::bool[])"
    )
});

static DELIVERIES_SQL: &str = "INSERT INTO deliveries (id, workspace_id, event_id, endpoint_id, \
     event_type, api_version, status, attempt_count, next_attempt_at, ready_at, lease_owner, \
     manual, test, created_at, updated_at) \
     SELECT u.id, u.ws, u.ev, u.ep, u.et, u.av, 'pending', 0, u.at, u.ready, u.owner, FALSE, \
       u.test, u.at, u.at \
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
       $7::int8[], $8::int8[], $9::text[], $10::bool[]) \
       AS u(id, ws, ev, ep, et, av, at, ready, owner, test)";

/// Who owns the transaction [`write_items`] runs in.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// `write_items` begins and commits it, pipelining `BEGIN` with its first
    /// statement and the inserts with the `pg_notify` (if unleased deliveries
    /// were made, on this channel) and the `COMMIT`: a group without
    /// idempotency keys is one round trip. On failure the caller rolls back.
    Group(&'a str),
    /// The caller's (a savepoint of one item on the slow path).
    Inside,
}

/// `BEGIN`, when `yes`.
async fn begin_if<C: GenericClient + Sync>(c: &C, yes: bool) -> Result<(), Fail> {
    if yes {
        c.batch_execute("BEGIN").await?;
    }
    Ok(())
}

/// Writes `items` with array-bound statements: idempotency keys first (an
/// item whose key is held within 24 h becomes a duplicate of the event that
/// holds it), then the events and deliveries of the rest. Fails whole on any
/// error; the caller decides what to do with the transaction.
async fn write_items<C: GenericClient + Sync>(
    c: &C,
    items: &[Item<'_>],
    mode: Mode<'_>,
) -> Result<Vec<Resolution>, Fail> {
    let mut out: Vec<Option<Resolution>> = items.iter().map(|_| None).collect();
    let mut began = matches!(mode, Mode::Inside);

    let mut keyed: Vec<(usize, &str, &str)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            let ev = &it.ne.event;
            ev.idempotency_key
                .as_deref()
                .map(|k| (i, ev.workspace_id.as_str(), k))
        })
        .collect();
    if !keyed.is_empty() {
        // Sorted, so concurrent groups take key locks in one order.
        keyed.sort_by(|a, b| (a.1, a.2).cmp(&(b.1, b.2)));
        if keyed
            .windows(2)
            .any(|w| (w[0].1, w[0].2) == (w[1].1, w[1].2))
        {
            // The second use of a key within a group depends on the first:
            // the slow path takes them in order.
            return Err(Fail::Store(StoreError::internal(
                "an idempotency key is used twice in one group",
            )));
        }
        let ws: Vec<&str> = keyed.iter().map(|k| k.1).collect();
        let keys: Vec<&str> = keyed.iter().map(|k| k.2).collect();
        let ids: Vec<&str> = keyed
            .iter()
            .map(|k| items[k.0].ne.event.id.as_str())
            .collect();
        let at: Vec<i64> = keyed
            .iter()
            .map(|k| items[k.0].ne.event.created_at.0)
            .collect();
        let stmt = c.prepare_cached(KEYS_SQL).await?;
        let params: [&(dyn ToSql + Sync); 5] = [&ws, &keys, &ids, &at, &IDEMPOTENCY_MS];
        let (b, rows) = futures::join!(begin_if(c, !began), c.query(&stmt, &params));
        b?;
        began = true;
        let taken: HashSet<(String, String)> = rows?.iter().map(|r| (r.get(0), r.get(1))).collect();
        let held: Vec<&(usize, &str, &str)> = keyed
            .iter()
            .filter(|k| !taken.contains(&(k.1.to_owned(), k.2.to_owned())))
            .collect();
        if !held.is_empty() {
            let ws: Vec<&str> = held.iter().map(|k| k.1).collect();
            let keys: Vec<&str> = held.iter().map(|k| k.2).collect();
            let stmt = c.prepare_cached(&DUPLICATES_SQL).await?;
            // The event each held key names (None: it is gone).
            let mut first: HashMap<(String, String), Option<Event>> = HashMap::new();
            for row in c.query(&stmt, &[&ws, &keys]).await? {
                let ev = match row.try_get::<_, Option<String>>(2)? {
                    Some(_) => Some(event_at(&row, 2)?),
                    None => None,
                };
                first.insert((row.get(0), row.get(1)), ev);
            }
            let mut orphaned = Vec::new();
            for k in held {
                match first.get(&(k.1.to_owned(), k.2.to_owned())) {
                    Some(Some(ev)) => out[k.0] = Some(Resolution::Duplicate(Box::new(ev.clone()))),
                    // A key whose event was purged holds nothing: this event takes it.
                    Some(None) => orphaned.push(k),
                    None => {
                        return Err(Fail::Store(StoreError::unavailable(format!(
                            "idempotency key {:?} vanished meanwhile; try again",
                            k.2
                        ))))
                    }
                }
            }
            if !orphaned.is_empty() {
                let ws: Vec<&str> = orphaned.iter().map(|k| k.1).collect();
                let keys: Vec<&str> = orphaned.iter().map(|k| k.2).collect();
                let ids: Vec<&str> = orphaned
                    .iter()
                    .map(|k| items[k.0].ne.event.id.as_str())
                    .collect();
                let at: Vec<i64> = orphaned
                    .iter()
                    .map(|k| items[k.0].ne.event.created_at.0)
                    .collect();
                let stmt = c.prepare_cached(TAKE_OVER_SQL).await?;
                c.execute(&stmt, &[&ws, &keys, &ids, &at]).await?;
            }
        }
    }

    let new: Vec<&Item<'_>> = items
        .iter()
        .zip(&out)
        .filter(|(_, r)| r.is_none())
        .map(|(it, _)| it)
        .collect();

    // The events...
    let evs: Vec<&Event> = new.iter().map(|it| &it.ne.event).collect();
    let id: Vec<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    let ws: Vec<&str> = evs.iter().map(|e| e.workspace_id.as_str()).collect();
    let ty: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    let payload: Vec<&str> = evs.iter().map(|e| e.payload.as_str()).collect();
    let rtype: Vec<Option<&str>> = evs
        .iter()
        .map(|e| e.resource.as_ref().map(|r| r.kind.as_str()))
        .collect();
    let rid: Vec<Option<&str>> = evs
        .iter()
        .map(|e| e.resource.as_ref().map(|r| r.id.as_str()))
        .collect();
    let prev: Vec<Option<&str>> = evs.iter().map(|e| e.previous_data.as_deref()).collect();
    let key: Vec<Option<&str>> = evs.iter().map(|e| e.idempotency_key.as_deref()).collect();
    let at: Vec<i64> = evs.iter().map(|e| e.created_at.0).collect();
    let count: Vec<i32> = new
        .iter()
        .map(|it| i32::try_from(it.ne.deliveries.len()).unwrap_or(i32::MAX))
        .collect();
    let test: Vec<bool> = evs.iter().map(|e| e.test).collect();

    // ...and their deliveries.
    let n: usize = new.iter().map(|it| it.ne.deliveries.len()).sum();
    let mut d_id = Vec::with_capacity(n);
    let mut d_ws = Vec::with_capacity(n);
    let mut d_ev = Vec::with_capacity(n);
    let mut d_ep = Vec::with_capacity(n);
    let mut d_et = Vec::with_capacity(n);
    let mut d_av = Vec::with_capacity(n);
    let mut d_at = Vec::with_capacity(n);
    let mut d_ready = Vec::with_capacity(n);
    let mut d_owner: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut d_test = Vec::with_capacity(n);
    let mut due = false;
    for it in &new {
        let e = &it.ne.event;
        // Leased at birth: invisible to claims until the lease ends.
        let (r, o) = match it.lease {
            Some(l) => (l.until.0, Some(l.owner.as_str())),
            None => (e.created_at.0, None),
        };
        due |= it.lease.is_none() && !it.ne.deliveries.is_empty();
        for d in &it.ne.deliveries {
            d_id.push(d.id.as_str());
            d_ws.push(e.workspace_id.as_str());
            d_ev.push(e.id.as_str());
            d_ep.push(d.endpoint_id.as_str());
            d_et.push(d.event_type.as_str());
            d_av.push(d.api_version.as_str());
            d_at.push(e.created_at.0);
            d_ready.push(r);
            d_owner.push(o);
            d_test.push(e.test);
        }
    }

    let events_stmt = match new.is_empty() {
        true => None,
        false => Some(c.prepare_cached(&EVENTS_SQL).await?),
    };
    let deliveries_stmt = match n {
        0 => None,
        _ => Some(c.prepare_cached(DELIVERIES_SQL).await?),
    };
    let notify = match mode {
        Mode::Group(channel) if due => {
            Some((c.prepare_cached("SELECT pg_notify($1, $2)").await?, channel))
        }
        _ => None,
    };
    // One flight: each statement is sent when first polled, in this order.
    let (b, e, d, nt, cm) = futures::join!(
        begin_if(c, !began),
        async {
            if let Some(stmt) = &events_stmt {
                c.execute(
                    stmt,
                    &[
                        &id, &ws, &ty, &payload, &rtype, &rid, &prev, &key, &at, &count, &test,
                    ],
                )
                .await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if let Some(stmt) = &deliveries_stmt {
                c.execute(
                    stmt,
                    &[
                        &d_id, &d_ws, &d_ev, &d_ep, &d_et, &d_av, &d_at, &d_ready, &d_owner,
                        &d_test,
                    ],
                )
                .await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if let Some((stmt, channel)) = &notify {
                c.execute(stmt, &[channel, &DUE]).await?;
            }
            Ok::<_, Fail>(())
        },
        async {
            if matches!(mode, Mode::Group(_)) {
                c.batch_execute("COMMIT").await?;
            }
            Ok::<_, Fail>(())
        },
    );
    // The first failure is the cause (after it, PostgreSQL refuses the rest
    // and turns the COMMIT into a rollback).
    b?;
    e?;
    d?;
    nt?;
    cm?;
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or(Resolution::Created))
        .collect())
}
