//! The embedded SQLite backend: one database file, WAL mode, `synchronous =
//! FULL` (a commit is on disk before the caller hears of it), a single writer
//! thread doing group commit and a pool of readers. A lock file next to the
//! database makes sure only one process uses it.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{Attempt, Delivery, Endpoint, Event, Subscription};
use hookrelay_core::secret::{ApiKeyHash, TokenHash};
use hookrelay_core::time::Timestamp;

use crate::crypt::{self, Crypt, Reseal, SealingCensus, SecretCols};
use crate::list::{self, ListSql, Placeholder};
use crate::outcome::{self, EndpointEffects};
use crate::rows::*;
use crate::stats::{Increments, Ranges, Rollup};
use crate::windows;
use crate::{
    ApiKeyRecord, Backlog, Bucket, Claim, DashboardSession, DeliveryFilter, DeliveryQueue,
    DeliverySummary, DueDelivery, EndpointFilter, EventFilter, Lease, NewEvent, Outcome, Page,
    PageRequest, PortalLink, Published, Purged, Redemption, Result, StatsBucket, Store, StoreError,
    SubscriptionFilter, Totals, Window, Workspace,
};

mod due;
mod engine;
mod fanout;
mod rows;
mod stats;

use due::DueScan;
use engine::{Engine, Lane};
use rows::*;

const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("migrate_2.sql"),
    include_str!("migrate_3.sql"),
    include_str!("migrate_4.sql"),
    include_str!("migrate_5.sql"),
    include_str!("migrate_6.sql"),
    include_str!("migrate_7.sql"),
];

/// See the module docs.
pub struct SqliteStore {
    engine: Engine,
    /// Seals and opens secret values ([`crate::crypt`]).
    crypt: Crypt,
    path: std::path::PathBuf,
    /// Shared with the writer thread's jobs; see [`due`].
    due: Arc<std::sync::Mutex<DueScan>>,
    _lock: File,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // A migration may replace secrets (history's header values): see
    // `scrubbing`.
    conn.execute_batch(SCRUB_ON)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    conn.execute_batch(SCRUB_OFF)?;
    Ok(())
}

/// `secure_delete = FAST` while values that were secrets in plaintext are
/// replaced (sealing, rotation, the history redaction migration): the
/// space a replaced cell leaves on its page is zeroed (at no extra I/O), so
/// the old value does not linger in the file; then the WAL is emptied
/// ([`SqliteStore::truncate_wal`]). Only then: on every write it costs
/// ≈ 0.7 % of the server's instructions (`single --events 3000`, zeroing
/// pages as they are reused), for ciphertext that needs no zeroing.
const SCRUB_ON: &str = "PRAGMA secure_delete = FAST";
const SCRUB_OFF: &str = "PRAGMA secure_delete = OFF";

/// The key file a start without configured keys generates beside the
/// database, in the data directory.
pub const KEY_FILE: &str = "encryption.key";

/// Makes the directory of the database at `db` readable by this user
/// alone: created 0700 (with any missing parents) if it does not exist.
/// An existing one that others may enter is narrowed to 0700 when it holds
/// nothing but this database's files and the key file, since it is then
/// hookrelay's own; otherwise (it may be shared, like the working
/// directory) it is left as it is, with a warning.
pub fn create_private_dir(db: &Path) -> std::io::Result<()> {
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if !dir.is_dir() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        return b.create(dir);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 == 0 {
            return Ok(());
        }
        let db_name = db.file_name().unwrap_or_default().as_encoded_bytes();
        let ours = std::fs::read_dir(dir)?.all(|e| {
            e.is_ok_and(|e| {
                let name = e.file_name();
                name == KEY_FILE || name.as_encoded_bytes().starts_with(db_name)
            })
        });
        let narrowed = ours
            && std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700)).is_ok();
        if !narrowed {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory is open to other users, and is not hookrelay's alone (it \
                 holds other files, or another user owns it), so it is left as it is; 0700 \
                 is advised"
            );
        }
    }
    Ok(())
}

/// Opens (creating if needed) a file readable and writable by this user
/// alone, and takes away what others may do with an existing one.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(f)
}

/// `path` with `suffix` appended to its file name (`-wal`, `.lock`).
fn beside(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, takes the lock
    /// file next to it and applies migrations. Values are written in
    /// plaintext until [`SqliteStore::with_crypt`] gives it keys.
    ///
    /// The data directory is made private ([`create_private_dir`]); the
    /// database file is created 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm` files
    /// the database's mode), and an existing database, WAL, shared-memory
    /// or lock file open to others is narrowed to 0600.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |p: &Path, e: std::io::Error| StoreError::Open(format!("{}: {e}", p.display()));
        create_private_dir(path).map_err(|e| io(path.parent().unwrap_or(path), e))?;
        let lock_path = beside(path, ".lock");
        let lock = create_private_file(&lock_path).map_err(|e| io(&lock_path, e))?;
        lock.try_lock().map_err(|_| {
            StoreError::Open(format!(
                "{} is in use by another hookrelay process (SQLite is single-node; use PostgreSQL to run several)",
                path.display()
            ))
        })?;
        // Once the lock is ours: no other process is using these files.
        create_private_file(path).map_err(|e| io(path, e))?;
        for suffix in ["-wal", "-shm"] {
            let p = beside(path, suffix);
            if p.exists() {
                create_private_file(&p).map_err(|e| io(&p, e))?;
            }
        }
        let engine = Engine::open(path, migrate)?;
        Ok(Self {
            engine,
            crypt: Crypt::none(),
            path: path.to_owned(),
            due: Arc::default(),
            _lock: lock,
        })
    }
}

impl SqliteStore {
    /// Seals secret values with `crypt` from now on (see [`crate::crypt`]).
    pub fn with_crypt(mut self, crypt: Crypt) -> Self {
        self.crypt = crypt;
        self
    }

    /// Copies the WAL into the database and empties it, so the pages that
    /// held values before they were re-sealed leave the WAL too (the
    /// database's own pages had the old cells zeroed, see [`SCRUB_ON`]). Best effort: busy readers make it a no-op,
    /// and the next checkpoint that finds none does it.
    async fn truncate_wal(&self) {
        let path = self.path.clone();
        let done = tokio::task::spawn_blocking(move || {
            let c = Connection::open(&path)?;
            c.busy_timeout(std::time::Duration::from_secs(1))?;
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        })
        .await;
        if let Ok(Err(e)) = done {
            tracing::debug!(error = %e, "sqlite: truncating the WAL after re-sealing skipped");
        }
    }

    /// Deletes the rollup rows [`windows::stats_cutoff`] gives up, per
    /// workspace in chunks, each its own write; returns how many.
    async fn purge_stats(&self, before: Timestamp) -> Result<u64> {
        const CHUNK: i64 = 2000;
        let mut n = 0;
        for r in Rollup::ALL {
            let cut = windows::stats_cutoff(r, before);
            for ws in self.engine.read(move |c| stats::workspaces(c, r)).await? {
                let ws: Arc<str> = ws.into();
                loop {
                    let ws = ws.clone();
                    let done = self
                        .engine
                        .write_in(
                            Lane::Background {
                                rows: CHUNK as usize,
                            },
                            move |c| stats::purge_chunk(c, r, &ws, cut, CHUNK),
                        )
                        .await?;
                    n += done;
                    if done < CHUNK as u64 {
                        break;
                    }
                }
            }
        }
        Ok(n)
    }
}

/// Endpoint rows re-sealed per write.
const RESEAL_BATCH: i64 = 100;

/// `id, secret, previous_secret, advanced_options` of an endpoint row.
fn secret_cols(r: &Row<'_>) -> Result<SecretCols> {
    Ok(SecretCols {
        id: r.get(0)?,
        secret: r.get(1)?,
        previous: r.get(2)?,
        options: r.get(3)?,
    })
}

