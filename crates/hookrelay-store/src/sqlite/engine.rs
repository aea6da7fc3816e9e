//! The SQLite engine room: one writer thread that groups every write that
//! arrives while it is busy into one transaction and one fsync (group commit),
//! and a small pool of read connections (WAL lets them read while it writes).
//!
//! Each write in a group must stand or fall alone. Most writes get a
//! savepoint of their own for that. The hot ones, publishing, claiming,
//! renewing leases and recording outcomes, are *retryable* (see
//! [`Engine::write_retryable`]): they run first, without savepoints, because
//! a savepoint makes SQLite copy every page the write touches into a
//! sub-journal. If one of them fails,
//! the writer rolls the whole transaction back and runs them all again, each
//! in its own savepoint.
//!
//! Each write also has a [`Lane`]: API writes (foreground) must not wait for
//! the delivery engine's bulk work (background: claims, outcomes, leases,
//! purges). The writer decides which pending writes share the next
//! transaction (`Pending::next`): foreground writes beside bulk work go
//! first, alone; background work goes in short transactions while
//! foreground writes keep arriving, and whole otherwise.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::{Result, StoreError};

/// Called after the group's commit with its result.
type Done = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A unit of work run once inside the group's transaction, in a savepoint.
type OnceJob = Box<dyn FnOnce(&Connection) -> Done + Send>;

/// A write the writer may run twice: first without a savepoint, then (if any
/// retryable write of its group failed) again, isolated in one.
trait RetryJob: Send {
    /// Runs the write; false if it failed. `isolated`: inside a savepoint
    /// of its own, so a failure has been undone and must be reported as the
    /// write's result rather than retried.
    fn run(&mut self, conn: &Connection, isolated: bool) -> bool;
    /// Reports the result of the last run, given how the commit went.
    fn finish(self: Box<Self>, commit: Result<(), &StoreError>);
}

struct Retryable<F, R> {
    f: F,
    result: Option<Result<R>>,
    tx: oneshot::Sender<Result<R>>,
}

impl<F, R> RetryJob for Retryable<F, R>
where
    F: FnMut(&Connection, bool) -> Result<R> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection, isolated: bool) -> bool {
        let f = &mut self.f;
        let r = if isolated {
            in_savepoint(conn, |c| f(c, true))
        } else {
            f(conn, false)
        };
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &StoreError>) {
        let r = match (commit, self.result) {
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::internal("the write did not run")),
            (Err(e), _) => Err(e.clone()),
        };
        let _ = self.tx.send(r);
    }
}

/// What the writer thread receives.
enum WriteKind {
    Once(OnceJob),
    Retry(Box<dyn RetryJob>),
}

/// Who waits for a write, which decides how long it may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lane {
    /// Someone is waiting for the answer (an API request): the write must
    /// not queue behind the dispatcher's bulk work.
    Foreground,
    /// The delivery engine's bulk work (claims, outcomes, leases, purges),
    /// with the number of rows it is expected to write.
    Background { rows: usize },
}

struct WriteJob {
    kind: WriteKind,
    lane: Lane,
}

/// The most writes grouped into one transaction.
const MAX_GROUP: usize = 1024;
/// Under load (the last group was not alone), how long the writer waits for
/// more writes before committing, so that one fsync serves more of them; a
/// lone write (light load) is committed at once. A longer wait costs
/// throughput (measurements in BENCHMARKS.md).
const LINGER: std::time::Duration = std::time::Duration::from_micros(300);
/// The group size at which a lingering writer stops waiting for more writes.
const LINGER_BELOW: usize = 48;
/// Background rows at which foreground writes waiting beside them get a
/// transaction (and fsync) of their own first, instead of waiting for the
/// bulk work to be written and synced with them. Lighter background work
/// shares their transaction, and its fsync.
const SPLIT_ROWS: usize = 256;
/// Background rows one transaction takes at most while foreground writes are
/// arriving (one seen in the last [`FOREGROUND_RECENT`]), so that none waits
/// long for the transaction in progress; a single larger write still runs
/// whole. Otherwise a transaction takes everything that has arrived. The
/// bound is fixed rather than growing with what the foreground writes, so
/// that under overload API writes stay fast and deliveries wait in the
/// store, where memory is bounded (measurements in BENCHMARKS.md).
const BACKGROUND_ROWS_PER_TX: usize = 512;
/// How recently a foreground write must have arrived for foreground writes
/// to count as still arriving (see [`BACKGROUND_ROWS_PER_TX`]).
const FOREGROUND_RECENT: std::time::Duration = std::time::Duration::from_millis(50);

