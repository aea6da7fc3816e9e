//! `hookrelay serve`: opens the store, loads the catalog and directory,
//! bootstraps the default workspace, starts the dispatcher (on a tokio
//! runtime of its own, `DispatchRuntime`) and the API, and shuts all of it
//! down in order.
//!
//! Shutdown order: stop accepting connections and finish requests in flight
//! (every accepted event is already committed; connections still open after
//! the shutdown timeout are dropped), then stop the dispatcher
//! (attempts in flight finish or are given back; queued deliveries are given
//! back), then flush outcomes and close the store.
//!
//! Secrets at rest: before anything else the store is given the keyring
//! (configured, or on SQLite a generated key file), every sealed secret is
//! checked to be under a configured key (a startup error otherwise, with
//! nothing written), and secrets still in plaintext are sealed.
//!
//! On PostgreSQL several processes share one database: each is a node with
//! its own lease owner name, nothing is released at start (other nodes' leases
//! are live; a dead node's simply expire), and the store's change
//! notifications wake this node's dispatcher and refresh its routing cache
//! when another node changes something.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use hookrelay_api::limit::{RateLimit, RateLimiter};
use hookrelay_api::server::HttpLimits;
use hookrelay_api::{ApiConfig, AppInner, AppState};
use hookrelay_core::catalog::Catalog;
use hookrelay_core::ids::{Ids, WorkspaceId};
use hookrelay_core::secret::{api_key_from_plaintext, generate_api_key, ApiKeyHash};
use hookrelay_core::time::{Clock, SystemClock};
use hookrelay_dispatch::{DispatchConfig, DispatchMetrics, Dispatcher};
use hookrelay_store::crypt::{Crypt, Key, Keyring, Reseal};
use hookrelay_store::directory::Directory;
use hookrelay_store::sqlite::{SqliteStore, KEY_FILE};
use hookrelay_store::{ApiKeyRecord, DeliveryQueue, ErrorKind, Store, StoreChange, Workspace};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::config::{Database, Settings};

/// What the first start created, for printing (the key only when new).
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub workspace_id: WorkspaceId,
    /// A key created now, shown once.
    pub new_api_key: Option<String>,
    /// The key came from `HOOKRELAY_API_KEY`.
    pub key_from_env: bool,
    /// The encryption key file this start generated (back it up).
    pub new_key_file: Option<PathBuf>,
}

/// A running server.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub bootstrap: Bootstrap,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Starts a server on `listener`; it runs until [`Server::shutdown`].
    pub async fn start(settings: Settings, listener: TcpListener) -> anyhow::Result<Server> {
        let (tx, rx) = oneshot::channel::<()>();
        let addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            settings,
            listener,
            async move {
                let _ = rx.await;
            },
            Some(ready_tx),
        ));
        match ready_rx.await {
            Ok(bootstrap) => Ok(Server {
                addr,
                bootstrap,
                shutdown: Some(tx),
                task,
            }),
            Err(_) => match task.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => anyhow::bail!("server stopped before it was ready"),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Graceful shutdown; returns when everything has stopped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await?
    }

    /// Stops the server abruptly (no graceful steps), like a crash would.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// A key generated because none is configured, to be written to its file
/// once the database has shown it holds nothing sealed under another key
/// (so a failed start leaves no key behind to be mistaken for a lost one).
struct NewKeyFile {
    path: PathBuf,
    text: Zeroizing<String>,
    id: String,
}

impl NewKeyFile {
    fn write(&self) -> anyhow::Result<()> {
        let path = &self.path;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o
            .open(path)
            .with_context(|| format!("creating encryption key file {}", path.display()))?;
        use std::io::Write;
        let written = writeln!(
            f,
            "# hookrelay encryption key (newest first). Back it up: without it the\n\
             # endpoint secrets in this database cannot be read.\n{}",
            self.text.as_str()
        )
        .and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(path);
            return Err(e)
                .with_context(|| format!("writing encryption key file {}", path.display()));
        }
        tracing::warn!(
            file = %path.display(),
            key_id = %self.id,
            "generated an encryption key for the secrets in the database; back this file up \
             (without it they cannot be read), or set HOOKRELAY_ENCRYPTION_KEY"
        );
        Ok(())
    }
}