/// Runs a list query for one page.
fn run_page<T>(
    conn: &Connection,
    q: &ListSql,
    limit: u32,
    decode: impl Fn(&Row<'_>) -> Result<T>,
    id_of: impl Fn(&T) -> String,
) -> Result<Page<T>> {
    let params = q.params.iter().map(|v| match v {
        list::Value::Text(s) => SqlValue::Text(s.clone()),
        list::Value::Int(i) => SqlValue::Integer(*i),
    });
    let mut stmt = conn.prepare_cached(&q.sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(decode(row)?);
    }
    Ok(list::page_of(items, limit, id_of))
}

fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

fn load_event(conn: &Connection, ws: Option<&str>, id: &str) -> Result<Option<Event>> {
    let sql = format!(
        "SELECT {EVENT_COLS} FROM events WHERE id = ?1 AND (?2 IS NULL OR workspace_id = ?2)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id, ws])?;
    match rows.next()? {
        Some(row) => Ok(Some(event_at(row, 0)?)),
        None => Ok(None),
    }
}

/// Loads deliveries by id together with their events (shared per event).
fn load_due(conn: &Connection, ids: &[String]) -> Result<Vec<DueDelivery>> {
    let mut out = Vec::with_capacity(ids.len());
    let mut events: std::collections::HashMap<String, Arc<Event>> =
        std::collections::HashMap::new();
    let sql = format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    for id in ids {
        let mut rows = stmt.query(params![id])?;
        let Some(row) = rows.next()? else { continue };
        let (d, manual) = delivery_manual(row)?;
        let ev = match events.get(d.event_id.as_str()) {
            Some(e) => e.clone(),
            None => {
                let Some(e) = load_event(conn, None, d.event_id.as_str())? else {
                    continue;
                };
                let e = Arc::new(e);
                events.insert(d.event_id.to_string(), e.clone());
                e
            }
        };
        out.push(DueDelivery {
            delivery: d,
            event: ev,
            manual,
        });
    }
    Ok(out)
}

fn insert_attempt(conn: &Connection, delivery_id: &str, number: u32, a: &Attempt) -> Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO attempts (delivery_id, {ATTEMPT_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
    ))?;
    stmt.execute(params![
        delivery_id,
        number,
        a.started_at.0,
        a.duration_ms,
        a.request_url,
        serde_json::to_string(&a.request_headers)?,
        a.response_status,
        serde_json::to_string(&a.response_headers)?,
        a.response_body,
        a.error_kind.map(|k| k.as_str()),
        a.error_message,
    ])?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_workspace(&self, ws: &Workspace) -> Result<()> {
        let ws = ws.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO workspaces (id, name, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![ws.id.as_str(), ws.name, ws.created_at.0])?;
                Ok(())
            })
            .await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        let id = id.to_string();
        self.engine
            .read(move |c| {
                let sql = format!("SELECT {WORKSPACE_COLS} FROM workspaces WHERE id = ?1");
                Ok(query_all(c, &sql, params![id], |r| workspace(r))?
                    .into_iter()
                    .next())
            })
            .await
    }

    async fn find_workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        let name = name.to_owned();
        self.engine
            .read(move |c| {
                let sql = format!(
                    "SELECT {WORKSPACE_COLS} FROM workspaces WHERE name = ?1 ORDER BY id LIMIT 1"
                );
                Ok(query_all(c, &sql, params![name], |r| workspace(r))?
                    .into_iter()
                    .next())
            })
            .await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let k = key.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO api_keys ({API_KEY_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7)"
                ))?
                .execute(params![
                    k.id.as_str(),
                    k.workspace_id.as_str(),
                    k.name,
                    k.prefix,
                    k.hash.to_hex(),
                    k.created_at.0,
                    k.revoked_at.map(|t| t.0)
                ])?;
                Ok(())
            })
            .await
    }

    async fn find_api_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>> {
        let h = hash.to_hex();
        self.engine
            .read(move |c| {
                let sql = format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = ?1");
                Ok(query_all(c, &sql, params![h], |r| api_key(r))?
                    .into_iter()
                    .next())
            })
            .await
    }

    async fn list_api_keys(
        &self,
        ws: &WorkspaceId,
        page: &PageRequest,
    ) -> Result<Page<ApiKeyRecord>> {
        let q = list::api_keys(API_KEY_COLS, ws).render(page, Placeholder::Question);
        let limit = page.limit;
        self.engine
            .read(move |c| run_page(c, &q, limit, |r| api_key(r), |k| k.id.to_string()))
            .await
    }

    async fn revoke_api_key(&self, ws: &WorkspaceId, id: &ApiKeyId, at: Timestamp) -> Result<bool> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND workspace_id = ?2 AND revoked_at IS NULL",
                    )?
                    .execute(params![id, ws, at.0])?;
                if n > 0 {
                    c.prepare_cached("DELETE FROM dashboard_sessions WHERE api_key_id = ?1")?
                        .execute(params![id])?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn list_workspaces(&self, page: &PageRequest) -> Result<Page<Workspace>> {
        let q = list::workspaces(WORKSPACE_COLS).render(page, Placeholder::Question);
        let limit = page.limit;
        self.engine
            .read(move |c| run_page(c, &q, limit, |r| workspace(r), |w| w.id.to_string()))
            .await
    }

    async fn create_dashboard_session(&self, s: &DashboardSession) -> Result<()> {
        let s = s.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(&format!(
                    "INSERT INTO dashboard_sessions ({SESSION_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
                ))?
                .execute(params![
                    s.token_hash.to_hex(),
                    s.workspace_id.as_ref().map(|w| w.as_str()),
                    s.kind.as_str(),
                    s.api_key_id.as_ref().map(|k| k.as_str()),
                    s.read_only,
                    s.csrf_token.expose(),
                    s.created_at.0,
                    s.last_seen_at.0,
                    s.idle_timeout_ms,
                    s.expires_at.0,
                ])?;
                Ok(())
            })
            .await
    }

    async fn get_dashboard_session(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DashboardSession>> {
        let h = hash.to_hex();
        self.engine
            .read(move |c| {
                let sql = format!(
                    "SELECT {SESSION_COLS} FROM dashboard_sessions WHERE token_hash = ?1 \
                     AND expires_at > ?2 AND last_seen_at + idle_timeout_ms > ?2"
                );
                Ok(
                    query_all(c, &sql, params![h, now.0], |r| dashboard_session(r))?
                        .into_iter()
                        .next(),
                )
            })
            .await
    }

    async fn touch_dashboard_session(&self, hash: &TokenHash, at: Timestamp) -> Result<()> {
        let h = hash.to_hex();
        self.engine
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE dashboard_sessions SET last_seen_at = ?2 WHERE token_hash = ?1 \
                     AND last_seen_at < ?2 AND expires_at > ?2 AND last_seen_at + idle_timeout_ms > ?2",
                )?
                .execute(params![h, at.0])?;
                Ok(())
            })
            .await
    }

    async fn set_dashboard_session_workspace(
        &self,
        hash: &TokenHash,
        ws: &WorkspaceId,
    ) -> Result<bool> {
        let (h, ws) = (hash.to_hex(), ws.to_string());
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE dashboard_sessions SET workspace_id = ?2 WHERE token_hash = ?1 AND kind = 'admin'",
                    )?
                    .execute(params![h, ws])?;
                Ok(n > 0)
            })
            .await
    }

    async fn delete_dashboard_session(&self, hash: &TokenHash) -> Result<bool> {
        let h = hash.to_hex();
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached("DELETE FROM dashboard_sessions WHERE token_hash = ?1")?
                    .execute(params![h])?;
                Ok(n > 0)
            })
            .await
    }

    async fn create_portal_link(&self, link: &PortalLink) -> Result<()> {
        let l = link.clone();
        self.engine
            .write(move |c| {
                c.prepare_cached(&format!(
                    "INSERT INTO portal_links ({PORTAL_LINK_COLS}) VALUES (?1,?2,?3,?4,?5,?6)"
                ))?
                .execute(params![
                    l.token_hash.to_hex(),
                    l.workspace_id.as_str(),
                    l.read_only,
                    l.created_at.0,
                    l.expires_at.0,
                    l.used_at.map(|t| t.0),
                ])?;
                Ok(())
            })
            .await
    }

    async fn redeem_portal_link(&self, hash: &TokenHash, now: Timestamp) -> Result<Redemption> {
        let h = hash.to_hex();
        // One job on the one writer thread: no other write comes between
        // the check and the update.
        self.engine
            .write(move |c| {
                let sql = format!(
                    "UPDATE portal_links SET used_at = ?2 WHERE token_hash = ?1 \
                     AND used_at IS NULL AND expires_at > ?2 RETURNING {PORTAL_LINK_COLS}"
                );
                if let Some(link) = query_all(c, &sql, params![h, now.0], |r| portal_link(r))?
                    .into_iter()
                    .next()
                {
                    return Ok(Redemption::Opened(link));
                }
                let sql =
                    format!("SELECT {PORTAL_LINK_COLS} FROM portal_links WHERE token_hash = ?1");
                let found = query_all(c, &sql, params![h], |r| portal_link(r))?;
                Ok(match found.into_iter().next() {
                    None => Redemption::Unknown,
                    Some(l) if l.used_at.is_some() => Redemption::AlreadyUsed,
                    Some(_) => Redemption::Expired,
                })
            })
            .await
    }

    async fn insert_endpoint(&self, e: &Endpoint, max_per_workspace: Option<u32>) -> Result<()> {
        let values = endpoint_values(e, &self.crypt)?;
        let ws = e.workspace_id.to_string();
        self.engine
            .write(move |c| {
                // Counted in the insert's own write: the one writer thread
                // runs writes one at a time, so no other insert comes between.
                if let Some(limit) = max_per_workspace {
                    let n: i64 = c
                        .prepare_cached(
                            "SELECT COUNT(*) FROM endpoints WHERE workspace_id = ?1 AND deleted_at IS NULL",
                        )?
                        .query_row(params![ws], |r| r.get(0))?;
                    if n >= i64::from(limit) {
                        return Err(StoreError::QuotaExceeded {
                            what: "endpoints",
                            limit,
                        });
                    }
                }
                let placeholders = (1..=values.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",");
                c.prepare_cached(&format!(
                    "INSERT INTO endpoints ({ENDPOINT_COLS}) VALUES ({placeholders})"
                ))?
                .execute(params_from_iter(values))?;
                Ok(())
            })
            .await
    }

    async fn update_endpoint(&self, e: &Endpoint, if_updated_at: Timestamp) -> Result<bool> {
        let mut values = endpoint_values(e, &self.crypt)?;
        values.push(SqlValue::Integer(if_updated_at.0));
        self.engine
            .write(move |c| {
                // Never rewritten by an update: identity, creation and the failure record.
                const KEEP: &[&str] = &["id", "workspace_id", "created_at", "created_by", "failing_since"];
                let cols: Vec<&str> = ENDPOINT_COLS.split(',').map(str::trim).collect();
                let sets = cols
                    .iter()
                    .enumerate()
                    .filter(|(_, col)| !KEEP.contains(col))
                    .map(|(i, col)| format!("{col} = ?{}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", ");
                // Re-enabling starts the failure record afresh.
                let sets = format!(
                    "{sets}, failing_since = CASE WHEN status != 'enabled' AND ?5 = 'enabled' THEN NULL ELSE failing_since END"
                );
                let n_expect = values.len();
                let sql = format!(
                    "UPDATE endpoints SET {sets} WHERE id = ?1 AND workspace_id = ?2 AND deleted_at IS NULL AND updated_at = ?{n_expect}"
                );
                let n = c.prepare_cached(&sql)?.execute(params_from_iter(values))?;
                Ok(n > 0)
            })
            .await
    }

    async fn get_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> Result<Option<Endpoint>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        let crypt = self.crypt.clone();
        self.engine
            .read(move |c| {
                let sql = format!(
                    "SELECT {ENDPOINT_COLS} FROM endpoints WHERE id = ?1 AND workspace_id = ?2 AND deleted_at IS NULL"
                );
                Ok(query_all(c, &sql, params![id, ws], |r| endpoint(r, &crypt))?.into_iter().next())
            })
            .await
    }

    async fn list_endpoints(
        &self,
        ws: &WorkspaceId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>> {
        let q = list::endpoints(ENDPOINT_COLS, ws, filter).render(page, Placeholder::Question);
        let limit = page.limit;
        let crypt = self.crypt.clone();
        self.engine
            .read(move |c| run_page(c, &q, limit, |r| endpoint(r, &crypt), |e| e.id.to_string()))
            .await
    }

    async fn delete_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &EndpointId,
        at: Timestamp,
    ) -> Result<bool> {
        let (ws, id) = (ws.to_string(), id.to_string());
        let due = self.due.clone();
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE endpoints SET deleted_at = ?3, updated_at = ?3 WHERE id = ?1 AND workspace_id = ?2 AND deleted_at IS NULL",
                    )?
                    .execute(params![id, ws, at.0])?;
                if n == 0 {
                    return Ok(false);
                }
                // Its pending deliveries include fan-out entries: rows first.
                fanout::expand_mentioning(c, &ws, &id, &due)?;
                c.prepare_cached("DELETE FROM subscriptions WHERE endpoint_id = ?1")?
                    .execute(params![id])?;
                c.prepare_cached(
                    "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, updated_at = ?2 \
                     WHERE endpoint_id = ?1 AND status = 'pending'",
                )?
                .execute(params![id, at.0])?;
                Ok(true)
            })
            .await
    }

    async fn load_routing(
        &self,
        ws: Option<&WorkspaceId>,
    ) -> Result<(Vec<Endpoint>, Vec<Subscription>)> {
        let ws = ws.map(|w| w.to_string());
        let crypt = self.crypt.clone();
        self.engine
            .read(move |c| {
                let eps = query_all(
                    c,
                    &format!(
                        "SELECT {ENDPOINT_COLS} FROM endpoints WHERE deleted_at IS NULL AND (?1 IS NULL OR workspace_id = ?1) ORDER BY id"
                    ),
                    params![ws],
                    |r| endpoint(r, &crypt),
                )?;
                let subs = query_all(
                    c,
                    &format!(
                        "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE (?1 IS NULL OR workspace_id = ?1) ORDER BY id"
                    ),
                    params![ws],
                    |r| subscription(r),
                )?;
                Ok((eps, subs))
            })
            .await
    }

    async fn upsert_subscription(
        &self,
        s: &Subscription,
        max_per_workspace: Option<u32>,
    ) -> Result<(Subscription, bool)> {
        let s = s.clone();
        self.engine
            .write(move |c| {
                let events = serde_json::to_string(&s.enabled_events)?;
                let existing = query_all(
                    c,
                    &format!(
                        "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE endpoint_id = ?1 AND resource_type = ?2 AND resource_id = ?3"
                    ),
                    params![s.endpoint_id.as_str(), s.resource_type.as_str(), s.resource_id],
                    |r| subscription(r),
                )?
                .into_iter()
                .next();
                match existing {
                    Some(mut old) => {
                        c.prepare_cached("UPDATE subscriptions SET enabled_events = ?2 WHERE id = ?1")?
                            .execute(params![old.id.as_str(), events])?;
                        old.enabled_events = s.enabled_events;
                        Ok((old, false))
                    }
                    None => {
                        if let Some(limit) = max_per_workspace {
                            let n: i64 = c
                                .prepare_cached(
                                    "SELECT COUNT(*) FROM subscriptions WHERE workspace_id = ?1",
                                )?
                                .query_row(params![s.workspace_id.as_str()], |r| r.get(0))?;
                            if n >= i64::from(limit) {
                                return Err(StoreError::QuotaExceeded {
                                    what: "subscriptions",
                                    limit,
                                });
                            }
                        }
                        c.prepare_cached(&format!(
                            "INSERT INTO subscriptions ({SUBSCRIPTION_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7)"
                        ))?
                        .execute(params![
                            s.id.as_str(),
                            s.workspace_id.as_str(),
                            s.endpoint_id.as_str(),
                            s.resource_type.as_str(),
                            s.resource_id,
                            events,
                            s.created_at.0
                        ])?;
                        Ok((s, true))
                    }
                }
            })
            .await
    }

    async fn update_subscription_events(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
        events: &[String],
    ) -> Result<Option<Subscription>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        let events = serde_json::to_string(events)?;
        self.engine
            .write(move |c| {
                c.prepare_cached("UPDATE subscriptions SET enabled_events = ?3 WHERE id = ?1 AND workspace_id = ?2")?
                    .execute(params![id, ws, events])?;
                Ok(query_all(
                    c,
                    &format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = ?1 AND workspace_id = ?2"),
                    params![id, ws],
                    |r| subscription(r),
                )?
                .into_iter()
                .next())
            })
            .await
    }

    async fn get_subscription(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.engine
            .read(move |c| {
                Ok(query_all(
                    c,
                    &format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = ?1 AND workspace_id = ?2"),
                    params![id, ws],
                    |r| subscription(r),
                )?
                .into_iter()
                .next())
            })
            .await
    }

    async fn list_subscriptions(
        &self,
        ws: &WorkspaceId,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let q =
            list::subscriptions(SUBSCRIPTION_COLS, ws, filter).render(page, Placeholder::Question);
        let limit = page.limit;
        self.engine
            .read(move |c| run_page(c, &q, limit, |r| subscription(r), |s| s.id.to_string()))
            .await
    }

    async fn delete_subscription(&self, ws: &WorkspaceId, id: &SubscriptionId) -> Result<bool> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "DELETE FROM subscriptions WHERE id = ?1 AND workspace_id = ?2",
                    )?
                    .execute(params![id, ws])?;
                Ok(n > 0)
            })
            .await
    }

    async fn get_event(
        &self,
        ws: &WorkspaceId,
        id: &EventId,
    ) -> Result<Option<(Event, Vec<DeliverySummary>)>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        self.engine
            .read(move |c| {
                let Some(ev) = load_event(c, Some(&ws), &id)? else {
                    return Ok(None);
                };
                let mut summaries = query_all(
                    c,
                    "SELECT id, endpoint_id, status, attempt_count FROM deliveries WHERE event_id = ?1 ORDER BY id",
                    params![id],
                    |r| summary(r),
                )?;
                // Deliveries not yet written out of the event's fan-out row.
                summaries.extend(fanout::read_event(c, &ws, &id)?.into_iter().map(|d| {
                    DeliverySummary {
                        delivery_id: d.id,
                        endpoint_id: d.endpoint_id,
                        status: d.status,
                        attempt_count: d.attempt_count,
                    }
                }));
                summaries.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
                Ok(Some((ev, summaries)))
            })
            .await
    }

    async fn list_events(
        &self,
        ws: &WorkspaceId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>> {
        let q = list::events(EVENT_COLS, ws, filter).render(page, Placeholder::Question);
        let limit = page.limit;
        self.engine
            .read(move |c| run_page(c, &q, limit, |r| event_at(r, 0), |e| e.id.to_string()))
            .await
    }

    async fn get_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<Option<(Delivery, Vec<Attempt>)>> {
        let (ws, id) = (ws.to_string(), id.clone());
        self.engine
            .read(move |c| {
                let Some(d) = query_all(
                    c,
                    &format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE id = ?1 AND workspace_id = ?2"),
                    params![id.as_str(), ws],
                    |r| delivery(r),
                )?
                .into_iter()
                .next() else {
                    // Perhaps still an entry of its event's fan-out row.
                    return Ok(fanout::read_delivery(c, &ws, &id)?.map(|d| (d, Vec::new())));
                };
                let id = id.as_str();
                let attempts = query_all(
                    c,
                    &format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE delivery_id = ?1 ORDER BY attempt_number"),
                    params![id],
                    |r| attempt(r),
                )?;
                Ok(Some((d, attempts)))
            })
            .await
    }

    async fn list_deliveries(
        &self,
        ws: &WorkspaceId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let q = list::deliveries(DELIVERY_COLS, ws, filter).render(page, Placeholder::Question);
        let (ws, filter, page) = (ws.to_string(), filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let rows = run_page(c, &q, page.limit, |r| delivery(r), |d| d.id.to_string())?;
                // Deliveries not yet written out of their fan-out rows are
                // read from there, merged into the page by id.
                let entries = fanout::read_page(c, &ws, &filter, &page)?;
                if entries.is_empty() {
                    return Ok(rows);
                }
                let mut items = rows.items;
                items.extend(entries);
                items.sort_by(|a, b| list::id_order(page.dir, &a.id, &b.id));
                items.dedup_by(|a, b| a.id == b.id);
                Ok(list::page_of(items, page.limit, |d| d.id.to_string()))
            })
            .await
    }

    async fn stats(
        &self,
        ws: &WorkspaceId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        until: Timestamp,
        bucket: Bucket,
    ) -> Result<Vec<StatsBucket>> {
        let window = Window::new(since, until, bucket)?;
        let (ws, endpoint) = (ws.to_string(), endpoint.map(|e| e.to_string()));
        let rows = self
            .engine
            .read(move |c| {
                stats::read(
                    c,
                    bucket.rollup(),
                    &ws,
                    endpoint.as_deref(),
                    window.since.0,
                    window.until.0,
                )
            })
            .await?;
        Ok(window.zero_filled(rows))
    }

    async fn endpoint_totals(
        &self,
        ws: &WorkspaceId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(EndpointId, Totals)>> {
        let ranges = Ranges::totals(since, until)?;
        let ws = ws.to_string();
        let per = self
            .engine
            .read(move |c| {
                // One read transaction: the ranges add up to one moment's rows.
                let mut per = std::collections::BTreeMap::new();
                for (r, from, to) in ranges.0 {
                    stats::read_per_endpoint(c, r, &ws, from, to, &mut per)?;
                }
                Ok(per)
            })
            .await?;
        Ok(per
            .into_iter()
            .map(|(ep, t)| (EndpointId::from_trusted(ep), t))
            .collect())
    }

    async fn purge(&self, before: Timestamp, now: Timestamp) -> Result<Purged> {
        let mut total = Purged::default();
        let dcut = windows::cutoff_id(DeliveryId::PREFIX, before);
        let ecut = windows::cutoff_id(EventId::PREFIX, before);
        // Small chunks, each its own write, so publishing never waits long.
        loop {
            let dcut = dcut.clone();
            let (d, a) = self
                .engine
                .write_in(Lane::Background { rows: 2000 }, move |c| {
                    let ids: Vec<String> = query_all(
                        c,
                        "SELECT id FROM deliveries WHERE id < ?1 AND status != 'pending' LIMIT 2000",
                        params![dcut],
                        |r| Ok(r.get(0)?),
                    )?;
                    let mut a = 0;
                    let mut del_a = c.prepare_cached("DELETE FROM attempts WHERE delivery_id = ?1")?;
                    let mut del_d = c.prepare_cached("DELETE FROM deliveries WHERE id = ?1")?;
                    for id in &ids {
                        a += del_a.execute(params![id])? as u64;
                        del_d.execute(params![id])?;
                    }
                    Ok((ids.len() as u64, a))
                })
                .await?;
            total.deliveries += d;
            total.attempts += a;
            if d < 2000 {
                break;
            }
        }
        loop {
            let ecut = ecut.clone();
            let n = self
                .engine
                .write_in(Lane::Background { rows: 2000 }, move |c| {
                    let n = c
                        .prepare_cached(
                            "DELETE FROM events WHERE id IN (SELECT id FROM events e WHERE e.id < ?1 AND NOT EXISTS \
                             (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) \
                             AND NOT EXISTS (SELECT 1 FROM fanouts f WHERE f.event_id = e.id) LIMIT 2000)",
                        )?
                        .execute(params![ecut])?;
                    Ok(n as u64)
                })
                .await?;
            total.events += n;
            if n < 2000 {
                break;
            }
        }
        total.stats_rows = self.purge_stats(before).await?;
        self.engine
            .write(move |c| {
                c.prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
                    .execute(params![windows::idempotency_expired_before(now).0])?;
                c.prepare_cached(
                    "DELETE FROM endpoints WHERE deleted_at IS NOT NULL AND deleted_at < ?1",
                )?
                .execute(params![before.0])?;
                c.prepare_cached(
                    "DELETE FROM dashboard_sessions WHERE expires_at <= ?1 OR last_seen_at + idle_timeout_ms <= ?1",
                )?
                .execute(params![now.0])?;
                c.prepare_cached("DELETE FROM portal_links WHERE expires_at <= ?1")?
                    .execute(params![now.0])?;
                Ok(())
            })
            .await?;
        Ok(total)
    }

    async fn server_key(&self, name: &str, make: Vec<u8>) -> Result<Vec<u8>> {
        let name = name.to_owned();
        let make = crypt::seal_server_key(&self.crypt, &name, &make);
        let stored: Vec<u8> = self
            .engine
            .write({
                let name = name.clone();
                move |c| {
                    c.prepare_cached(
                        "INSERT OR IGNORE INTO server_keys (name, key, created_at) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![
                        name,
                        make,
                        hookrelay_core::time::Clock::now(&hookrelay_core::time::SystemClock).0
                    ])?;
                    Ok(c.prepare_cached("SELECT key FROM server_keys WHERE name = ?1")?
                        .query_row(params![name], |r| r.get(0))?)
                }
            })
            .await?;
        crypt::open_server_key(&self.crypt, &name, &stored)
    }

    fn sealing_key(&self) -> Option<String> {
        self.crypt.newest_id().map(str::to_owned)
    }

    async fn sealing(&self) -> Result<SealingCensus> {
        self.engine
            .read(|c| {
                let mut census = SealingCensus::default();
                let mut stmt = c.prepare(
                    "SELECT id, secret, previous_secret, advanced_options FROM endpoints",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let cols = secret_cols(r)?;
                    let values = cols.values()?;
                    census.count(values.iter().map(String::as_str));
                }
                let mut stmt = c.prepare("SELECT key FROM server_keys")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let key: Vec<u8> = r.get(0)?;
                    census.count([crypt::server_key_text(&key)]);
                }
                Ok(census)
            })
            .await
    }

    async fn reseal(&self, scope: Reseal) -> Result<u64> {
        if self.crypt.keys().is_none() {
            return Ok(0);
        }
        let mut total = 0u64;
        let mut after = String::new();
        loop {
            let from = after.clone();
            let page: Vec<SecretCols> = self
                .engine
                .read(move |c| {
                    query_all(
                        c,
                        "SELECT id, secret, previous_secret, advanced_options FROM endpoints \
                         WHERE id > ?1 ORDER BY id LIMIT ?2",
                        params![from, RESEAL_BATCH],
                        secret_cols,
                    )
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let mut changed = Vec::new();
            for row in &page {
                if let Some(new) = row.resealed(&self.crypt, scope)? {
                    changed.push((row.clone(), new));
                }
            }
            if !changed.is_empty() {
                total += self
                    .engine
                    .write_in(
                        Lane::Background {
                            rows: changed.len(),
                        },
                        move |c| {
                            c.execute_batch(SCRUB_ON)?;
                            let mut n = 0;
                            let mut stmt = c.prepare_cached(
                                "UPDATE endpoints SET secret = ?5, previous_secret = ?6, advanced_options = ?7 \
                                 WHERE id = ?1 AND secret = ?2 AND previous_secret IS ?3 AND advanced_options = ?4",
                            )?;
                            for (old, new) in &changed {
                                n += stmt.execute(params![
                                    old.id,
                                    old.secret,
                                    old.previous,
                                    old.options,
                                    new.secret,
                                    new.previous,
                                    new.options
                                ])? as u64;
                            }
                            c.execute_batch(SCRUB_OFF)?;
                            Ok(n)
                        },
                    )
                    .await?;
            }
        }
        // Server keys: a few rows, one write.
        let keys: Vec<(String, Vec<u8>)> = self
            .engine
            .read(|c| {
                query_all(
                    c,
                    "SELECT name, key FROM server_keys ORDER BY name",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .await?;
        let mut changed = Vec::new();
        for (name, stored) in keys {
            if self.crypt.stale(crypt::server_key_text(&stored), scope) {
                let key = crypt::open_server_key(&self.crypt, &name, &stored)?;
                changed.push((
                    name.clone(),
                    stored,
                    crypt::seal_server_key(&self.crypt, &name, &key),
                ));
            }
        }
        if !changed.is_empty() {
            total += self
                .engine
                .write(move |c| {
                    c.execute_batch(SCRUB_ON)?;
                    let mut n = 0;
                    for (name, old, new) in &changed {
                        n += c
                            .prepare_cached(
                                "UPDATE server_keys SET key = ?3 WHERE name = ?1 AND key = ?2",
                            )?
                            .execute(params![name, old, new])? as u64;
                    }
                    c.execute_batch(SCRUB_OFF)?;
                    Ok(n)
                })
                .await?;
        }
        if total > 0 {
            self.truncate_wal().await;
        }
        Ok(total)
    }

    async fn close(&self) {
        self.engine.close().await;
    }
}

#[async_trait]
impl DeliveryQueue for SqliteStore {
    async fn publish(
        &self,
        events: Vec<NewEvent>,
        lease: Option<Lease>,
    ) -> Result<Vec<Result<Published>>> {
        let due = self.due.clone();
        // The writer thread only writes; what the caller gets back (the
        // leased deliveries, each with the shared event) is built here, off
        // the one thread every write waits for.
        let events = Arc::new(events);
        let written = events.clone();
        let stored = self
            .engine
            .write_retryable(Lane::Foreground, move |c, isolated| {
                let events: &[NewEvent] = &written;
                let mut out = Vec::with_capacity(events.len());
                if !isolated {
                    // First run, no savepoints: any failure sends the whole
                    // group round again, isolated.
                    for ne in events {
                        out.push(Ok(publish_one(c, ne, lease.as_ref(), &due)?));
                    }
                    return Ok(out);
                }
                // One event needs no savepoint of its own: the write's savepoint
                // already isolates it from the rest of the group.
                if let [ne] = events {
                    let r = publish_one(c, ne, lease.as_ref(), &due);
                    if r.is_err() {
                        // Undo its partial writes (the engine's savepoint stays open).
                        c.execute_batch("ROLLBACK TO w")?;
                    }
                    out.push(r);
                    return Ok(out);
                }
                for ne in events {
                    // Each event in its own savepoint: one bad item spoils nothing else.
                    c.prepare_cached("SAVEPOINT ev")?.execute([])?;
                    match publish_one(c, ne, lease.as_ref(), &due) {
                        Ok(p) => {
                            c.prepare_cached("RELEASE ev")?.execute([])?;
                            out.push(Ok(p));
                        }
                        Err(e) => {
                            c.execute_batch("ROLLBACK TO ev; RELEASE ev")?;
                            out.push(Err(e));
                        }
                    }
                }
                Ok(out)
            })
            .await?;
        Ok(stored
            .into_iter()
            .zip(events.iter())
            .map(|(r, ne)| {
                r.map(|stored| match stored {
                    Stored::Created { event, leased } => {
                        Published::stored(event, &ne.deliveries, leased)
                    }
                    Stored::Duplicate(first) => Published::Duplicate(first),
                })
            })
            .collect())
    }

    async fn due_workspaces(
        &self,
        now: Timestamp,
        after: Option<&WorkspaceId>,
        limit: u32,
    ) -> Result<Vec<WorkspaceId>> {
        let after = after.map(|w| w.to_string());
        self.engine
            .read(move |c| due_workspaces(c, now.0, after.as_deref(), limit as usize))
            .await
    }

    async fn claim(&self, claim: &Claim) -> Result<Vec<DueDelivery>> {
        let rooms: Arc<std::sync::Mutex<HashMap<String, u32>>> = Arc::new(std::sync::Mutex::new(
            claim
                .endpoints
                .iter()
                .map(|(e, n)| (e.to_string(), *n))
                .collect(),
        ));
        // Per workspace, pieces of at most `CLAIM_PIECE` rows, each a write
        // of its own, all queued at once (see `CLAIM_PIECE`). They run one
        // after another, sharing the endpoints' rooms.
        //
        // Each is a retryable write (see `claim_job`).
        let mut pieces = Vec::new();
        for (ws, limit) in &claim.workspaces {
            let ws: Arc<str> = Arc::from(ws.as_str());
            let mut left = *limit;
            while left > 0 {
                let n = left.min(CLAIM_PIECE);
                left -= n;
                pieces.push(self.engine.write_retryable(
                    Lane::Background { rows: n as usize },
                    claim_job(
                        ClaimPiece {
                            now: claim.now,
                            lease: claim.lease.clone(),
                            ws: ws.clone(),
                            limit: n,
                            default_room: claim.default_room,
                        },
                        rooms.clone(),
                        self.due.clone(),
                    ),
                ));
            }
        }
        let mut out = Vec::new();
        let mut failed = None;
        for r in futures::future::join_all(pieces).await {
            match r {
                Ok(rows) => out.extend(rows),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            // A piece's transaction may not have committed: what it learned
            // is void. The pieces that did commit are handed out all the same
            // (their leases are taken); a claim with none fails.
            self.due.lock().expect("due lock").forget();
            if out.is_empty() {
                return Err(e);
            }
            tracing::warn!(error = %e, "sqlite: part of a claim failed");
        }
        Ok(out)
    }

    async fn renew_leases(&self, ids: &[DeliveryId], lease: &Lease) -> Result<()> {
        // In pieces of `RENEW_PIECE`, queued at once: the dispatcher renews
        // the leases it holds in calls of thousands, and an API write must
        // not wait for all of them. Retryable for the same reason as claims:
        // each renewal moves a row in the due index.
        let pieces = ids.chunks(RENEW_PIECE).map(|piece| {
            let ids: Vec<String> = piece.iter().map(|i| i.to_string()).collect();
            let lease = lease.clone();
            let due = self.due.clone();
            self.engine.write_retryable(
                Lane::Background { rows: ids.len() },
                move |c, _| {
                    let mut stmt = c.prepare_cached(
                        "UPDATE deliveries SET ready_at = ?3 WHERE id = ?1 AND lease_owner = ?2 AND status = 'pending'",
                    )?;
                    for id in &ids {
                        stmt.execute(params![id, lease.owner, lease.until.0])?;
                    }
                    due.lock().expect("due lock").touch_any(lease.until.0);
                    Ok(())
                },
            )
        });
        futures::future::join_all(pieces)
            .await
            .into_iter()
            .collect()
    }

    async fn release(&self, ids: &[DeliveryId], owner: &str) -> Result<()> {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let owner = owner.to_owned();
        let due = self.due.clone();
        let rows = ids.len();
        self.engine
            .write_in(Lane::Background { rows }, move |c| {
                let mut stmt = c.prepare_cached(
                    "UPDATE deliveries SET lease_owner = NULL, ready_at = COALESCE(next_attempt_at, ready_at) \
                     WHERE id = ?1 AND lease_owner = ?2 RETURNING ready_at, workspace_id, endpoint_id, status",
                )?;
                for id in &ids {
                    let back: Option<(i64, String, String, String)> = stmt
                        .query_row(params![id, owner], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .optional()?;
                    if let Some((ready, ws, endpoint, status)) = back {
                        if status == "pending" {
                            due.lock().expect("due lock").touch(ready, &ws, &endpoint);
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    async fn record_outcomes(&self, mut outcomes: Vec<Outcome>) -> Result<()> {
        // In pieces of `OUTCOME_PIECE`, queued at once.
        let mut pieces = Vec::new();
        while !outcomes.is_empty() {
            let rest = outcomes.split_off(outcomes.len().min(OUTCOME_PIECE));
            let piece = std::mem::replace(&mut outcomes, rest);
            let due = self.due.clone();
            pieces.push(
                self.engine
                    .write_retryable(Lane::Background { rows: piece.len() }, move |c, _| {
                        record_outcomes(c, &piece, &due)
                    }),
            );
        }
        futures::future::join_all(pieces)
            .await
            .into_iter()
            .collect()
    }

    async fn requeue_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
        now: Timestamp,
        lease: &Lease,
    ) -> Result<Option<DueDelivery>> {
        let (ws, id) = (ws.to_string(), id.to_string());
        let lease = lease.clone();
        let due = self.due.clone();
        self.engine
            .write(move |c| {
                // It may be a fan-out entry: rows first.
                fanout::expand_mentioning(c, &ws, &id, &due)?;
                let n = c
                    .prepare_cached(
                        "UPDATE deliveries SET manual = CASE WHEN status = 'pending' THEN manual ELSE 1 END, \
                         status = 'pending', next_attempt_at = ?3, ready_at = ?4, lease_owner = ?5, updated_at = ?3 \
                         WHERE id = ?1 AND workspace_id = ?2",
                    )?
                    .execute(params![id, ws, now.0, lease.until.0, lease.owner])?;
                if n == 0 {
                    return Ok(None);
                }
                due.lock().expect("due lock").touch_any(lease.until.0);
                Ok(load_due(c, &[id])?.into_iter().next())
            })
            .await
    }

    async fn recover_endpoint(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let (ws, ep) = (ws.to_string(), endpoint.to_string());
        let due = self.due.clone();
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE deliveries SET status = 'pending', manual = 1, next_attempt_at = ?5, ready_at = ?5, \
                         lease_owner = NULL, updated_at = ?5 \
                         WHERE endpoint_id = ?2 AND workspace_id = ?1 AND status = 'failed' AND created_at >= ?3 AND created_at < ?4",
                    )?
                    .execute(params![ws, ep, since.0, until.0, now.0])?;
                if n > 0 {
                    due.lock().expect("due lock").touch(now.0, &ws, &ep);
                }
                Ok(n as u64)
            })
            .await
    }

    async fn release_stale_leases(&self, owner_prefix: Option<&str>) -> Result<u64> {
        let prefix = owner_prefix.map(str::to_owned);
        let due = self.due.clone();
        self.engine
            .write(move |c| {
                let n = c
                    .prepare_cached(
                        "UPDATE deliveries SET lease_owner = NULL, ready_at = COALESCE(next_attempt_at, ready_at) \
                         WHERE status = 'pending' AND lease_owner IS NOT NULL \
                         AND (?1 IS NULL OR substr(lease_owner, 1, length(?1)) = ?1)",
                    )?
                    .execute(params![prefix])?;
                due.lock().expect("due lock").forget();
                Ok(n as u64)
            })
            .await
    }

    async fn backlog(&self) -> Result<Backlog> {
        self.engine
            .read(|c| {
                let (n, oldest): (i64, Option<i64>) = c
                    .prepare_cached(
                        "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'",
                    )?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                // Fan-out entries are pending deliveries too.
                let (fan_n, fan_oldest): (i64, Option<i64>) = c
                    .prepare_cached("SELECT COALESCE(SUM(n), 0), MIN(created_at) FROM fanouts")?
                    .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let n = n + fan_n;
                let oldest = match (oldest, fan_oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Ok(Backlog {
                    pending: n as u64,
                    oldest_created_at: oldest.map(Timestamp),
                })
            })
            .await
    }
}

/// The rows one claim writes at most in one write. A claim is cut into
/// pieces of this many, each a write of its own, all queued at once: the
/// writer may commit between them, so an API write waiting beside a large
/// claim waits for one piece of it, not the whole claim.
const CLAIM_PIECE: u32 = 256;
/// Due rows a claim piece reads beyond what it may take, to step over rows
/// of endpoints that ran out of room during the claim.
const CLAIM_SLACK: u32 = 256;
/// The outcomes recorded at most in one write: a batch is cut into pieces
/// of this many, for the reason given at [`CLAIM_PIECE`].
const OUTCOME_PIECE: usize = 256;
/// Leases renewed in one write at most: a renewal is cut into pieces of
/// this many, for the reason given at [`CLAIM_PIECE`].
const RENEW_PIECE: usize = 256;

/// One piece of a claim: up to `limit` due deliveries of workspace `ws`.
#[derive(Clone)]
pub(crate) struct ClaimPiece {
    pub(crate) now: Timestamp,
    pub(crate) lease: Lease,
    pub(crate) ws: Arc<str>,
    pub(crate) limit: u32,
    /// The room of an endpoint not in the rooms (see [`Claim::default_room`]).
    pub(crate) default_room: Option<u32>,
}

/// Rooms left per endpoint (by id), shared by the pieces of one claim.
type Rooms = Arc<std::sync::Mutex<HashMap<String, u32>>>;

/// The endpoints without room left.
fn skipped(rooms: &HashMap<String, u32>) -> Vec<String> {
    rooms
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(e, _)| e.clone())
        .collect()
}

/// Workspaces with pending deliveries (rows or fan-out entries) due at
/// `now`, in id order after `after`: a loose scan of the due index and of
/// the fan-out index, one seek per workspace (the first entry after a
/// workspace is the next workspace's earliest).
fn due_workspaces(
    c: &Connection,
    now: i64,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<WorkspaceId>> {
    let mut found = std::collections::BTreeSet::new();
    for sql in [
        "SELECT workspace_id, ready_at FROM deliveries WHERE status = 'pending' AND workspace_id > ?1 \
         ORDER BY workspace_id, ready_at LIMIT 1",
        "SELECT workspace_id, created_at FROM fanouts WHERE workspace_id > ?1 \
         ORDER BY workspace_id, created_at LIMIT 1",
    ] {
        let mut next = c.prepare_cached(sql)?;
        let mut cursor = after.unwrap_or("").to_owned();
        let mut taken = 0;
        while taken < limit {
            let row: Option<(String, i64)> = next
                .query_row(params![cursor], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((ws, first)) = row else { break };
            if first <= now {
                taken += 1;
                found.insert(ws.clone());
            }
            cursor = ws;
        }
    }
    Ok(found
        .into_iter()
        .take(limit)
        .map(WorkspaceId::from_trusted)
        .collect())
}

/// One piece of a claim, as a retryable write. A claim writes a row per
/// delivery (a fan-out entry written out, or a lease taken): in a savepoint
/// SQLite would copy every page it touches into the sub-journal, so claims
/// run without one. A second run means the first was rolled back, and with
/// it the rows that run read, so what it taught `due` is void: the second
/// run forgets it first. (The rooms it used up are not given back: a rerun
/// may take a little less than it could.)
fn claim_job(
    piece: ClaimPiece,
    rooms: Rooms,
    due: Arc<std::sync::Mutex<DueScan>>,
) -> impl FnMut(&Connection, bool) -> Result<Vec<DueDelivery>> + Send + 'static {
    move |c, rerun| {
        if rerun {
            due.lock().expect("due lock").forget();
        }
        claim_piece(c, &piece, &rooms, &due)
    }
}

/// One piece of a claim: the workspace's due delivery rows first, then its
/// fan-out entries, written as leased rows; with their events, oldest first.
fn claim_piece(
    c: &Connection,
    piece: &ClaimPiece,
    rooms: &std::sync::Mutex<HashMap<String, u32>>,
    due: &std::sync::Mutex<DueScan>,
) -> Result<Vec<DueDelivery>> {
    let (mut rows, read_all) = claim_rows(c, piece, rooms, due)?;
    let from_rows = rows.len();
    // Then events published without a lease to many endpoints:
    // their delivery rows are written now, leased to us.
    let room = (piece.limit as usize).saturating_sub(rows.len());
    if room > 0 {
        let mut rooms = rooms.lock().expect("rooms lock");
        let fresh = fanout::claim(c, piece, room, &mut rooms, due)?;
        rows.extend(fresh.into_iter().map(|d| (d, false)));
    }
    if read_all && from_rows < piece.limit as usize {
        // Every due row of the workspace not taken belongs to an endpoint
        // out of room (fan-out entries written out above are leased, so not
        // due).
        let skipped = skipped(&rooms.lock().expect("rooms lock"));
        due.lock().expect("due lock").exhausted(
            &piece.ws,
            piece.now.0,
            skipped,
            piece.lease.until.0,
        );
    }
    let mut event_ids: Vec<String> = rows.iter().map(|(d, _)| d.event_id.to_string()).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let mut events: HashMap<String, Arc<Event>> = HashMap::with_capacity(event_ids.len());
    for chunk in event_ids.chunks(500) {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE id IN ({})",
            vec!["?"; chunk.len()].join(",")
        );
        for ev in query_all(c, &sql, params_from_iter(chunk.iter()), |r| event_at(r, 0))? {
            events.insert(ev.id.to_string(), Arc::new(ev));
        }
    }
    Ok(due_deliveries(rows, &events))
}

/// The claim's part that reads delivery rows: reads the workspace's due
/// rows oldest first (skipping endpoints with no room, and starting after
/// what `due` knows is all skipped), chooses what the rooms allow, and
/// leases the chosen rows. Also says whether it read every due row.
fn claim_rows(
    c: &Connection,
    piece: &ClaimPiece,
    rooms: &std::sync::Mutex<HashMap<String, u32>>,
    due: &std::sync::Mutex<DueScan>,
) -> Result<(Vec<(Delivery, bool)>, bool)> {
    let ws: &str = &piece.ws;
    let now = piece.now.0;
    let skipped = skipped(&rooms.lock().expect("rooms lock"));
    // Rows due at or before `after` are known to belong to skipped
    // endpoints (see `due`): start reading after them.
    let after = due.lock().expect("due lock").start(ws, &skipped);
    if after.is_some_and(|a| a >= now) {
        return Ok((Vec::new(), true));
    }
    let mut sql = String::from(
        "SELECT id, endpoint_id FROM deliveries WHERE status = 'pending' AND workspace_id = ? \
         AND ready_at > ? AND ready_at <= ?",
    );
    let mut p = vec![
        SqlValue::Text(ws.to_owned()),
        SqlValue::Integer(after.unwrap_or(i64::MIN)),
        SqlValue::Integer(now),
    ];
    if !skipped.is_empty() {
        sql.push_str(" AND endpoint_id NOT IN (");
        sql.push_str(&vec!["?"; skipped.len()].join(","));
        sql.push(')');
        p.extend(skipped.iter().cloned().map(SqlValue::Text));
    }
    let scan = piece.limit + CLAIM_SLACK;
    sql.push_str(" ORDER BY ready_at LIMIT ?");
    p.push(SqlValue::Integer(i64::from(scan)));
    let candidates: Vec<(String, String)> =
        query_all(c, &sql, params_from_iter(p), |r| Ok((r.get(0)?, r.get(1)?)))?;
    let read_all = candidates.len() < scan as usize;
    let mut chosen = Vec::with_capacity(piece.limit as usize);
    {
        let mut rooms = rooms.lock().expect("rooms lock");
        for (id, endpoint) in candidates {
            if chosen.len() >= piece.limit as usize {
                break;
            }
            if !Claim::take_room(&mut rooms, endpoint, piece.default_room) {
                continue;
            }
            chosen.push(id);
        }
    }
    if chosen.is_empty() {
        return Ok((Vec::new(), read_all));
    }
    let sql = format!(
        "UPDATE deliveries SET lease_owner = ?, ready_at = ? WHERE id IN ({}) RETURNING {DELIVERY_COLS}",
        vec!["?"; chosen.len()].join(",")
    );
    let mut p = vec![
        SqlValue::Text(piece.lease.owner.clone()),
        SqlValue::Integer(piece.lease.until.0),
    ];
    p.extend(chosen.into_iter().map(SqlValue::Text));
    let rows: Vec<(Delivery, bool)> =
        query_all(c, &sql, params_from_iter(p), |r| delivery_manual(r))?;
    let mut due = due.lock().expect("due lock");
    for (d, _) in &rows {
        due.touch(piece.lease.until.0, ws, d.endpoint_id.as_str());
    }
    Ok((rows, read_all))
}

/// What [`publish_one`] wrote, for the caller to turn into a [`Published`].
enum Stored {
    /// The event as stored; `leased` if its deliveries went in leased.
    Created { event: Event, leased: bool },
    /// The idempotency key's first event.
    Duplicate(Event),
}

fn publish_one(
    c: &Connection,
    ne: &NewEvent,
    lease: Option<&Lease>,
    due: &std::sync::Mutex<DueScan>,
) -> Result<Stored> {
    let ev = &ne.event;
    let ws = ev.workspace_id.as_str();
    if let Some(key) = &ev.idempotency_key {
        let found: Option<(String, i64)> = c
            .prepare_cached("SELECT event_id, created_at FROM idempotency_keys WHERE workspace_id = ?1 AND key = ?2")?
            .query_row(params![ws, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((event_id, created_at)) = found {
            if windows::idempotency_holds(created_at, ev.created_at) {
                if let Some(first) = load_event(c, Some(ws), &event_id)? {
                    return Ok(Stored::Duplicate(first));
                }
            }
            c.prepare_cached("DELETE FROM idempotency_keys WHERE workspace_id = ?1 AND key = ?2")?
                .execute(params![ws, key])?;
        }
        c.prepare_cached("INSERT INTO idempotency_keys (workspace_id, key, event_id, created_at) VALUES (?1,?2,?3,?4)")?
            .execute(params![ws, key, ev.id.as_str(), ev.created_at.0])?;
    }
    c.prepare_cached(&format!(
        "INSERT INTO events ({EVENT_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
    ))?
    .execute(params![
        ev.id.as_str(),
        ws,
        ev.event_type.as_str(),
        ev.payload,
        ev.resource.as_ref().map(|r| r.kind.as_str()),
        ev.resource.as_ref().map(|r| r.id.as_str()),
        ev.previous_data,
        ev.idempotency_key,
        ev.created_at.0,
        ne.deliveries.len() as i64,
        ev.test,
    ])?;
    if fanout::wanted(ne) {
        fanout::insert(c, ne, due)?;
        return Ok(Stored::Created {
            event: ev.clone(),
            leased: false,
        });
    }
    let mut stmt = c.prepare_cached(
        "INSERT INTO deliveries (id, workspace_id, event_id, endpoint_id, event_type, api_version, status, \
         attempt_count, next_attempt_at, ready_at, lease_owner, manual, test, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?10, 'pending', 0, ?6, ?7, ?8, 0, ?9, ?6, ?6)",
    )?;
    let (ready, owner) = match lease {
        Some(l) => (l.until.0, Some(l.owner.as_str())),
        None => (ev.created_at.0, None),
    };
    for d in &ne.deliveries {
        stmt.execute(params![
            d.id.as_str(),
            ws,
            ev.id.as_str(),
            d.endpoint_id.as_str(),
            d.event_type,
            ev.created_at.0,
            ready,
            owner,
            ev.test,
            d.api_version,
        ])?;
    }
    let mut due = due.lock().expect("due lock");
    for d in &ne.deliveries {
        due.touch(ready, ws, d.endpoint_id.as_str());
    }
    Ok(Stored::Created {
        event: ev.clone(),
        leased: lease.is_some(),
    })
}

fn record_outcomes(
    c: &Connection,
    outcomes: &[Outcome],
    due: &std::sync::Mutex<DueScan>,
) -> Result<()> {
    let mut upd = c.prepare_cached(
        "UPDATE deliveries SET \
           attempt_count = attempt_count + ?2, \
           status = CASE WHEN status = 'pending' THEN ?3 ELSE status END, \
           next_attempt_at = CASE WHEN status = 'pending' THEN ?4 ELSE next_attempt_at END, \
           ready_at = CASE WHEN status = 'pending' THEN COALESCE(?4, ready_at) ELSE ready_at END, \
           manual = CASE WHEN status = 'pending' AND ?3 = 'pending' THEN 0 ELSE manual END, \
           lease_owner = NULL, updated_at = ?5 \
         WHERE id = ?1 AND (?6 IS NULL OR lease_owner = ?6) RETURNING attempt_count, workspace_id",
    )?;
    // The attempts recorded, with their workspace, for the statistics.
    let mut recorded: Vec<(String, usize)> = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let now = outcome::recorded_at(o);
        let made = outcome::attempts_made(o);
        let updated: Option<(u32, String)> = upd
            .query_row(
                params![
                    o.delivery_id.as_str(),
                    made,
                    o.status.as_str(),
                    o.next_attempt_at.map(|t| t.0),
                    now.0,
                    o.lease_owner,
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // Nothing updated: the delivery is gone, or no longer leased to the
        // node that attempted it (its new owner records its own attempts).
        // What the attempt said of the endpoint's health still holds.
        if let Some((count, ws)) = updated {
            if let Some(at) = o.next_attempt_at {
                due.lock()
                    .expect("due lock")
                    .touch(at.0, &ws, o.endpoint_id.as_str());
            }
            if let Some(a) = &o.attempt {
                insert_attempt(c, o.delivery_id.as_str(), count, a)?;
                recorded.push((ws, i));
            }
        }
    }
    let mut increments = Increments::default();
    for (ws, i) in &recorded {
        increments.add(ws, &outcomes[*i]);
    }
    stats::add(c, &increments)?;
    // Endpoint effects, folded per endpoint: a batch of successes to one
    // endpoint clears its record once. A clear followed by a mark runs both
    // statements, in that order, as the effects would one by one.
    let effects = EndpointEffects::fold(outcomes);
    for (ep, f) in &effects.failing {
        if f.clear {
            c.prepare_cached("UPDATE endpoints SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL")?
                .execute(params![ep])?;
        }
        if let Some(t) = f.mark {
            c.prepare_cached(
                "UPDATE endpoints SET failing_since = ?2 WHERE id = ?1 AND failing_since IS NULL",
            )?
            .execute(params![ep, t.0])?;
        }
    }
    for (ep, t) in &effects.disable {
        c.prepare_cached(
            "UPDATE endpoints SET status = 'disabled', disabled_reason = 'failing', updated_at = ?2 \
             WHERE id = ?1 AND status = 'enabled' AND deleted_at IS NULL",
        )?
        .execute(params![ep, t.0])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hookrelay_core::cursor::SortDir;
    use hookrelay_core::model::DeliveryStatus;

    use super::*;

    /// The bundled SQLite has the fix for CVE-2025-6965 (3.50.2 and later).
    #[test]
    fn the_bundled_sqlite_is_3_50_2_or_later() {
        let c = Connection::open_in_memory().unwrap();
        let version: String = c
            .query_row("SELECT sqlite_version()", [], |r| r.get(0))
            .unwrap();
        assert!(
            rusqlite::version_number() >= 3_050_002,
            "bundled SQLite {version} predates 3.50.2"
        );
    }

    /// An existing data directory open to others is narrowed to 0700 when
    /// it holds only hookrelay's files, and left as it is when it holds
    /// anything else (it may be shared, like the working directory).
    #[cfg(unix)]
    #[test]
    fn an_existing_data_directory_is_made_private_only_when_it_is_ours_alone() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        for (name, files, want) in [
            ("empty", &[][..], 0o700),
            (
                "ours",
                &["hookrelay.db", "hookrelay.db-wal", KEY_FILE][..],
                0o700,
            ),
            ("shared", &["hookrelay.db", "notes.txt"][..], 0o755),
        ] {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            for f in files {
                std::fs::write(dir.join(f), b"").unwrap();
            }
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            create_private_dir(&dir.join("hookrelay.db")).unwrap();
            assert_eq!(mode(&dir), want, "{name}");
        }
        let new = root.path().join("a/b");
        create_private_dir(&new.join("hookrelay.db")).unwrap();
        assert_eq!(mode(&new), 0o700);
        // A bare file name lives in the working directory, which is left alone.
        create_private_dir(Path::new("hookrelay.db")).unwrap();
    }

    /// What SQLite plans for a delivery list: the `detail` lines of
    /// `EXPLAIN QUERY PLAN` on a migrated, empty database.
    fn plan(filter: &DeliveryFilter, page: &PageRequest) -> String {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        let ws = WorkspaceId::from_trusted("workspace_1".into());
        let q = list::deliveries(DELIVERY_COLS, &ws, filter).render(page, Placeholder::Question);
        let params = q.params.iter().map(|v| match v {
            list::Value::Text(s) => SqlValue::Text(s.clone()),
            list::Value::Int(i) => SqlValue::Integer(*i),
        });
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {}", q.sql)).unwrap();
        let lines: Vec<String> = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
            .unwrap()
            .map(|l| l.unwrap())
            .collect();
        lines.join("\n")
    }

    #[test]
    fn a_delivery_time_range_reads_one_stretch_of_an_index() {
        let range = DeliveryFilter {
            since: Some(Timestamp(1_700_000_000_000)),
            until: Some(Timestamp(1_700_000_060_000)),
            ..DeliveryFilter::default()
        };
        let later = PageRequest {
            limit: 25,
            after: Some(DeliveryId::at(1_700_000_030_000).into_string()),
            dir: SortDir::Desc,
        };
        let with_endpoint = DeliveryFilter {
            endpoint_id: Some(EndpointId::from_trusted("webhook_endpoint_1".into())),
            status: Some(DeliveryStatus::Failed),
            ..range.clone()
        };
        for (filter, page) in [
            (&range, &PageRequest::default()),
            (&range, &later),
            (&with_endpoint, &later),
        ] {
            let plan = plan(filter, page);
            assert!(!plan.contains("SCAN"), "{plan}");
            assert!(
                plan.contains("SEARCH deliveries USING INDEX") && plan.contains("id>? AND id<?"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
        }
    }
}