/// The writes of one transaction, retryable ones apart.
#[derive(Default)]
struct Group {
    retry: Vec<Box<dyn RetryJob>>,
    once: Vec<OnceJob>,
}

impl Group {
    fn push(&mut self, job: WriteKind) {
        match job {
            WriteKind::Once(j) => self.once.push(j),
            WriteKind::Retry(j) => self.retry.push(j),
        }
    }

    fn len(&self) -> usize {
        self.retry.len() + self.once.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&mut self, other: &mut Group) {
        self.retry.append(&mut other.retry);
        self.once.append(&mut other.once);
    }
}

/// What the writer has received and not yet written: foreground writes, and
/// background writes in arrival order with their expected rows.
#[derive(Default)]
struct Pending {
    foreground: Group,
    background: std::collections::VecDeque<(WriteKind, usize)>,
    background_rows: usize,
    /// The last transaction held foreground writes alone: the next one
    /// takes background work, so a steady stream of API writes cannot
    /// starve the dispatcher.
    split: bool,
    last_foreground: Option<Instant>,
}

impl Pending {
    fn push(&mut self, job: WriteJob, now: Instant) {
        match job.lane {
            Lane::Foreground => {
                self.last_foreground = Some(now);
                self.foreground.push(job.kind)
            }
            Lane::Background { rows } => {
                self.background_rows += rows;
                self.background.push_back((job.kind, rows));
            }
        }
    }

    fn len(&self) -> usize {
        self.foreground.len() + self.background.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next transaction's writes. Foreground writes never wait for
    /// more than the transaction in progress: when bulk background work is
    /// pending beside them they go first, alone; otherwise they share the
    /// transaction, and so do the foreground writes that arrive while a
    /// split-off one runs. Background work is taken oldest first; while
    /// foreground writes are arriving, only up to [`BACKGROUND_ROWS_PER_TX`]
    /// rows of it, so each transaction stays short.
    fn next(&mut self, now: Instant) -> Group {
        let mut group = Group::default();
        if !self.split && !self.foreground.is_empty() && self.background_rows >= SPLIT_ROWS {
            self.split = true;
            group.append(&mut self.foreground);
            return group;
        }
        self.split = false;
        let cap = match self.last_foreground {
            Some(t) if now.saturating_duration_since(t) < FOREGROUND_RECENT => {
                BACKGROUND_ROWS_PER_TX
            }
            _ => usize::MAX,
        };
        group.append(&mut self.foreground);
        let mut rows = 0;
        while let Some((_, r)) = self.background.front() {
            if rows > 0 && rows + r > cap {
                break;
            }
            rows += r;
            let (job, _) = self.background.pop_front().expect("front exists");
            group.push(job);
        }
        self.background_rows -= rows;
        group
    }
}

fn drain(rx: &mpsc::Receiver<WriteJob>, pending: &mut Pending) {
    while pending.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => pending.push(job, Instant::now()),
            Err(_) => break,
        }
    }
}

pub(crate) struct Engine {
    closed: Arc<std::sync::atomic::AtomicBool>,
    checkpointer: Mutex<Option<thread::JoinHandle<()>>>,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// A permit per read running, [`READERS`] in all.
    reading: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
}