/// The keys secrets are sealed with: the configured ones; else, on SQLite,
/// those of `<data dir>/encryption.key`, generated (0600) by the first
/// start, which says so once; PostgreSQL refuses to start without keys
/// (every node must have the same ones, so none may make its own). A key
/// generated now comes with the file it is to be written to.
fn keyring(settings: &Settings) -> anyhow::Result<(Arc<Keyring>, Option<NewKeyFile>)> {
    if let Some(k) = &settings.encryption_keys {
        return Ok((k.clone(), None));
    }
    let path = match &settings.database {
        Database::Postgres(_) => anyhow::bail!(
            "PostgreSQL needs an encryption key for the secrets it stores: set \
             HOOKRELAY_ENCRYPTION_KEY (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) \
             or HOOKRELAY_ENCRYPTION_KEY_FILE, the same on every node"
        ),
        Database::Sqlite(db) => db
            .parent()
            .map_or_else(|| PathBuf::from(KEY_FILE), |d| d.join(KEY_FILE)),
    };
    if path.exists() {
        return Ok((Arc::new(crate::config::read_key_file(&path)?), None));
    }
    let (key, text) = Key::generate();
    let id = key.id().to_owned();
    Ok((
        Arc::new(Keyring::new(vec![key])?),
        Some(NewKeyFile { path, text, id }),
    ))
}

/// Before anything else touches the store: every sealed secret must be
/// under a configured key (else a startup error naming the missing ids,
/// with nothing written), then a generated key is saved to its file, then
/// values still in plaintext get sealed.
async fn seal_at_rest(
    store: &dyn Store,
    keys: &Keyring,
    generated: Option<&NewKeyFile>,
) -> anyhow::Result<()> {
    let census = store.sealing().await?;
    let missing = census.missing_keys(keys);
    if let (false, Some(file)) = (missing.is_empty(), generated) {
        anyhow::bail!(
            "the database holds secrets sealed under encryption key {}, but no key is \
             configured and its key file {} is missing: restore it, or set \
             HOOKRELAY_ENCRYPTION_KEY or HOOKRELAY_ENCRYPTION_KEY_FILE",
            missing.join(", "),
            file.path.display()
        );
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "the database holds secrets sealed under encryption key {} which is not configured \
             (configured: {}); start with that key among HOOKRELAY_ENCRYPTION_KEY or \
             HOOKRELAY_ENCRYPTION_KEY_FILE",
            missing.join(", "),
            keys.ids().join(", ")
        );
    }
    if let Some(file) = generated {
        file.write()?;
    }
    if census.plaintext > 0 {
        let n = store.reseal(Reseal::Plaintext).await?;
        tracing::info!(rows = n, "sealed the secrets that were stored in plaintext");
    }
    let stale = census.stale(keys);
    if stale > census.plaintext {
        tracing::info!(
            rows = stale - census.plaintext,
            key_id = keys.newest().id(),
            "rows are still sealed under older keys; `hookrelay rotate-encryption-key` re-seals them"
        );
    }
    Ok(())
}

async fn open_store(
    db: &Database,
    crypt: Crypt,
    generated: Option<&NewKeyFile>,
) -> anyhow::Result<Arc<dyn Store>> {
    let keys = crypt.keys().expect("serve always has keys");
    match db {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(path)
                .with_context(|| format!("opening {}", path.display()))?
                .with_crypt(crypt.clone());
            seal_at_rest(&store, keys, generated).await?;
            // SQLite is single-node: whatever a previous run held is ours to redo.
            let released = store.release_stale_leases(None).await?;
            if released > 0 {
                tracing::info!(
                    released,
                    "resuming deliveries left pending by the previous run"
                );
            }
            Ok(Arc::new(store))
        }
        Database::Postgres(url) => {
            let store = hookrelay_store::postgres::PostgresStore::connect(url)
                .await
                .with_context(|| format!("connecting to {}", crate::config::redact_url(url)))?
                .with_crypt(crypt.clone());
            tracing::info!(schema = store.schema(), "using PostgreSQL");
            seal_at_rest(&store, keys, generated).await?;
            Ok(Arc::new(store))
        }
    }
}

