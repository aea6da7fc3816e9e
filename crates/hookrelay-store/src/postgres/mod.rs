//! The PostgreSQL backend: one database shared by any number of hookrelay
//! nodes, with the same semantics as the SQLite backend (the conformance
//! suite runs against both).
//!
//! **Schema and migrations.** Every table lives in the connection's
//! `current_schema()`: names are never qualified, so a URL carrying
//! `?options=-csearch_path%3Dmyschema` puts a whole deployment (or a test) in
//! a schema of its own. [`PostgresStore::connect`] applies the migrations it
//! lacks (`schema.sql` is version 1, then `migrate_2.sql` to `migrate_6.sql`; applied
//! versions are rows of `hookrelay_migrations`) in one transaction that
//! first takes `pg_advisory_xact_lock` on a key derived from the schema name, so nodes
//! starting together migrate one after the other, and tests in different
//! schemas do not wait for each other. Columns mirror SQLite's: ids are
//! `TEXT COLLATE "C"` (ordered byte for byte, like the ULIDs in them), times
//! `BIGINT` milliseconds, JSON-ish values `TEXT` kept byte for byte, the
//! server keys `BYTEA`.
//!
//! **Group commit.** [`Store::publish`] goes through a writer task
//! (`publish.rs`): the calls that arrive while earlier groups are being
//! written are committed together, with array-bound (`unnest`) statements so
//! that a group of any size (or a fan-out to 100 endpoints) is a few
//! statements; an item that fails is retried alone in a savepoint so the rest
//! still commit. Idempotency keys are rows keyed by (workspace, key) taken
//! with `INSERT … ON CONFLICT`, which makes them safe across processes; a
//! key held for 24 h (by the new event's time) may be taken over. Every other
//! write is a single statement or a short transaction on a pooled connection
//! (`deadpool-postgres`, statements prepared once per connection); none
//! holds a transaction open across anything but SQL.
//!
//! **Claims and leases.** `ready_at` is when a pending delivery is next
//! visible: its scheduled attempt, or the end of the lease while a node holds
//! it. [`Store::due_workspaces`] finds the workspaces with due deliveries by
//! a loose scan of the due index (which leads with the workspace: one probe
//! per workspace). [`Store::claim`] is one short transaction: per workspace
//! asked for, the endpoints with pending deliveries (a loose scan of the
//! due-by-endpoint index) each give their oldest due rows, as many as their
//! room, `FOR UPDATE SKIP LOCKED`; the node keeps the workspace's oldest up to
//! its number, and one `UPDATE … WHERE id = ANY(…) RETURNING …` leases them;
//! the commit unlocks the rest (then one read of the events).
//! Concurrent claimers (on any node) skip each other's rows instead of
//! waiting, and a row another claimer leased meanwhile is re-checked and
//! dropped, so no delivery is handed to two claimers while a lease is live.
//! A lease that ran out is simply due again: the next claimer takes it over
//! and becomes its owner. Renewing, releasing and recording outcomes only
//! touch rows whose `lease_owner` is still the caller, so a node that lost its
//! lease cannot take it back or overwrite the new owner's work. Nodes set and
//! compare lease times on the database's clock
//! ([`Store::database_now`]).
//!
//! **Notifications.** Changes other nodes must hear of are announced with
//! `pg_notify` inside the transaction that makes them (so they are heard
//! only once committed) on a channel per schema (`listen.rs`): routing
//! changes (endpoints inserted, updated, deleted or auto-disabled;
//! subscriptions upserted, updated, deleted) as `routing:<workspace>`, and
//! unleased deliveries becoming due (publish without a lease, release,
//! stale-lease release, recovery) as `due`, at most once per transaction. A
//! listener task holds one dedicated connection with `LISTEN` and forwards
//! them to [`Store::changes`] receivers; after losing its connection it
//! reconnects with backoff and sends [`StoreChange::Resync`].
//!
//! **TLS.** Every connection (pooled, listening, housekeeping) is made with
//! the connector [`tls::parse`] builds from the URL's `sslmode` and
//! `sslrootcert`, read as libpq reads them (`tls.rs`).
//!
//! [`Store::publish`]: crate::DeliveryQueue::publish
//! [`Store::due_workspaces`]: crate::DeliveryQueue::due_workspaces
//! [`Store::claim`]: crate::DeliveryQueue::claim
//! [`Store::database_now`]: crate::DeliveryQueue::database_now

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::sync::broadcast;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{Attempt, Delivery, Endpoint, Event, Subscription};
use hookrelay_core::secret::{ApiKeyHash, TokenHash};
use hookrelay_core::time::Timestamp;

use crate::crypt::{self, Crypt, Reseal, SealingCensus, SecretCols};
use crate::error::pg_message;
use crate::list::{self, ListSql, Placeholder};
use crate::outcome::{self, EndpointEffects};
use crate::rows::*;
use crate::stats::{Increments, Ranges, Rollup};
use crate::windows;
use crate::{
    ApiKeyRecord, Backlog, Bucket, Claim, DashboardSession, DeliveryFilter, DeliveryQueue,
    DeliverySummary, DueDelivery, EndpointFilter, EventFilter, Lease, NewEvent, Outcome, Page,
    PageRequest, PortalLink, Published, Purged, Redemption, Result, StatsBucket, Store,
    StoreChange, StoreError, SubscriptionFilter, Totals, Window, Workspace,
};

mod listen;
mod publish;
mod rows;
pub mod scratch;
mod stats;
pub mod tls;

use listen::{Listener, DUE, ROUTING};
use rows::*;

const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("migrate_2.sql"),
    include_str!("migrate_3.sql"),
    include_str!("migrate_4.sql"),
    include_str!("migrate_5.sql"),
    include_str!("migrate_6.sql"),
];
/// How many migrations a fully migrated schema has applied.
pub const MIGRATION_COUNT: usize = MIGRATIONS.len();

/// Capacity of the change broadcast: a receiver further behind than this
/// sees `Lagged` and should refresh everything, as after a `Resync`.
const CHANGES_CAPACITY: usize = 1024;
/// Tries of a write that hit a deadlock or serialization failure.
const TRIES: u32 = 4;

/// Why an internal step failed: a PostgreSQL error (kept whole, to tell a
/// deadlock or a lost connection from the rest), a pool error, or a store
/// error such as a corrupt row.
pub(crate) enum Fail {
    Pg(tokio_postgres::Error),
    Pool(deadpool_postgres::PoolError),
    Store(StoreError),
}

impl Fail {
    /// A deadlock or serialization failure: trying again may well work.
    pub(crate) fn transient(&self) -> bool {
        matches!(self, Fail::Pg(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
            || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
    }

    /// Not the server's refusal but trouble reaching it (or a closed store).
    pub(crate) fn connection(&self) -> bool {
        match self {
            Fail::Pg(e) => e.as_db_error().is_none(),
            Fail::Pool(_) => true,
            Fail::Store(e) => matches!(e, StoreError::Closed),
        }
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Fail::Pool(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::Store(e.into())
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Pg(e) => e.into(),
            Fail::Pool(e) => e.into(),
            Fail::Store(e) => e,
        }
    }
}

type F<T> = std::result::Result<T, Fail>;

/// Runs a write again (a few times, briefly backing off) when it hit a
/// deadlock or a serialization failure; the expression is re-evaluated for
/// each try.
macro_rules! retrying {
    ($write:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            match $write.await {
                Err(f) if f.transient() && tries < TRIES => {
                    tokio::time::sleep(Duration::from_millis(2 << tries)).await;
                }
                r => break r.map_err(StoreError::from),
            }
        }
    }};
}

