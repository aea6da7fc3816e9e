//! The SQLite engine room: one writer thread that groups every write that
//! arrives while it is busy into one transaction and one fsync (group commit),
//! and a small pool of read connections (WAL lets them read while it writes).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use crate::{Result, StoreError};

/// Called after the group's commit with its result.
type Done = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A unit of work run inside the group's transaction.
type WriteJob = Box<dyn FnOnce(&Connection) -> Done + Send>;

/// The most writes grouped into one transaction.
const MAX_GROUP: usize = 1024;
/// Under load, how long the writer waits for more writes before committing,
/// and the group size at which it stops waiting.
const LINGER: std::time::Duration = std::time::Duration::from_micros(300);
const LINGER_BELOW: usize = 48;

fn drain(rx: &mpsc::Receiver<WriteJob>, group: &mut Vec<WriteJob>) {
    while group.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(job) => group.push(job),
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
    /// At most [`READERS`] reads run at once; the rest wait their turn
    /// instead of opening ever more connections that fight over SQLite's
    /// page-cache lock.
    reading: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
}

/// Read connections kept open, and reads run at once.
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
        // Checkpoints run on a thread of their own, so commits rarely pay for
        // them. But SQLite only rewinds the WAL when a write transaction
        // starts with every frame already checkpointed, which the background
        // thread alone never achieves under sustained writes (new frames keep
        // arriving while it copies): the WAL then grows without bound (416 MB
        // after 80,000 events in `single`) and every commit pays for new file
        // blocks. So the writer also checkpoints once the WAL passes 4,096
        // frames (~16 MiB); by then the background thread has copied nearly
        // all of it, the writer finishes the rest, and its next transaction
        // starts the WAL over.
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
        let (tx, rx) = oneshot::channel::<Result<R>>();
        let job: WriteJob = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit| {
                let r = match commit {
                    Ok(()) => result,
                    Err(e) => Err(StoreError::Database(format!("commit failed: {e}"))),
                };
                let _ = tx.send(r);
            })
        });
        {
            let guard = self.writer.lock().expect("writer lock");
            let sender = guard.as_ref().ok_or(StoreError::Closed)?;
            sender.send(job).map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on a read connection, off the async threads.
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
            let r = f(&conn);
            let mut pool = pool.lock().expect("reader pool");
            if pool.len() < READERS {
                pool.push(conn);
            }
            r
        })
        .await
        .map_err(|e| StoreError::Database(format!("reader task failed: {e}")))?
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
    let mut group: Vec<WriteJob> = Vec::with_capacity(MAX_GROUP);
    let mut done: Vec<Done> = Vec::with_capacity(MAX_GROUP);
    let mut last_group = 0usize;
    while let Ok(first) = rx.recv() {
        group.push(first);
        drain(&rx, &mut group);
        // Under concurrent load (the last group was not alone), wait a moment
        // for more writes so one fsync serves more of them. A lone write
        // (light load) is committed at once.
        if last_group > 1 && group.len() < LINGER_BELOW {
            let deadline = std::time::Instant::now() + LINGER;
            while group.len() < LINGER_BELOW {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                match rx.recv_timeout(left) {
                    Ok(job) => {
                        group.push(job);
                        drain(&rx, &mut group);
                    }
                    Err(_) => break,
                }
            }
        }
        last_group = group.len();
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = began {
            // Dropping the jobs tells each caller the write did not happen.
            group.clear();
            tracing::error!(error = %e, "sqlite: cannot begin a transaction");
            continue;
        }
        for job in group.drain(..) {
            done.push(job(&conn));
        }
        let commit = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for d in done.drain(..) {
            d(commit.as_ref().map(|_| ()));
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}