/// The id workspace `default` gets when a first start creates it. Fixed, so
/// that nodes starting together on an empty shared database all agree on it.
fn default_workspace_id() -> WorkspaceId {
    WorkspaceId::from_trusted(format!("{}{}", WorkspaceId::PREFIX, "0".repeat(26)))
}

/// Follows changes other nodes make to a shared database: routing changes
/// refresh this node's cache, due deliveries wake its dispatcher.
fn follow_changes(
    changes: Option<tokio::sync::broadcast::Receiver<StoreChange>>,
    directory: Arc<Directory>,
    dispatcher: Dispatcher,
    stop: CancellationToken,
) -> Option<JoinHandle<()>> {
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = changes?;
    Some(tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                _ = stop.cancelled() => return,
                c = changes.recv() => c,
            };
            let refreshed = match change {
                Ok(StoreChange::DeliveriesDue) => {
                    dispatcher.wake();
                    Ok(())
                }
                Ok(StoreChange::Routing(ws)) => directory.refresh_workspace(&ws).await,
                Ok(StoreChange::Resync) | Err(RecvError::Lagged(_)) => {
                    dispatcher.wake();
                    directory.refresh_all().await
                }
                Err(RecvError::Closed) => return,
            };
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "refreshing routing after a change failed");
            }
        }
    }))
}

fn load_catalog(settings: &Settings) -> anyhow::Result<Catalog> {
    match &settings.catalog {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading catalog {}", p.display()))?;
            Catalog::from_json(&text).with_context(|| format!("loading catalog {}", p.display()))
        }
        None => Ok(Catalog::builtin()),
    }
}