/// One connection of its own to `url` (TLS as the URL says, like the
/// store's), driven by a task until the client is dropped: for tests and
/// tools that look behind the store.
pub async fn connect_client(url: &str) -> Result<tokio_postgres::Client> {
    let (mut config, tls) = tls::parse(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let mode = tls.mode();
    let (client, connection) =
        config
            .connect(tls)
            .await
            .map_err(|e| match tls::failure_message(&e, mode) {
                Some(m) => StoreError::Open(m),
                None => e.into(),
            })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// FNV-1a, 64 bits: a hash that is the same in every build and process.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The advisory lock migrators of one schema share.
fn migration_lock_key(schema: &str) -> i64 {
    fnv1a(format!("hookrelay-migrations:{schema}").as_bytes()) as i64
}

/// Applies the migrations the schema lacks, one migrator at a time.
async fn migrate(client: &mut tokio_postgres::Client, schema: &str) -> F<()> {
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&migration_lock_key(schema)],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS hookrelay_migrations (
             version     INTEGER PRIMARY KEY,
             applied_at  BIGINT NOT NULL
         )",
    )
    .await?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM hookrelay_migrations",
            &[],
        )
        .await?
        .get(0);
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO hookrelay_migrations (version, applied_at) VALUES ($1, $2)",
            &[
                &(i as i32 + 1),
                &hookrelay_core::time::Clock::now(&hookrelay_core::time::SystemClock).0,
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Settings of [`PostgresStore::connect_with`] beyond the URL.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Pooled connections, at most (the change listener holds one more).
    pub pool_size: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { pool_size: 16 }
    }
}

/// See the module docs.
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    /// The schema's notification channel.
    channel: Arc<str>,
    closed: AtomicBool,
    writer: publish::Writer,
    listener: Listener,
    changes: broadcast::Sender<StoreChange>,
    /// Seals and opens secret values ([`crate::crypt`]).
    crypt: Crypt,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The writer finishes what is queued and ends; the listener's own
        // Drop stops it.
        self.writer.stop_taking();
    }
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL; `options=-csearch_path%3D…`
    /// picks the schema, which must exist), applies migrations, starts the
    /// change listener and the publish writer. `sslmode` and `sslrootcert`
    /// are read as libpq reads them (see [`tls`]).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with settings of its own.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self> {
        let (mut config, tls) = tls::parse(url)?;
        let mode = tls.mode();
        let open = |e: tokio_postgres::Error| {
            StoreError::Open(tls::failure_message(&e, mode).unwrap_or_else(|| pg_message(&e)))
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("hookrelay");
        }

        let (mut client, connection) = config.connect(tls.clone()).await.map_err(open)?;
        let driver = tokio::spawn(connection);
        let schema: Option<String> = client
            .query_one("SELECT current_schema()::text", &[])
            .await
            .map_err(open)?
            .get(0);
        let schema = schema.ok_or_else(|| {
            StoreError::Open(
                "no schema of the search_path exists: create it before connecting".into(),
            )
        })?;
        migrate(&mut client, &schema).await.map_err(|f| {
            StoreError::Open(match f {
                Fail::Pg(e) => format!("migrating schema {schema}: {}", pg_message(&e)),
                other => format!("migrating schema {schema}: {}", StoreError::from(other)),
            })
        })?;
        drop(client);
        let _ = driver.await;

        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Open(format!("connection pool: {e}")))?;

        let channel: Arc<str> = listen::channel_for(&schema).into();
        let (changes, _) = broadcast::channel(CHANGES_CAPACITY);
        let listener = Listener::start(config, tls, channel.to_string(), changes.clone())
            .await
            .map_err(open)?;
        let writer = publish::Writer::start(pool.clone(), channel.clone());
        Ok(Self {
            pool,
            schema,
            channel,
            closed: AtomicBool::new(false),
            writer,
            listener,
            changes,
            crypt: Crypt::none(),
        })
    }

    /// Seals secret values with `crypt` from now on (see [`crate::crypt`]).
    pub fn with_crypt(mut self, crypt: Crypt) -> Self {
        self.crypt = crypt;
        self
    }

    /// The schema the store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A pooled connection, unless the store is closed.
    async fn conn(&self) -> F<Object> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Fail::Store(StoreError::Closed));
        }
        Ok(self.pool.get().await?)
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

type Param<'a> = &'a (dyn ToSql + Sync);

/// Runs a (cached) statement and decodes every row.
async fn query_all<C, T>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
    decode: impl Fn(&Row) -> R<T>,
) -> F<Vec<T>>
where
    C: GenericClient + Sync,
{
    let stmt = c.prepare_cached(sql).await?;
    let rows = c.query(&stmt, params).await?;
    Ok(rows.iter().map(decode).collect::<R<Vec<T>>>()?)
}

async fn query_opt<C, T>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
    decode: impl Fn(&Row) -> R<T>,
) -> F<Option<T>>
where
    C: GenericClient + Sync,
{
    Ok(query_all(c, sql, params, decode).await?.into_iter().next())
}

async fn execute<C>(c: &C, sql: &str, params: &[Param<'_>]) -> F<u64>
where
    C: GenericClient + Sync,
{
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, params).await?)
}

/// Endpoint rows re-sealed per transaction.
const RESEAL_BATCH: i64 = 100;

/// `id, secret, previous_secret, advanced_options` of an endpoint row.
fn secret_cols(r: &Row) -> R<SecretCols> {
    Ok(SecretCols {
        id: col(r, 0)?,
        secret: col(r, 1)?,
        previous: col(r, 2)?,
        options: col(r, 3)?,
    })
}

/// Runs a list query for one page.
async fn run_page<T>(
    c: &Object,
    q: &ListSql,
    limit: u32,
    decode: impl Fn(&Row) -> R<T>,
    id_of: impl Fn(&T) -> String,
) -> F<Page<T>> {
    let params: Vec<Param<'_>> = q
        .params
        .iter()
        .map(|v| match v {
            list::Value::Text(s) => s as Param<'_>,
            list::Value::Int(i) => i as Param<'_>,
        })
        .collect();
    let items = query_all(c, &q.sql, &params, decode).await?;
    Ok(list::page_of(items, limit, id_of))
}

// --- statements built from the column lists -----------------------------

static INSERT_ENDPOINT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH ins AS (INSERT INTO endpoints ({ENDPOINT_COLS}) VALUES \
         ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) \
         RETURNING workspace_id) \
         SELECT pg_notify($20, '{ROUTING}' || workspace_id) FROM ins"
    )
});

static UPDATE_ENDPOINT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH u AS (UPDATE endpoints SET url = $3, name = $4, status = $5, disabled_reason = $6, \
           enabled_events = $7, api_version = $8, advanced_options = $9, signature_scheme = $10, \
           retry_schedule = $11, rate_limit_per_second = $12, secret = $13, previous_secret = $14, \
           previous_secret_until = $15, updated_at = $16, \
           failing_since = CASE WHEN status <> 'enabled' AND $5 = 'enabled' THEN NULL ELSE failing_since END \
         WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL AND updated_at = $17 \
         RETURNING workspace_id) \
         SELECT pg_notify($18, '{ROUTING}' || workspace_id) FROM u"
    )
});

static DELETE_ENDPOINT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH e AS (UPDATE endpoints SET deleted_at = $3, updated_at = $3 \
           WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL RETURNING id, workspace_id), \
         s AS (DELETE FROM subscriptions WHERE endpoint_id IN (SELECT id FROM e)), \
         d AS (UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, \
           updated_at = $3 WHERE endpoint_id IN (SELECT id FROM e) AND status = 'pending') \
         SELECT pg_notify($4, '{ROUTING}' || workspace_id) FROM e"
    )
});

static UPSERT_SUBSCRIPTION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH up AS (INSERT INTO subscriptions ({SUBSCRIPTION_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7) \
           ON CONFLICT (endpoint_id, resource_type, resource_id) \
           DO UPDATE SET enabled_events = EXCLUDED.enabled_events \
           RETURNING {SUBSCRIPTION_COLS}, (xmax = 0) AS created) \
         SELECT up.*, pg_notify($8, '{ROUTING}' || up.workspace_id) FROM up"
    )
});