/// Read connections kept open, and reads run at once: the rest wait their
/// turn instead of opening ever more connections that fight over SQLite's
/// page-cache lock.
const READERS: usize = 8;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -32000;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl Engine {
    pub(crate) fn open(
        path: &Path,
        migrate: impl FnOnce(&mut Connection) -> Result<()>,
    ) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(|e| StoreError::Open(e.to_string()))?;
        configure(&conn).map_err(|e| StoreError::Open(e.to_string()))?;
        migrate(&mut conn)?;
        // The writer touches few pages (new rows go to the right edge of
        // each index) but pays at every commit for a walk of its page-cache
        // hash table, which grows with the cache. So it gets 4 MB, plenty
        // for what it touches, rather than the readers' 32 MB (measurements
        // in BENCHMARKS.md).
        conn.execute_batch("PRAGMA cache_size = -4000")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        // Checkpoints run on a thread of their own, so commits rarely pay for
        // them. But SQLite only rewinds the WAL when a write transaction
        // starts with every frame already checkpointed, which the background
        // thread alone never achieves under sustained writes (new frames keep
        // arriving while it copies): the WAL then grows without bound and
        // every commit pays for new file blocks (measurements in
        // BENCHMARKS.md). So the writer also checkpoints once the WAL passes
        // 4,096 frames (~16 MiB); by then the background thread has copied
        // nearly all of it, the writer finishes the rest, and its next
        // transaction starts the WAL over.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 4096")
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checkpointer = {
            let cp = Connection::open(path).map_err(|e| StoreError::Open(e.to_string()))?;
            cp.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(|e| StoreError::Open(e.to_string()))?;
            let closed = closed.clone();
            thread::Builder::new()
                .name("sqlite-ckpt".into())
                .spawn(move || checkpoint_loop(cp, closed))
                .map_err(|e| StoreError::Open(e.to_string()))?
        };
        let (tx, rx) = mpsc::channel::<WriteJob>();
        let handle = thread::Builder::new()
            // Thread names fit Linux's 15-character `comm`, so `top -H` and
            // the bench (which reports this thread's CPU) can tell them apart.
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Self {
            closed,
            checkpointer: Mutex::new(Some(checkpointer)),
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Arc::new(Mutex::new(Vec::new())),
            reading: Arc::new(tokio::sync::Semaphore::new(READERS)),
            path: path.to_owned(),
        })
    }

    /// Runs `f` inside the writer's current group transaction (in a savepoint
    /// of its own, so its failure does not spoil the others) and returns once
    /// the group has committed.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        self.write_in(Lane::Foreground, f).await
    }

    /// [`Engine::write`] in the given lane.
    pub(crate) async fn write_in<R, F>(&self, lane: Lane, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R>>();
        let job: OnceJob = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit| {
                let r = match commit {
                    Ok(()) => result,
                    Err(e) => Err(e.clone()),
                };
                let _ = tx.send(r);
            })
        });
        self.submit(WriteJob {
            kind: WriteKind::Once(job),
            lane,
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Like [`Engine::write`] for a hot write that can safely run twice:
    /// `f(conn, isolated)` first runs with `isolated == false`, without a
    /// savepoint, and must then return `Err` for any failure (its partial
    /// writes are undone by rolling the whole group back). If it or another
    /// retryable write in the group failed, `f` runs again with
    /// `isolated == true` inside a savepoint of its own, with the
    /// semantics of [`Engine::write`] (it may `ROLLBACK TO w`).
    pub(crate) async fn write_retryable<R, F>(&self, lane: Lane, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnMut(&Connection, bool) -> Result<R> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R>>();
        self.submit(WriteJob {
            kind: WriteKind::Retry(Box::new(Retryable {
                f,
                result: None,
                tx,
            })),
            lane,
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn submit(&self, job: WriteJob) -> Result<()> {
        let guard = self.writer.lock().expect("writer lock");
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on a read connection, off the async threads, in one read
    /// transaction (one snapshot of the database).
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let permit = self
            .reading
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.lock().expect("reader pool").pop();
            let conn = match conn {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(std::time::Duration::from_secs(10))?;
                    c.set_prepared_statement_cache_capacity(64);
                    c
                }
            };
            // One snapshot for the whole read: a read that looks in two
            // places (a delivery's row, then its fan-out row) must not see a
            // claim that moved it from one to the other in between.
            let r = conn
                .unchecked_transaction()
                .map_err(StoreError::from)
                .and_then(|tx| {
                    let r = f(&tx);
                    // Read only: ending it cannot lose anything.
                    let _ = tx.finish();
                    r
                });
            let mut pool = pool.lock().expect("reader pool");
            if pool.len() < READERS {
                pool.push(conn);
            }
            r
        })
        .await
        .map_err(|e| {
            StoreError::with_source(crate::ErrorKind::Internal, "a database reader failed", e)
        })?
    }

    /// Stops taking writes, lets the writer finish what it has, and joins it.
    pub(crate) async fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.writer.lock().expect("writer lock").take();
        let handle = self.writer_thread.lock().expect("writer lock").take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        let cp = self.checkpointer.lock().expect("checkpointer lock").take();
        if let Some(h) = cp {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        self.readers.lock().expect("reader pool").clear();
    }
}

/// Moves WAL content into the database file a few times a second (PASSIVE:
/// never blocks the writer or readers), until the engine closes.
fn checkpoint_loop(conn: Connection, closed: Arc<std::sync::atomic::AtomicBool>) {
    while !closed.load(std::sync::atomic::Ordering::Acquire) {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::debug!(error = %e, "sqlite: checkpoint skipped");
        }
    }
}