/// Ensures workspace `default` and its key.
async fn bootstrap(store: &dyn Store, settings: &Settings, ids: &Ids) -> anyhow::Result<Bootstrap> {
    let now = ids.clock().now();
    let (ws, created) = match store.find_workspace_by_name("default").await? {
        Some(ws) => (ws, false),
        None => {
            let ws = Workspace {
                id: default_workspace_id(),
                name: "default".into(),
                created_at: now,
            };
            match store.create_workspace(&ws).await {
                Ok(()) => (ws, true),
                // Another node sharing the database created it just now.
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    match store.get_workspace(&ws.id).await? {
                        Some(ws) => (ws, false),
                        None => anyhow::bail!("workspace `default` conflicts but cannot be read"),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut boot = Bootstrap {
        workspace_id: ws.id.clone(),
        new_api_key: None,
        key_from_env: false,
        new_key_file: None,
    };
    let new_key = if let Some(k) = &settings.api_key {
        boot.key_from_env = true;
        Some((api_key_from_plaintext(k.clone()), "HOOKRELAY_API_KEY"))
    } else if created {
        Some((generate_api_key(), "bootstrap"))
    } else {
        None
    };
    if let Some((key, name)) = new_key {
        if store.find_api_key(&key.hash).await?.is_none() {
            store
                .insert_api_key(&ApiKeyRecord {
                    id: ids.at(now),
                    workspace_id: ws.id.clone(),
                    name: name.into(),
                    prefix: key.prefix.clone(),
                    hash: key.hash,
                    created_at: now,
                    revoked_at: None,
                })
                .await?;
        }
        if !boot.key_from_env {
            boot.new_api_key = Some(key.plaintext.expose().to_owned());
        }
    }
    Ok(boot)
}

/// Runs the whole service on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: Option<oneshot::Sender<Bootstrap>>,
) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match &settings.clock {
        Some(c) => c.0.clone(),
        None => Arc::new(SystemClock),
    };
    let ids = Arc::new(Ids::new(clock.clone()));
    let catalog = Arc::new(load_catalog(&settings)?);
    let (keys, key_file) = keyring(&settings)?;
    let store = open_store(&settings.database, Crypt::new(keys), key_file.as_ref()).await?;
    // Listen before loading anything, so no change falls in between.
    let changes = store.changes();
    let directory = Arc::new(Directory::load(store.clone(), catalog.clone()).await?);
    let mut boot = bootstrap(store.as_ref(), &settings, &ids).await?;
    boot.new_key_file = key_file.map(|k| k.path);

    // Signed payload URLs: a server key made once and kept in the database.
    let url_key = store
        .server_key(
            "payload_urls",
            hookrelay_core::secret::generate_key_bytes().to_vec(),
        )
        .await?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    });
    let signed_urls = Arc::new(
        hookrelay_core::signed_url::SignedUrls::new(url_key, &public_url)
            .with_lifetime(settings.signed_url_lifetime.as_millis() as i64),
    );

    let mut registry = Registry::default();
    let metrics = Arc::new(DispatchMetrics::new(&mut registry));
    let ops_metrics = hookrelay_api::OpsMetrics::new(&mut registry);
    let dispatch_config = DispatchConfig {
        request_timeout: settings.request_timeout,
        allow_private: settings.allow_private_destinations,
        default_schedule: settings.retry_schedule.clone(),
        endpoint_concurrency: settings.endpoint_concurrency,
        max_in_flight: settings.max_in_flight,
        max_in_flight_per_workspace: settings.max_in_flight_per_workspace,
        max_held: settings.max_held,
        max_held_per_workspace: (settings.max_held / 2).max(1),
        max_held_per_endpoint: (settings.max_held / 4).max(1),
        auto_disable_after: settings.auto_disable_after,
        poll_interval: settings.poll_interval,
        signed_urls: Some(signed_urls.clone()),
        lease: settings.lease,
        extra_roots: settings.endpoint_roots.clone(),
        ..DispatchConfig::default()
    };
    let dispatch_rt = DispatchRuntime::start()?;
    let (dispatcher, tasks) = {
        let _on = dispatch_rt.handle().enter();
        Dispatcher::start(
            store.clone(),
            directory.clone(),
            clock.clone(),
            dispatch_config,
            metrics,
        )
    };
    // Leases of publishes end on the database's clock from the first one.
    dispatcher.sync_clock().await;
    let api_config = ApiConfig {
        admin_key_hash: settings.admin_key.as_deref().map(ApiKeyHash::of),
        allow_http: settings.dev,
        max_event_bytes: settings.max_event_bytes,
        max_batch_bytes: (settings.max_event_bytes * 16).max(16 * 1024 * 1024),
        backlog_every: settings.metrics_backlog_every,
        body_read_timeout: settings.body_read_timeout,
        max_endpoints_per_workspace: settings.max_endpoints_per_workspace,
        max_subscriptions_per_workspace: settings.max_subscriptions_per_workspace,
        max_headers_per_endpoint: settings.max_headers_per_endpoint,
        public_url: Some(public_url.clone()),
        node_url: Some(node_url(&settings, &listener)),
        listen_grace: settings.listen_grace,
        listen_ping: settings.listen_ping,
        dashboard: hookrelay_api::dashboard::DashboardConfig {
            idle_timeout: settings.dashboard_idle_timeout,
            session_lifetime: settings.dashboard_session_lifetime,
            ..Default::default()
        },
        ..ApiConfig::default()
    };
    let dashboard = hookrelay_api::dashboard::DashboardState::new(&api_config.dashboard);
    let state = AppState {
        inner: Arc::new(AppInner {
            ops_metrics,
            signed_urls,
            store: store.clone(),
            directory: directory.clone(),
            dispatcher: dispatcher.clone(),
            catalog,
            clock: clock.clone(),
            ids,
            config: api_config,
            registry: Arc::new(registry),
            keys: Default::default(),
            openapi: hookrelay_api::OPENAPI_JSON,
            limiter: RateLimiter::new(RateLimit {
                per_second: settings.api_rate_limit,
                burst: settings.api_rate_burst,
            }),
            dashboard,
            listen: Default::default(),
        }),
    };
    let app = hookrelay_api::router(state.clone());

    let stop = CancellationToken::new();
    let follower = follow_changes(changes, directory.clone(), dispatcher, stop.clone());
    let purger = tokio::spawn(retention(
        store.clone(),
        clock.clone(),
        settings.retention,
        settings.purge_interval,
        stop.clone(),
    ));
    let listen_sweeper = hookrelay_api::listen::spawn_sweeper(state.clone(), stop.clone());

    if let Some(r) = ready {
        let _ = r.send(boot);
    }
    let limits = HttpLimits {
        header_read_timeout: settings.header_read_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.max_connections,
        shutdown_timeout: settings.shutdown_timeout,
    };
    // `hookrelay listen` connections are long-lived: close them when
    // shutdown begins, so that the CLIs reconnect (elsewhere, or here once
    // restarted) rather than hold the graceful shutdown to its deadline.
    let listen_stop = state.inner.listen.stop.clone();
    let shutdown = async move {
        shutdown.await;
        listen_stop.cancel();
    };
    let served = hookrelay_api::server::serve(listener, app, limits, shutdown).await;
    // The listen sessions were told to close when shutdown began; each
    // ends within its close frame's timeout.
    let sessions = &state.inner.listen.tasks;
    sessions.close();
    if tokio::time::timeout(settings.shutdown_timeout, sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("listen sessions still open at the shutdown deadline");
    }
    tracing::info!("no longer accepting requests; stopping the dispatcher");
    stop.cancel();
    let _ = purger.await;
    let _ = listen_sweeper.await;
    if let Some(f) = follower {
        let _ = f.await;
    }
    tasks.shutdown().await;
    drop(dispatch_rt);
    store.close().await;
    tracing::info!("stopped");
    served.context("serving HTTP")
}