/// Live endpoints of a workspace, for its quota.
const COUNT_ENDPOINTS: &str =
    "SELECT COUNT(*) FROM endpoints WHERE workspace_id = $1 AND deleted_at IS NULL";
/// Subscriptions of a workspace, for its quota.
const COUNT_SUBSCRIPTIONS: &str = "SELECT COUNT(*) FROM subscriptions WHERE workspace_id = $1";

/// Takes the workspace's row lock until the transaction ends, so that
/// quota-checked creates in one workspace run one at a time, on every node:
/// each counts only after the one before it committed (READ COMMITTED reads
/// a fresh snapshot per statement). Nothing else locks workspace rows. (A
/// workspace id without a row — only possible when a caller makes one up —
/// locks nothing: its creates are still counted, just not serialised.)
async fn lock_workspace<C: GenericClient + Sync>(tx: &C, ws: &str) -> F<()> {
    execute(
        tx,
        "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE",
        &[&ws],
    )
    .await?;
    Ok(())
}

async fn count<C: GenericClient + Sync>(tx: &C, sql: &str, ws: &str) -> F<i64> {
    Ok(query_opt(tx, sql, &[&ws], |r| col::<i64>(r, 0))
        .await?
        .unwrap_or(0))
}

static UPDATE_SUBSCRIPTION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH u AS (UPDATE subscriptions SET enabled_events = $3 \
           WHERE id = $1 AND workspace_id = $2 RETURNING {SUBSCRIPTION_COLS}) \
         SELECT u.*, pg_notify($4, '{ROUTING}' || u.workspace_id) FROM u"
    )
});

static DELETE_SUBSCRIPTION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS (DELETE FROM subscriptions WHERE id = $1 AND workspace_id = $2 \
           RETURNING workspace_id) \
         SELECT pg_notify($3, '{ROUTING}' || workspace_id) FROM d"
    )
});

/// The due deliveries of workspace `$1` a claim may choose from, endpoint by
/// endpoint: a loose scan of `deliveries_due_endpoint` finds the endpoints
/// with pending deliveries (one probe each), and each gets its oldest due
/// ones, as many as its room (`$3`/`$4`, else `$5`; at most `$6`), locked
/// so that concurrent claimers (on any node) skip them instead of waiting.
/// An endpoint without room costs one probe, however many it has waiting.
/// Locking re-checks the row against the `WHERE` (READ COMMITTED), so a row
/// another claimer leased meanwhile is dropped.
const CLAIM_CANDIDATES: &str = "WITH RECURSIVE e AS ( \
       (SELECT endpoint_id FROM deliveries WHERE status = 'pending' AND workspace_id = $1 \
        ORDER BY endpoint_id LIMIT 1) \
       UNION ALL \
       SELECT n.endpoint_id FROM e, LATERAL (SELECT endpoint_id FROM deliveries \
         WHERE status = 'pending' AND workspace_id = $1 AND endpoint_id > e.endpoint_id \
         ORDER BY endpoint_id LIMIT 1) n) \
     SELECT c.id FROM e \
     LEFT JOIN unnest($3::text[], $4::int8[]) AS x(ep, room) ON x.ep = e.endpoint_id \
     CROSS JOIN LATERAL (SELECT id, ready_at FROM deliveries \
       WHERE status = 'pending' AND workspace_id = $1 AND endpoint_id = e.endpoint_id \
         AND ready_at <= $2 \
       ORDER BY ready_at LIMIT LEAST(COALESCE(x.room, $5), $6) FOR UPDATE SKIP LOCKED) c \
     ORDER BY c.ready_at";

static CLAIM_TAKE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE deliveries SET lease_owner = $1, ready_at = $2 WHERE id = ANY($3::text[]) \
         RETURNING {DELIVERY_COLS}"
    )
});

/// Workspaces with due deliveries after `$1`: a loose scan of the due index,
/// one index probe per workspace (the first entry after a workspace is the
/// next workspace's earliest), stopped by the `LIMIT`.
const DUE_WORKSPACES: &str = "WITH RECURSIVE w AS ( \
       (SELECT workspace_id, ready_at FROM deliveries \
        WHERE status = 'pending' AND workspace_id > $1 ORDER BY workspace_id, ready_at LIMIT 1) \
       UNION ALL \
       SELECT n.workspace_id, n.ready_at FROM w, LATERAL (SELECT workspace_id, ready_at \
         FROM deliveries WHERE status = 'pending' AND workspace_id > w.workspace_id \
         ORDER BY workspace_id, ready_at LIMIT 1) n) \
     SELECT workspace_id FROM w WHERE ready_at <= $2 LIMIT $3";

static EVENTS_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLS} FROM events WHERE id = ANY($1::text[])"));

static REQUEUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH u AS (UPDATE deliveries SET \
           manual = CASE WHEN status = 'pending' THEN manual ELSE TRUE END, \
           status = 'pending', next_attempt_at = $3, ready_at = $4, lease_owner = $5, updated_at = $3 \
           WHERE id = $1 AND workspace_id = $2 RETURNING {DELIVERY_COLS}) \
         SELECT {}, {} FROM u JOIN events e ON e.id = u.event_id",
        qualified(DELIVERY_COLS, "u"),
        qualified(EVENT_COLS, "e")
    )
});

static RELEASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH r AS (UPDATE deliveries SET lease_owner = NULL, \
           ready_at = COALESCE(next_attempt_at, ready_at) \
           WHERE id = ANY($1::text[]) AND lease_owner = $2 RETURNING status) \
         SELECT pg_notify($3, '{DUE}') FROM (SELECT 1 FROM r WHERE status = 'pending' LIMIT 1) x"
    )
});

static RELEASE_STALE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH r AS (UPDATE deliveries SET lease_owner = NULL, \
           ready_at = COALESCE(next_attempt_at, ready_at) \
           WHERE status = 'pending' AND lease_owner IS NOT NULL \
             AND ($1::text IS NULL OR starts_with(lease_owner, $1::text)) \
           RETURNING 1), \
         c AS (SELECT count(*) AS n FROM r) \
         SELECT c.n FROM c LEFT JOIN LATERAL (SELECT pg_notify($2, '{DUE}') WHERE c.n > 0) x ON TRUE"
    )
});

static RECOVER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH r AS (UPDATE deliveries SET status = 'pending', manual = TRUE, next_attempt_at = $5, \
           ready_at = $5, lease_owner = NULL, updated_at = $5 \
           WHERE endpoint_id = $2 AND workspace_id = $1 AND status = 'failed' \
             AND created_at >= $3 AND created_at < $4 \
           RETURNING 1), \
         c AS (SELECT count(*) AS n FROM r) \
         SELECT c.n FROM c LEFT JOIN LATERAL (SELECT pg_notify($6, '{DUE}') WHERE c.n > 0) x ON TRUE"
    )
});

// The array statements below also say `id = ANY($1)`: it lets the planner
// find the rows by primary key whatever it guesses of the `unnest` (else it
// may hash-join against a scan of the whole table).
const RECORD_DELIVERIES: &str = "UPDATE deliveries d SET \
       attempt_count = d.attempt_count + u.made, \
       status = CASE WHEN d.status = 'pending' THEN u.status ELSE d.status END, \
       next_attempt_at = CASE WHEN d.status = 'pending' THEN u.next ELSE d.next_attempt_at END, \
       ready_at = CASE WHEN d.status = 'pending' THEN COALESCE(u.next, d.ready_at) ELSE d.ready_at END, \
       manual = CASE WHEN d.status = 'pending' AND u.status = 'pending' THEN FALSE ELSE d.manual END, \
       lease_owner = NULL, updated_at = u.at \
     FROM unnest($1::text[], $2::int4[], $3::text[], $4::int8[], $5::int8[], $6::text[]) \
       AS u(id, made, status, next, at, owner) \
     WHERE d.id = u.id AND d.id = ANY($1::text[]) \
       AND (u.owner IS NULL OR d.lease_owner = u.owner) \
     RETURNING d.id, d.attempt_count, d.workspace_id";