/// Runs `f` in savepoint `w` (the SQLite module may `ROLLBACK TO w` inside it).
fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
    conn.prepare_cached("SAVEPOINT w")?.execute([])?;
    match f(conn) {
        Ok(r) => {
            conn.prepare_cached("RELEASE w")?.execute([])?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO w; RELEASE w");
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteJob>) {
    let mut pending = Pending::default();
    let mut done: Vec<Done> = Vec::with_capacity(MAX_GROUP);
    let mut last_group = 0usize;
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(job) => pending.push(job, Instant::now()),
                Err(_) => break,
            }
        }
        drain(&rx, &mut pending);
        // Under concurrent load (the last group was not alone), wait up to
        // `LINGER` for more writes. A lone write is committed at once.
        if last_group > 1 && pending.len() < LINGER_BELOW {
            let deadline = std::time::Instant::now() + LINGER;
            while pending.len() < LINGER_BELOW {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(job) => {
                        pending.push(job, Instant::now());
                        drain(&rx, &mut pending);
                    }
                    Err(_) => break,
                }
            }
        }
        let group = pending.next(Instant::now());
        last_group = group.len();
        run_group(&conn, group, &mut done);
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// Runs one group of writes in one transaction and reports each result once
/// it has committed (or failed to).
fn run_group(conn: &Connection, mut group: Group, done: &mut Vec<Done>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping the jobs tells each caller the write did not happen.
        tracing::error!(error = %e, "sqlite: cannot begin a transaction");
        return;
    }
    // Retryable writes first, without savepoints; if one fails, start
    // over with each of them in a savepoint of its own. The others run
    // only after that, so none of them ever runs twice.
    let mut failed = false;
    for job in &mut group.retry {
        if !job.run(conn, false) {
            failed = true;
            break;
        }
    }
    if failed {
        let again = conn
            .execute_batch("ROLLBACK")
            .and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
        if let Err(e) = again {
            tracing::error!(error = %e, "sqlite: cannot restart a transaction");
            return;
        }
        for job in &mut group.retry {
            job.run(conn, true);
        }
    }
    for job in group.once.drain(..) {
        done.push(job(conn));
    }
    let commit = conn.execute_batch("COMMIT").map_err(StoreError::from);
    if commit.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for job in group.retry.drain(..) {
        job.finish(commit.as_ref().map(|_| ()));
    }
    for d in done.drain(..) {
        d(commit.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<&'static str>>>;

    fn job(log: &Log, name: &'static str, lane: Lane) -> WriteJob {
        let log = log.clone();
        WriteJob {
            kind: WriteKind::Once(Box::new(move |_| {
                log.lock().unwrap().push(name);
                Box::new(|_| {})
            })),
            lane,
        }
    }

    fn bg(rows: usize) -> Lane {
        Lane::Background { rows }
    }

    /// The writes of the next transaction, by name, in the order they run.
    fn next(p: &mut Pending, log: &Log, now: Instant) -> Vec<&'static str> {
        let conn = Connection::open_in_memory().unwrap();
        for j in p.next(now).once {
            let _ = j(&conn);
        }
        std::mem::take(&mut *log.lock().unwrap())
    }

    #[test]
    fn api_writes_beside_bulk_work_commit_first_alone_then_with_it() {
        let (log, mut p, now) = (Log::default(), Pending::default(), Instant::now());
        p.push(job(&log, "claim", bg(SPLIT_ROWS)), now);
        p.push(job(&log, "publish", Lane::Foreground), now);
        assert_eq!(next(&mut p, &log, now), ["publish"]);
        // Those that arrive meanwhile join the bulk work: API writes never
        // starve it.
        p.push(job(&log, "publish 2", Lane::Foreground), now);
        assert_eq!(next(&mut p, &log, now), ["publish 2", "claim"]);
        assert!(p.is_empty());
    }

    #[test]
    fn api_writes_share_a_transaction_with_light_background_work() {
        let (log, mut p, now) = (Log::default(), Pending::default(), Instant::now());
        p.push(job(&log, "outcomes", bg(SPLIT_ROWS - 1)), now);
        p.push(job(&log, "publish", Lane::Foreground), now);
        assert_eq!(next(&mut p, &log, now), ["publish", "outcomes"]);
        assert!(p.is_empty());
    }

    #[test]
    fn bulk_work_is_cut_into_short_transactions_only_while_api_writes_arrive() {
        let (log, mut p, now) = (Log::default(), Pending::default(), Instant::now());
        let half = BACKGROUND_ROWS_PER_TX / 2;
        p.push(job(&log, "publish", Lane::Foreground), now);
        for name in ["a", "b", "c"] {
            p.push(job(&log, name, bg(half)), now);
        }
        p.push(job(&log, "huge", bg(4 * BACKGROUND_ROWS_PER_TX)), now);
        p.push(job(&log, "d", bg(half)), now);
        assert_eq!(next(&mut p, &log, now), ["publish"]);
        assert_eq!(next(&mut p, &log, now), ["a", "b"]);
        assert_eq!(next(&mut p, &log, now), ["c"]);
        // One write bigger than the bound still runs, whole and alone.
        assert_eq!(next(&mut p, &log, now), ["huge"]);
        // Once the API has been quiet a while, the rest goes in one.
        p.push(job(&log, "e", bg(half)), now);
        p.push(job(&log, "f", bg(half)), now);
        let later = now + FOREGROUND_RECENT;
        assert_eq!(next(&mut p, &log, later), ["d", "e", "f"]);
        assert!(p.is_empty());
    }

    /// A claim that ran in a group rolled back because of another write runs
    /// again; its first run learned that nothing else was due, but the
    /// rollback put back the rows it took, so the second run must not
    /// believe it (it would claim nothing, and leave them unclaimed).
    #[test]
    fn a_claim_run_again_after_a_rollback_claims_what_the_rollback_put_back() {
        use crate::sqlite::{claim_job, due::DueScan, migrate, ClaimPiece};
        use hookrelay_core::time::Timestamp;

        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, workspace_id, event_type, payload, created_at, delivery_count)
               VALUES ('evt_01JAAAAAAAAAAAAAAAAAAAAAAA', 'workspace_1', 'card.created', '{}', 1000, 3);",
        )
        .unwrap();
        for i in 0..3 {
            conn.execute(
                "INSERT INTO deliveries (id, workspace_id, event_id, endpoint_id, event_type, api_version,
                   status, next_attempt_at, ready_at, created_at, updated_at)
                 VALUES (?1, 'workspace_1', 'evt_01JAAAAAAAAAAAAAAAAAAAAAAA', 'wh_1', 'card.created',
                   '2024-01-01', 'pending', 1000, 1000, 1000, 1000)",
                [format!("del_{i}")],
            )
            .unwrap();
        }
        let due = Arc::new(Mutex::new(DueScan::default()));
        let lease = crate::Lease {
            owner: "node".into(),
            until: Timestamp(70_000),
        };
        let (claim_tx, mut claimed) = oneshot::channel();
        let claim = Retryable {
            f: claim_job(
                ClaimPiece {
                    now: Timestamp(2000),
                    lease,
                    ws: Arc::from("workspace_1"),
                    limit: 10,
                    default_room: None,
                },
                Arc::default(),
                due.clone(),
            ),
            result: None,
            tx: claim_tx,
        };
        let (fail_tx, mut failed) = oneshot::channel::<Result<()>>();
        let failing = Retryable {
            f: |_: &Connection, _| Err(StoreError::conflict("this write fails")),
            result: None,
            tx: fail_tx,
        };
        let group = Group {
            retry: vec![Box::new(claim), Box::new(failing)],
            once: Vec::new(),
        };
        run_group(&conn, group, &mut Vec::new());
        assert!(matches!(
            failed.try_recv(),
            Ok(Err(e)) if e.kind() == crate::ErrorKind::Conflict
        ));
        let got = claimed.try_recv().unwrap().unwrap();
        assert_eq!(got.len(), 3, "the second run claims all three");
        let leased: i64 = conn
            .query_row(
                "SELECT count(*) FROM deliveries WHERE lease_owner = 'node'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(leased, 3, "and their leases are committed");
    }
}