/// The base URL the other nodes reach this one at: the configured one,
/// else this listener's address (loopback for an unspecified one, which
/// suits a single node; several nodes on different hosts configure theirs).
fn node_url(settings: &Settings, listener: &TcpListener) -> String {
    if let Some(u) = &settings.node_url {
        return u.trim_end_matches('/').to_owned();
    }
    let mut addr = listener.local_addr().unwrap_or(settings.listen);
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

/// The dispatcher's tokio runtime, apart from the API's. Attempts are many
/// short tasks: on the API's runtime, a request would wait behind every
/// runnable attempt for the same worker threads, and under a wide fan-out
/// with many attempts in flight publishes would stall together
/// (measurements in BENCHMARKS.md). On a runtime of its own the API's
/// threads sleep until a request comes, and the operating system runs them
/// as soon as one does.
struct DispatchRuntime(Option<tokio::runtime::Runtime>);

impl DispatchRuntime {
    fn start() -> anyhow::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("hr-dispatch")
            .enable_all()
            .build()
            .context("starting the dispatcher's runtime")?;
        Ok(Self(Some(rt)))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("running").handle()
    }
}

impl Drop for DispatchRuntime {
    /// Dropped from async code (at the end of [`run`], or when a test aborts
    /// the server's task), where a runtime may not block to wait for its
    /// threads: they finish in the background.
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

async fn retention(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keep: std::time::Duration,
    every: std::time::Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = clock.now();
        let before = now.plus_millis(-(keep.as_millis() as i64));
        match store.purge(before, now).await {
            Ok(p) if p.events + p.deliveries > 0 => {
                tracing::info!(
                    events = p.events,
                    deliveries = p.deliveries,
                    attempts = p.attempts,
                    "purged old history"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
    }
}