const RECORD_ATTEMPTS: &str = "INSERT INTO attempts (delivery_id, attempt_number, started_at, \
       duration_ms, request_url, request_headers, response_status, response_headers, \
       response_body, error_kind, error_message) \
     SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[], $4::int8[], $5::text[], $6::text[], \
       $7::int4[], $8::text[], $9::text[], $10::text[], $11::text[]) \
     ON CONFLICT (delivery_id, attempt_number) DO UPDATE SET \
       started_at = EXCLUDED.started_at, duration_ms = EXCLUDED.duration_ms, \
       request_url = EXCLUDED.request_url, request_headers = EXCLUDED.request_headers, \
       response_status = EXCLUDED.response_status, response_headers = EXCLUDED.response_headers, \
       response_body = EXCLUDED.response_body, error_kind = EXCLUDED.error_kind, \
       error_message = EXCLUDED.error_message";

/// Each endpoint's failure record after a sequence of Mark/Clear effects:
/// cleared (and then marked by the first mark after the last clear), or
/// marked by the first mark unless it was failing already.
const RECORD_FAILING: &str = "UPDATE endpoints e SET \
       failing_since = CASE WHEN u.clear THEN u.mark ELSE COALESCE(e.failing_since, u.mark) END \
     FROM unnest($1::text[], $2::bool[], $3::int8[]) AS u(id, clear, mark) \
     WHERE e.id = u.id AND e.id = ANY($1::text[]) \
       AND e.failing_since IS DISTINCT FROM \
           (CASE WHEN u.clear THEN u.mark ELSE COALESCE(e.failing_since, u.mark) END)";

static RECORD_DISABLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS (UPDATE endpoints e SET status = 'disabled', disabled_reason = 'failing', \
           updated_at = u.at \
           FROM unnest($1::text[], $2::int8[]) AS u(id, at) \
           WHERE e.id = u.id AND e.id = ANY($1::text[]) \
             AND e.status = 'enabled' AND e.deleted_at IS NULL \
           RETURNING e.workspace_id) \
         SELECT pg_notify($3, '{ROUTING}' || workspace_id) FROM d"
    )
});

/// A chunk of finished deliveries created before the cutoff, with their
/// attempts. The rows are locked first (and re-checked if changed
/// meanwhile), so a delivery requeued at that moment is left alone.
const PURGE_DELIVERIES: &str = "WITH doomed AS (SELECT ARRAY(SELECT id FROM deliveries \
       WHERE id < $1 AND status <> 'pending' LIMIT 2000 FOR UPDATE SKIP LOCKED) AS ids), \
     a AS (DELETE FROM attempts WHERE delivery_id = ANY((SELECT ids FROM doomed)::text[]) RETURNING 1), \
     d AS (DELETE FROM deliveries WHERE id = ANY((SELECT ids FROM doomed)::text[]) RETURNING 1) \
     SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM a)";

/// A chunk of events created before the cutoff that no delivery needs.
const PURGE_EVENTS: &str = "DELETE FROM events WHERE id = ANY(ARRAY(SELECT e.id FROM events e \
       WHERE e.id < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) \
       LIMIT 2000))";

/// Rows of a purge chunk: the `LIMIT` of [`PURGE_DELIVERIES`] and
/// [`PURGE_EVENTS`] (a chunk with fewer rows is the last). Each chunk is a
/// statement of its own, so that nothing waits long.
const PURGE_CHUNK: u64 = 2000;

impl PostgresStore {
    async fn record_outcomes_once(&self, outcomes: &[Outcome]) -> F<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;

        // Outcomes of one delivery apply in order: the n-th outcome of a
        // delivery goes in round n (one array statement per round, usually one).
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let round: Vec<usize> = outcomes
            .iter()
            .map(|o| {
                let n = seen.entry(o.delivery_id.as_str()).or_insert(0);
                *n += 1;
                *n - 1
            })
            .collect();
        let rounds = round.iter().copied().max().map_or(0, |m| m + 1);
        // Per (round, delivery) recorded: its attempt count and workspace.
        let mut counts: std::collections::HashMap<(usize, String), (i32, String)> =
            std::collections::HashMap::new();
        let stmt = tx.prepare_cached(RECORD_DELIVERIES).await?;
        for r in 0..rounds {
            let mut these: Vec<&Outcome> = outcomes
                .iter()
                .zip(&round)
                .filter(|(_, n)| **n == r)
                .map(|(o, _)| o)
                .collect();
            // One lock order for every writer.
            these.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
            let ids: Vec<&str> = these.iter().map(|o| o.delivery_id.as_str()).collect();
            let made: Vec<i32> = these
                .iter()
                .map(|o| outcome::attempts_made(o) as i32)
                .collect();
            let status: Vec<&str> = these.iter().map(|o| o.status.as_str()).collect();
            let next: Vec<Option<i64>> = these
                .iter()
                .map(|o| o.next_attempt_at.map(|t| t.0))
                .collect();
            let at: Vec<i64> = these.iter().map(|o| outcome::recorded_at(o).0).collect();
            let owner: Vec<Option<&str>> = these.iter().map(|o| o.lease_owner.as_deref()).collect();
            for row in tx
                .query(&stmt, &[&ids, &made, &status, &next, &at, &owner])
                .await?
            {
                counts.insert((r, col(&row, 0)?), (col(&row, 1)?, col(&row, 2)?));
            }
        }

        let mut increments = Increments::default();
        let attempts: Vec<(&str, i32, &Attempt)> = outcomes
            .iter()
            .zip(&round)
            .filter_map(|(o, r)| {
                let a = o.attempt.as_ref()?;
                let (n, ws) = counts.get(&(*r, o.delivery_id.to_string()))?;
                increments.add(ws, o);
                Some((o.delivery_id.as_str(), *n, a))
            })
            .collect();
        if !attempts.is_empty() {
            let ids: Vec<&str> = attempts.iter().map(|a| a.0).collect();
            let number: Vec<i32> = attempts.iter().map(|a| a.1).collect();
            let started: Vec<i64> = attempts.iter().map(|a| a.2.started_at.0).collect();
            let duration: Vec<i64> = attempts
                .iter()
                .map(|a| i64::from(a.2.duration_ms))
                .collect();
            let url: Vec<String> = attempts.iter().map(|a| pg_text(&a.2.request_url)).collect();
            let req_headers = attempts
                .iter()
                .map(|a| serde_json::to_string(&a.2.request_headers).map(|s| pg_text(&s)))
                .collect::<std::result::Result<Vec<String>, _>>()?;
            let status: Vec<Option<i32>> = attempts
                .iter()
                .map(|a| a.2.response_status.map(i32::from))
                .collect();
            let resp_headers = attempts
                .iter()
                .map(|a| serde_json::to_string(&a.2.response_headers).map(|s| pg_text(&s)))
                .collect::<std::result::Result<Vec<String>, _>>()?;
            let body: Vec<Option<String>> = attempts
                .iter()
                .map(|a| a.2.response_body.as_deref().map(pg_text))
                .collect();
            let kind: Vec<Option<&str>> = attempts
                .iter()
                .map(|a| a.2.error_kind.map(|k| k.as_str()))
                .collect();
            let message: Vec<Option<String>> = attempts
                .iter()
                .map(|a| a.2.error_message.as_deref().map(pg_text))
                .collect();
            let stmt = tx.prepare_cached(RECORD_ATTEMPTS).await?;
            tx.execute(
                &stmt,
                &[
                    &ids,
                    &number,
                    &started,
                    &duration,
                    &url,
                    &req_headers,
                    &status,
                    &resp_headers,
                    &body,
                    &kind,
                    &message,
                ],
            )
            .await?;
        }

        let EndpointEffects { failing, disable } = EndpointEffects::fold(outcomes);
        if !failing.is_empty() {
            let ids: Vec<&str> = failing.keys().copied().collect();
            let clear: Vec<bool> = failing.values().map(|f| f.clear).collect();
            let mark: Vec<Option<i64>> = failing.values().map(|f| f.mark.map(|t| t.0)).collect();
            let stmt = tx.prepare_cached(RECORD_FAILING).await?;
            tx.execute(&stmt, &[&ids, &clear, &mark]).await?;
        }
        if !disable.is_empty() {
            let ids: Vec<&str> = disable.keys().copied().collect();
            let at: Vec<i64> = disable.values().map(|t| t.0).collect();
            let stmt = tx.prepare_cached(&RECORD_DISABLE).await?;
            tx.execute(&stmt, &[&ids, &at, &&*self.channel]).await?;
        }
        // Last: the rollup rows are shared by every node recording attempts
        // of an endpoint in the same minute, so their locks are held for as
        // little of the transaction as can be.
        stats::add(&tx, &increments).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn purge_once(&self, before: Timestamp, now: Timestamp) -> F<Purged> {
        let mut total = Purged::default();
        let dcut = windows::cutoff_id(DeliveryId::PREFIX, before);
        let ecut = windows::cutoff_id(EventId::PREFIX, before);
        // In chunks of `PURGE_CHUNK` rows (see there).
        loop {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(PURGE_DELIVERIES).await?;
            let row = c.query_one(&stmt, &[&dcut]).await?;
            let (d, a): (i64, i64) = (col(&row, 0)?, col(&row, 1)?);
            total.deliveries += d as u64;
            total.attempts += a as u64;
            if (d as u64) < PURGE_CHUNK {
                break;
            }
        }
        loop {
            let c = self.conn().await?;
            let n = execute(&c, PURGE_EVENTS, &[&ecut]).await?;
            total.events += n;
            if n < PURGE_CHUNK {
                break;
            }
        }
        for r in Rollup::ALL {
            let cut = windows::stats_cutoff(r, before);
            let c = self.conn().await?;
            for ws in stats::workspaces(&c, r).await? {
                loop {
                    let n = stats::purge_chunk(&c, r, &ws, cut, PURGE_CHUNK as i64).await?;
                    total.stats_rows += n;
                    if n < PURGE_CHUNK {
                        break;
                    }
                }
            }
        }
        let c = self.conn().await?;
        execute(
            &c,
            "DELETE FROM idempotency_keys WHERE created_at < $1",
            &[&windows::idempotency_expired_before(now).0],
        )
        .await?;
        execute(
            &c,
            "DELETE FROM endpoints WHERE deleted_at IS NOT NULL AND deleted_at < $1",
            &[&before.0],
        )
        .await?;
        execute(
            &c,
            "DELETE FROM dashboard_sessions WHERE expires_at <= $1 OR last_seen_at + idle_timeout_ms <= $1",
            &[&now.0],
        )
        .await?;
        execute(
            &c,
            "DELETE FROM portal_links WHERE expires_at <= $1",
            &[&now.0],
        )
        .await?;
        Ok(total)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_workspace(&self, ws: &Workspace) -> Result<()> {
        let c = self.conn().await?;
        execute(
            &c,
            "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)",
            &[&ws.id.as_str(), &ws.name, &ws.created_at.0],
        )
        .await?;
        Ok(())
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        let c = self.conn().await?;
        let sql = format!("SELECT {WORKSPACE_COLS} FROM workspaces WHERE id = $1");
        Ok(query_opt(&c, &sql, &[&id.as_str()], workspace).await?)
    }

    async fn find_workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        let c = self.conn().await?;
        let sql =
            format!("SELECT {WORKSPACE_COLS} FROM workspaces WHERE name = $1 ORDER BY id LIMIT 1");
        Ok(query_opt(&c, &sql, &[&name], workspace).await?)
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let c = self.conn().await?;
        let sql = format!(
            "INSERT INTO api_keys ({API_KEY_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING"
        );
        execute(
            &c,
            &sql,
            &[
                &key.id.as_str(),
                &key.workspace_id.as_str(),
                &key.name,
                &key.prefix,
                &key.hash.to_hex(),
                &key.created_at.0,
                &key.revoked_at.map(|t| t.0),
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &ApiKeyHash) -> Result<Option<ApiKeyRecord>> {
        let c = self.conn().await?;
        let sql = format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1");
        Ok(query_opt(&c, &sql, &[&hash.to_hex()], api_key).await?)
    }

    async fn list_api_keys(
        &self,
        ws: &WorkspaceId,
        page: &PageRequest,
    ) -> Result<Page<ApiKeyRecord>> {
        let q = list::api_keys(API_KEY_COLS, ws).render(page, Placeholder::Dollar);
        let c = self.conn().await?;
        Ok(run_page(&c, &q, page.limit, api_key, |k| k.id.to_string()).await?)
    }

    async fn revoke_api_key(&self, ws: &WorkspaceId, id: &ApiKeyId, at: Timestamp) -> Result<bool> {
        let c = self.conn().await?;
        // One statement: the key's sessions end with it.
        let n = query_opt(
            &c,
            "WITH revoked AS (UPDATE api_keys SET revoked_at = $3 \
             WHERE id = $1 AND workspace_id = $2 AND revoked_at IS NULL RETURNING id), \
             ended AS (DELETE FROM dashboard_sessions WHERE api_key_id IN (SELECT id FROM revoked)) \
             SELECT count(*) FROM revoked",
            &[&id.as_str(), &ws.as_str(), &at.0],
            |r| col::<i64>(r, 0),
        )
        .await?
        .unwrap_or(0);
        Ok(n > 0)
    }

    async fn list_workspaces(&self, page: &PageRequest) -> Result<Page<Workspace>> {
        let q = list::workspaces(WORKSPACE_COLS).render(page, Placeholder::Dollar);
        let c = self.conn().await?;
        Ok(run_page(&c, &q, page.limit, workspace, |w| w.id.to_string()).await?)
    }

    async fn create_dashboard_session(&self, s: &DashboardSession) -> Result<()> {
        let c = self.conn().await?;
        let sql = format!(
            "INSERT INTO dashboard_sessions ({SESSION_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
        );
        execute(
            &c,
            &sql,
            &[
                &s.token_hash.to_hex(),
                &s.workspace_id.as_ref().map(|w| w.as_str()),
                &s.kind.as_str(),
                &s.api_key_id.as_ref().map(|k| k.as_str()),
                &s.read_only,
                &s.csrf_token.expose(),
                &s.created_at.0,
                &s.last_seen_at.0,
                &s.idle_timeout_ms,
                &s.expires_at.0,
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_dashboard_session(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<DashboardSession>> {
        let c = self.conn().await?;
        let sql = format!(
            "SELECT {SESSION_COLS} FROM dashboard_sessions WHERE token_hash = $1 \
             AND expires_at > $2 AND last_seen_at + idle_timeout_ms > $2"
        );
        Ok(query_opt(&c, &sql, &[&hash.to_hex(), &now.0], dashboard_session).await?)
    }

    async fn touch_dashboard_session(&self, hash: &TokenHash, at: Timestamp) -> Result<()> {
        let c = self.conn().await?;
        execute(
            &c,
            "UPDATE dashboard_sessions SET last_seen_at = $2 WHERE token_hash = $1 \
             AND last_seen_at < $2 AND expires_at > $2 AND last_seen_at + idle_timeout_ms > $2",
            &[&hash.to_hex(), &at.0],
        )
        .await?;
        Ok(())
    }

    async fn set_dashboard_session_workspace(
        &self,
        hash: &TokenHash,
        ws: &WorkspaceId,
    ) -> Result<bool> {
        let c = self.conn().await?;
        let n = execute(
            &c,
            "UPDATE dashboard_sessions SET workspace_id = $2 WHERE token_hash = $1 AND kind = 'admin'",
            &[&hash.to_hex(), &ws.as_str()],
        )
        .await?;
        Ok(n > 0)
    }

    async fn delete_dashboard_session(&self, hash: &TokenHash) -> Result<bool> {
        let c = self.conn().await?;
        let n = execute(
            &c,
            "DELETE FROM dashboard_sessions WHERE token_hash = $1",
            &[&hash.to_hex()],
        )
        .await?;
        Ok(n > 0)
    }

    async fn create_portal_link(&self, link: &PortalLink) -> Result<()> {
        let c = self.conn().await?;
        let sql =
            format!("INSERT INTO portal_links ({PORTAL_LINK_COLS}) VALUES ($1,$2,$3,$4,$5,$6)");
        execute(
            &c,
            &sql,
            &[
                &link.token_hash.to_hex(),
                &link.workspace_id.as_str(),
                &link.read_only,
                &link.created_at.0,
                &link.expires_at.0,
                &link.used_at.map(|t| t.0),
            ],
        )
        .await?;
        Ok(())
    }

    async fn redeem_portal_link(&self, hash: &TokenHash, now: Timestamp) -> Result<Redemption> {
        let c = self.conn().await?;
        let h = hash.to_hex();
        // A concurrent redeemer waits for this row's lock and then finds
        // `used_at` set (READ COMMITTED re-checks the WHERE): one wins.
        let sql = format!(
            "UPDATE portal_links SET used_at = $2 WHERE token_hash = $1 \
             AND used_at IS NULL AND expires_at > $2 RETURNING {PORTAL_LINK_COLS}"
        );
        if let Some(link) = query_opt(&c, &sql, &[&h, &now.0], portal_link).await? {
            return Ok(Redemption::Opened(link));
        }
        let sql = format!("SELECT {PORTAL_LINK_COLS} FROM portal_links WHERE token_hash = $1");
        Ok(match query_opt(&c, &sql, &[&h], portal_link).await? {
            None => Redemption::Unknown,
            Some(l) if l.used_at.is_some() => Redemption::AlreadyUsed,
            Some(_) => Redemption::Expired,
        })
    }

    async fn insert_endpoint(&self, e: &Endpoint, max_per_workspace: Option<u32>) -> Result<()> {
        let v = EndpointValues::of(e, &self.crypt)?;
        let params: [Param<'_>; 20] = [
            &v.id,
            &v.workspace_id,
            &v.url,
            &v.name,
            &v.status,
            &v.disabled_reason,
            &v.enabled_events,
            &v.api_version,
            &v.advanced_options,
            &v.signature_scheme,
            &v.retry_schedule,
            &v.rate_limit_per_second,
            &v.secret,
            &v.previous_secret,
            &v.previous_secret_until,
            &v.created_at,
            &v.created_by,
            &v.updated_at,
            &v.failing_since,
            &&*self.channel,
        ];
        let Some(limit) = max_per_workspace else {
            let c = self.conn().await?;
            execute(&c, &INSERT_ENDPOINT, &params).await?;
            return Ok(());
        };
        retrying!(async {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            lock_workspace(&tx, e.workspace_id.as_str()).await?;
            let n = count(&tx, COUNT_ENDPOINTS, e.workspace_id.as_str()).await?;
            if n >= i64::from(limit) {
                return Err(Fail::Store(StoreError::QuotaExceeded {
                    what: "endpoints",
                    limit,
                }));
            }
            execute(&tx, &INSERT_ENDPOINT, &params).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn update_endpoint(&self, e: &Endpoint, if_updated_at: Timestamp) -> Result<bool> {
        let v = EndpointValues::of(e, &self.crypt)?;
        let c = self.conn().await?;
        let n = execute(
            &c,
            &UPDATE_ENDPOINT,
            &[
                &v.id,
                &v.workspace_id,
                &v.url,
                &v.name,
                &v.status,
                &v.disabled_reason,
                &v.enabled_events,
                &v.api_version,
                &v.advanced_options,
                &v.signature_scheme,
                &v.retry_schedule,
                &v.rate_limit_per_second,
                &v.secret,
                &v.previous_secret,
                &v.previous_secret_until,
                &v.updated_at,
                &if_updated_at.0,
                &&*self.channel,
            ],
        )
        .await?;
        Ok(n > 0)
    }

    async fn get_endpoint(&self, ws: &WorkspaceId, id: &EndpointId) -> Result<Option<Endpoint>> {
        let c = self.conn().await?;
        let sql = format!(
            "SELECT {ENDPOINT_COLS} FROM endpoints WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL"
        );
        Ok(query_opt(&c, &sql, &[&id.as_str(), &ws.as_str()], |r| {
            endpoint(r, &self.crypt)
        })
        .await?)
    }

    async fn list_endpoints(
        &self,
        ws: &WorkspaceId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>> {
        let q = list::endpoints(ENDPOINT_COLS, ws, filter).render(page, Placeholder::Dollar);
        let c = self.conn().await?;
        Ok(run_page(
            &c,
            &q,
            page.limit,
            |r| endpoint(r, &self.crypt),
            |e| e.id.to_string(),
        )
        .await?)
    }

    async fn delete_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &EndpointId,
        at: Timestamp,
    ) -> Result<bool> {
        let n = retrying!(async {
            let c = self.conn().await?;
            execute(
                &c,
                &DELETE_ENDPOINT,
                &[&id.as_str(), &ws.as_str(), &at.0, &&*self.channel],
            )
            .await
        })?;
        Ok(n > 0)
    }

    async fn load_routing(
        &self,
        ws: Option<&WorkspaceId>,
    ) -> Result<(Vec<Endpoint>, Vec<Subscription>)> {
        let mut c = self.conn().await?;
        // One snapshot for both lists.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(Fail::from)?;
        let (eps, subs) = match ws {
            Some(ws) => (
                query_all(
                    &tx,
                    &format!("SELECT {ENDPOINT_COLS} FROM endpoints WHERE deleted_at IS NULL AND workspace_id = $1 ORDER BY id"),
                    &[&ws.as_str()],
                    |r| endpoint(r, &self.crypt),
                )
                .await?,
                query_all(
                    &tx,
                    &format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE workspace_id = $1 ORDER BY id"),
                    &[&ws.as_str()],
                    subscription,
                )
                .await?,
            ),
            None => (
                query_all(
                    &tx,
                    &format!("SELECT {ENDPOINT_COLS} FROM endpoints WHERE deleted_at IS NULL ORDER BY id"),
                    &[],
                    |r| endpoint(r, &self.crypt),
                )
                .await?,
                query_all(
                    &tx,
                    &format!("SELECT {SUBSCRIPTION_COLS} FROM subscriptions ORDER BY id"),
                    &[],
                    subscription,
                )
                .await?,
            ),
        };
        tx.commit().await.map_err(Fail::from)?;
        Ok((eps, subs))
    }

    async fn upsert_subscription(
        &self,
        s: &Subscription,
        max_per_workspace: Option<u32>,
    ) -> Result<(Subscription, bool)> {
        let events = serde_json::to_string(&s.enabled_events)?;
        let params: [Param<'_>; 8] = [
            &s.id.as_str(),
            &s.workspace_id.as_str(),
            &s.endpoint_id.as_str(),
            &s.resource_type.as_str(),
            &s.resource_id,
            &events,
            &s.created_at.0,
            &&*self.channel,
        ];
        let decode = |r: &Row| Ok((subscription(r)?, col::<bool>(r, 7)?));
        let row = match max_per_workspace {
            None => {
                let c = self.conn().await?;
                query_opt(&c, &UPSERT_SUBSCRIPTION, &params, decode).await?
            }
            Some(limit) => retrying!(async {
                let mut c = self.conn().await?;
                let tx = c.transaction().await?;
                lock_workspace(&tx, s.workspace_id.as_str()).await?;
                let existing = query_opt(
                    &tx,
                    "SELECT 1 FROM subscriptions WHERE endpoint_id = $1 AND resource_type = $2 AND resource_id = $3",
                    &[&s.endpoint_id.as_str(), &s.resource_type.as_str(), &s.resource_id],
                    |_| Ok(()),
                )
                .await?;
                if existing.is_none() {
                    let n = count(&tx, COUNT_SUBSCRIPTIONS, s.workspace_id.as_str()).await?;
                    if n >= i64::from(limit) {
                        return Err(Fail::Store(StoreError::QuotaExceeded {
                            what: "subscriptions",
                            limit,
                        }));
                    }
                }
                let row = query_opt(&tx, &UPSERT_SUBSCRIPTION, &params, decode).await?;
                tx.commit().await?;
                Ok(row)
            })?,
        };
        row.ok_or_else(|| StoreError::internal("upsert returned no row"))
    }

    async fn update_subscription_events(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
        events: &[String],
    ) -> Result<Option<Subscription>> {
        let events = serde_json::to_string(events)?;
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            &UPDATE_SUBSCRIPTION,
            &[&id.as_str(), &ws.as_str(), &events, &&*self.channel],
            subscription,
        )
        .await?)
    }

    async fn get_subscription(
        &self,
        ws: &WorkspaceId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>> {
        let c = self.conn().await?;
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLS} FROM subscriptions WHERE id = $1 AND workspace_id = $2"
        );
        Ok(query_opt(&c, &sql, &[&id.as_str(), &ws.as_str()], subscription).await?)
    }

    async fn list_subscriptions(
        &self,
        ws: &WorkspaceId,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let q =
            list::subscriptions(SUBSCRIPTION_COLS, ws, filter).render(page, Placeholder::Dollar);
        let c = self.conn().await?;
        Ok(run_page(&c, &q, page.limit, subscription, |s| s.id.to_string()).await?)
    }

    async fn delete_subscription(&self, ws: &WorkspaceId, id: &SubscriptionId) -> Result<bool> {
        let c = self.conn().await?;
        let n = execute(
            &c,
            &DELETE_SUBSCRIPTION,
            &[&id.as_str(), &ws.as_str(), &&*self.channel],
        )
        .await?;
        Ok(n > 0)
    }

    async fn get_event(
        &self,
        ws: &WorkspaceId,
        id: &EventId,
    ) -> Result<Option<(Event, Vec<DeliverySummary>)>> {
        let c = self.conn().await?;
        let sql = format!("SELECT {EVENT_COLS} FROM events WHERE id = $1 AND workspace_id = $2");
        let Some(ev) = query_opt(&c, &sql, &[&id.as_str(), &ws.as_str()], event).await? else {
            return Ok(None);
        };
        let summaries = query_all(
            &c,
            "SELECT id, endpoint_id, status, attempt_count FROM deliveries WHERE event_id = $1 ORDER BY id",
            &[&id.as_str()],
            summary,
        )
        .await?;
        Ok(Some((ev, summaries)))
    }

    async fn list_events(
        &self,
        ws: &WorkspaceId,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<Event>> {
        let q = list::events(EVENT_COLS, ws, filter).render(page, Placeholder::Dollar);
        let c = self.conn().await?;
        Ok(run_page(&c, &q, page.limit, event, |e| e.id.to_string()).await?)
    }

    async fn get_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
    ) -> Result<Option<(Delivery, Vec<Attempt>)>> {
        let c = self.conn().await?;
        let sql =
            format!("SELECT {DELIVERY_COLS} FROM deliveries WHERE id = $1 AND workspace_id = $2");
        let Some(d) = query_opt(&c, &sql, &[&id.as_str(), &ws.as_str()], delivery).await? else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {ATTEMPT_COLS} FROM attempts WHERE delivery_id = $1 ORDER BY attempt_number"
        );
        let attempts = query_all(&c, &sql, &[&id.as_str()], attempt).await?;
        Ok(Some((d, attempts)))
    }

    async fn list_deliveries(
        &self,
        ws: &WorkspaceId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>> {
        let q = list::deliveries(DELIVERY_COLS, ws, filter).render(page, Placeholder::Dollar);
        let c = self.conn().await?;
        Ok(run_page(&c, &q, page.limit, delivery, |d| d.id.to_string()).await?)
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
        let c = self.conn().await?;
        let rows = stats::read(
            &c,
            bucket.rollup(),
            ws.as_str(),
            endpoint.map(|e| e.as_str()),
            window.since.0,
            window.until.0,
        )
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
        let mut c = self.conn().await?;
        // One snapshot: the ranges add up to one moment's rows.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(Fail::from)?;
        let mut per = std::collections::BTreeMap::new();
        for (r, from, to) in ranges.0 {
            stats::read_per_endpoint(&tx, r, ws.as_str(), from, to, &mut per).await?;
        }
        tx.commit().await.map_err(Fail::from)?;
        Ok(per
            .into_iter()
            .map(|(ep, t)| (EndpointId::from_trusted(ep), t))
            .collect())
    }

    async fn purge(&self, before: Timestamp, now: Timestamp) -> Result<Purged> {
        retrying!(self.purge_once(before, now))
    }

    async fn server_key(&self, name: &str, make: Vec<u8>) -> Result<Vec<u8>> {
        let make = crypt::seal_server_key(&self.crypt, name, &make);
        let c = self.conn().await?;
        execute(
            &c,
            "INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[&name, &make, &hookrelay_core::time::Clock::now(&hookrelay_core::time::SystemClock).0],
        )
        .await?;
        let key = query_opt(
            &c,
            "SELECT key FROM server_keys WHERE name = $1",
            &[&name],
            |r| col::<Vec<u8>>(r, 0),
        )
        .await?;
        let key =
            key.ok_or_else(|| StoreError::internal(format!("server key {name:?} vanished")))?;
        crypt::open_server_key(&self.crypt, name, &key)
    }

    fn sealing_key(&self) -> Option<String> {
        self.crypt.newest_id().map(str::to_owned)
    }

    async fn sealing(&self) -> Result<SealingCensus> {
        let c = self.conn().await?;
        let mut census = SealingCensus::default();
        let rows = query_all(
            &c,
            "SELECT id, secret, previous_secret, advanced_options FROM endpoints",
            &[],
            secret_cols,
        )
        .await?;
        for r in rows {
            let values = r.values()?;
            census.count(values.iter().map(String::as_str));
        }
        let keys = query_all(&c, "SELECT key FROM server_keys", &[], |r| {
            col::<Vec<u8>>(r, 0)
        })
        .await?;
        for k in keys {
            census.count([crypt::server_key_text(&k)]);
        }
        Ok(census)
    }

    async fn reseal(&self, scope: Reseal) -> Result<u64> {
        if self.crypt.keys().is_none() {
            return Ok(0);
        }
        let mut total = 0u64;
        let mut after = String::new();
        loop {
            let c = self.conn().await?;
            let page = query_all(
                &c,
                "SELECT id, secret, previous_secret, advanced_options FROM endpoints \
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &RESEAL_BATCH],
                secret_cols,
            )
            .await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let mut changed = Vec::new();
            for row in &page {
                if let Some(new) = row.resealed(&self.crypt, scope)? {
                    changed.push((row.clone(), new));
                }
            }
            drop(c);
            if changed.is_empty() {
                continue;
            }
            // One short transaction per batch; a row changed meanwhile
            // (its columns no longer as read) is left to its writer.
            total += retrying!(async {
                let mut c = self.conn().await?;
                let tx = c.transaction().await?;
                let mut n = 0;
                for (old, new) in &changed {
                    n += execute(
                        &tx,
                        "UPDATE endpoints SET secret = $5, previous_secret = $6, advanced_options = $7 \
                         WHERE id = $1 AND secret = $2 AND previous_secret IS NOT DISTINCT FROM $3 \
                         AND advanced_options = $4",
                        &[
                            &old.id,
                            &old.secret,
                            &old.previous,
                            &old.options,
                            &new.secret,
                            &new.previous,
                            &new.options,
                        ],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok::<u64, Fail>(n)
            })?;
        }
        let c = self.conn().await?;
        let keys = query_all(
            &c,
            "SELECT name, key FROM server_keys ORDER BY name",
            &[],
            |r| Ok((col::<String>(r, 0)?, col::<Vec<u8>>(r, 1)?)),
        )
        .await?;
        for (name, stored) in keys {
            if self.crypt.stale(crypt::server_key_text(&stored), scope) {
                let key = crypt::open_server_key(&self.crypt, &name, &stored)?;
                let new = crypt::seal_server_key(&self.crypt, &name, &key);
                total += execute(
                    &c,
                    "UPDATE server_keys SET key = $3 WHERE name = $1 AND key = $2",
                    &[&name, &stored, &new],
                )
                .await?;
            }
        }
        Ok(total)
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Queued publishes are still written; later calls are refused.
        self.writer.close().await;
        self.listener.stop().await;
        self.pool.close();
    }

    fn changes(&self) -> Option<broadcast::Receiver<StoreChange>> {
        Some(self.changes.subscribe())
    }
}

#[async_trait]
impl DeliveryQueue for PostgresStore {
    async fn publish(
        &self,
        events: Vec<NewEvent>,
        lease: Option<Lease>,
    ) -> Result<Vec<Result<Published>>> {
        self.check_open()?;
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.writer.publish(events, lease).await
    }

    async fn due_workspaces(
        &self,
        now: Timestamp,
        after: Option<&WorkspaceId>,
        limit: u32,
    ) -> Result<Vec<WorkspaceId>> {
        let c = self.conn().await?;
        let after = after.map_or("", |w| w.as_str());
        let mut rows = query_all(
            &c,
            DUE_WORKSPACES,
            &[&after, &now.0, &i64::from(limit)],
            |r| Ok(WorkspaceId::from_trusted(col(r, 0)?)),
        )
        .await?;
        // The scan walks up the index, but SQL promises no order without an
        // ORDER BY (which would read every workspace before the LIMIT).
        rows.sort();
        Ok(rows)
    }

    async fn claim(&self, claim: &Claim) -> Result<Vec<DueDelivery>> {
        if claim.workspaces.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.conn().await?;
        let tx = c.transaction().await.map_err(Fail::from)?;
        let (named, rooms): (Vec<&str>, Vec<i64>) = claim
            .endpoints
            .iter()
            .map(|(e, n)| (e.as_str(), i64::from(*n)))
            .unzip();
        let mut chosen: Vec<String> = Vec::new();
        for (ws, n) in &claim.workspaces {
            let n = i64::from(*n);
            let default = claim.default_room.map_or(n, i64::from);
            let ids = query_all(
                &tx,
                CLAIM_CANDIDATES,
                &[&ws.as_str(), &claim.now.0, &named, &rooms, &default, &n],
                |r| col::<String>(r, 0),
            )
            .await?;
            // The oldest first, up to the workspace's number; the rest is
            // unlocked when the transaction ends, a moment later.
            chosen.extend(ids.into_iter().take(n as usize));
        }
        let rows = if chosen.is_empty() {
            Vec::new()
        } else {
            query_all(
                &tx,
                &CLAIM_TAKE,
                &[&claim.lease.owner, &claim.lease.until.0, &chosen],
                delivery_manual,
            )
            .await?
        };
        tx.commit().await.map_err(Fail::from)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // One more read gets their events.
        let mut event_ids: Vec<&str> = rows.iter().map(|(d, _)| d.event_id.as_str()).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let events: std::collections::HashMap<String, Arc<Event>> =
            query_all(&c, &EVENTS_BY_ID, &[&event_ids], event)
                .await?
                .into_iter()
                .map(|e| (e.id.to_string(), Arc::new(e)))
                .collect();
        Ok(due_deliveries(rows, &events))
    }

    async fn renew_leases(&self, ids: &[DeliveryId], lease: &Lease) -> Result<()> {
        self.check_open()?;
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        retrying!(async {
            let c = self.conn().await?;
            execute(
                &c,
                "UPDATE deliveries SET ready_at = $3 \
                 WHERE id = ANY($1::text[]) AND lease_owner = $2 AND status = 'pending'",
                &[&ids, &lease.owner, &lease.until.0],
            )
            .await
        })?;
        Ok(())
    }

    async fn release(&self, ids: &[DeliveryId], owner: &str) -> Result<()> {
        self.check_open()?;
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        retrying!(async {
            let c = self.conn().await?;
            execute(&c, &RELEASE, &[&ids, &owner, &&*self.channel]).await
        })?;
        Ok(())
    }

    async fn record_outcomes(&self, outcomes: Vec<Outcome>) -> Result<()> {
        self.check_open()?;
        if outcomes.is_empty() {
            return Ok(());
        }
        retrying!(self.record_outcomes_once(&outcomes))
    }

    async fn requeue_delivery(
        &self,
        ws: &WorkspaceId,
        id: &DeliveryId,
        now: Timestamp,
        lease: &Lease,
    ) -> Result<Option<DueDelivery>> {
        let n = DELIVERY_COLS.split(',').count();
        retrying!(async {
            let c = self.conn().await?;
            query_opt(
                &c,
                &REQUEUE,
                &[
                    &id.as_str(),
                    &ws.as_str(),
                    &now.0,
                    &lease.until.0,
                    &lease.owner,
                ],
                |r| {
                    let (delivery, manual) = delivery_manual(r)?;
                    Ok(DueDelivery {
                        delivery,
                        event: Arc::new(event_at(r, n)?),
                        manual,
                    })
                },
            )
            .await
        })
    }

    async fn recover_endpoint(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        since: Timestamp,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<u64> {
        let n: i64 = retrying!(async {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(&RECOVER).await?;
            let row = c
                .query_one(
                    &stmt,
                    &[
                        &ws.as_str(),
                        &endpoint.as_str(),
                        &since.0,
                        &until.0,
                        &now.0,
                        &&*self.channel,
                    ],
                )
                .await?;
            F::Ok(col::<i64>(&row, 0)?)
        })?;
        Ok(n as u64)
    }

    async fn release_stale_leases(&self, owner_prefix: Option<&str>) -> Result<u64> {
        let n: i64 = retrying!(async {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(&RELEASE_STALE).await?;
            let row = c
                .query_one(&stmt, &[&owner_prefix, &&*self.channel])
                .await?;
            F::Ok(col::<i64>(&row, 0)?)
        })?;
        Ok(n as u64)
    }

    async fn backlog(&self) -> Result<Backlog> {
        let c = self.conn().await?;
        let stmt = c
            .prepare_cached(
                "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'",
            )
            .await
            .map_err(Fail::from)?;
        let row = c.query_one(&stmt, &[]).await.map_err(Fail::from)?;
        let n: i64 = col(&row, 0)?;
        let oldest: Option<i64> = col(&row, 1)?;
        Ok(Backlog {
            pending: n as u64,
            oldest_created_at: oldest.map(Timestamp),
        })
    }

    async fn database_now(&self) -> Result<Option<Timestamp>> {
        let c = self.conn().await?;
        let row = c
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8",
                &[],
            )
            .await
            .map_err(Fail::from)?;
        Ok(Some(Timestamp(col(&row, 0)?)))
    }
}
