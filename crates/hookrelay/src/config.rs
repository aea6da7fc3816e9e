//! Configuration: command-line flags override `HOOKRELAY_*` environment
//! variables, which override an optional TOML file (`--config`), which
//! overrides the defaults. Raw input is turned into validated [`Settings`]
//! once, here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hookrelay_store::crypt::Keyring;
use serde::Deserialize;

/// `hookrelay serve` flags (each also readable from its environment variable).
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "HOOKRELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HOOKRELAY_LISTEN")]
    pub listen: Option<String>,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB` [default: sqlite://./hookrelay-data/hookrelay.db].
    #[arg(long, env = "HOOKRELAY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Public base URL of this server (used in links it hands out).
    #[arg(long, env = "HOOKRELAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Make sure this API key exists for workspace `default`.
    #[arg(long, env = "HOOKRELAY_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The org admin key (may create workspaces and act in any of them).
    #[arg(long, env = "HOOKRELAY_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Allow loopback/private/link-local destinations.
    #[arg(long, env = "HOOKRELAY_ALLOW_PRIVATE_DESTINATIONS", num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_destinations: Option<bool>,
    /// Development mode: allows private destinations and http:// endpoint URLs.
    #[arg(long, env = "HOOKRELAY_DEV", num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: Option<bool>,
    /// Default retry schedule, comma-separated seconds (e.g. `5,60,300`).
    #[arg(long, env = "HOOKRELAY_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,
    /// Per-attempt timeout in seconds [default: 30].
    #[arg(long, env = "HOOKRELAY_REQUEST_TIMEOUT")]
    pub request_timeout: Option<u64>,
    /// Days of history to keep [default: 30].
    #[arg(long, env = "HOOKRELAY_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    /// Largest event payload / `POST /events` body in bytes [default: 1048576].
    #[arg(long, env = "HOOKRELAY_MAX_EVENT_BYTES")]
    pub max_event_bytes: Option<usize>,
    /// Attempts in flight at once per endpoint [default: 32].
    #[arg(long, env = "HOOKRELAY_ENDPOINT_CONCURRENCY")]
    pub endpoint_concurrency: Option<usize>,
    /// Attempts in flight at once over all endpoints [default: 256].
    #[arg(long, env = "HOOKRELAY_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Attempts in flight at once over all endpoints of one workspace
    /// [default: a quarter of --max-in-flight, at least 1].
    #[arg(long, env = "HOOKRELAY_MAX_IN_FLIGHT_PER_WORKSPACE")]
    pub max_in_flight_per_workspace: Option<usize>,
    /// Disable endpoints that have failed for this many hours [default: 120; 0 = never].
    #[arg(long, env = "HOOKRELAY_AUTO_DISABLE_HOURS")]
    pub auto_disable_hours: Option<u64>,
    /// An event catalog JSON file to use instead of the built-in one.
    #[arg(long, env = "HOOKRELAY_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "HOOKRELAY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Seconds a node holds the deliveries it claimed before another node
    /// may take them over (renewed while it works on them) [default: 60].
    #[arg(long, env = "HOOKRELAY_LEASE_SECONDS")]
    pub lease_seconds: Option<u64>,
    /// A PEM file of CA certificates to trust for HTTPS endpoints, besides
    /// the public web PKI (for endpoints behind a private CA).
    #[arg(long, env = "HOOKRELAY_ENDPOINT_CA_FILE")]
    pub endpoint_ca_file: Option<PathBuf>,
    /// Seconds a client has to send a complete request head, from its
    /// connection (first request) or the head's first byte [default: 10].
    #[arg(long, env = "HOOKRELAY_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,
    /// Seconds a client has to send a whole request body (then 408) [default: 30].
    #[arg(long, env = "HOOKRELAY_BODY_READ_TIMEOUT")]
    pub body_read_timeout: Option<u64>,
    /// Seconds a keep-alive connection may sit idle between requests [default: 75].
    #[arg(long, env = "HOOKRELAY_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Most API connections open at once; more wait to be accepted [default: 10000].
    #[arg(long, env = "HOOKRELAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds shutdown waits for requests in flight before dropping their
    /// connections [default: 10].
    #[arg(long, env = "HOOKRELAY_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<u64>,
    /// API requests per second per key (and per client address without a
    /// valid key) [default: 10000; 0 = no limit].
    #[arg(long, env = "HOOKRELAY_API_RATE_LIMIT")]
    pub api_rate_limit: Option<u32>,
    /// Requests a key or address may make at once before the rate applies
    /// [default: twice the rate].
    #[arg(long, env = "HOOKRELAY_API_RATE_BURST")]
    pub api_rate_burst: Option<u32>,
    /// Most live endpoints (v1 webhooks included) per workspace [default: 1000].
    #[arg(long, env = "HOOKRELAY_MAX_ENDPOINTS_PER_WORKSPACE")]
    pub max_endpoints_per_workspace: Option<u32>,
    /// Most webhook subscriptions per workspace [default: 10000].
    #[arg(long, env = "HOOKRELAY_MAX_SUBSCRIPTIONS_PER_WORKSPACE")]
    pub max_subscriptions_per_workspace: Option<u32>,
    /// Most custom headers (advancedOptions.headers) per endpoint [default: 20].
    #[arg(long, env = "HOOKRELAY_MAX_HEADERS_PER_ENDPOINT")]
    pub max_headers_per_endpoint: Option<u32>,
    /// This node's base URL as the other nodes reach it: deliveries to a
    /// `hookrelay listen` connected here are sent to it [default: http://
    /// + the listen address, 127.0.0.1 for an unspecified one].
    #[arg(long, env = "HOOKRELAY_NODE_URL")]
    pub node_url: Option<String>,
    /// Seconds a `hookrelay listen` endpoint outlives its lost connection
    /// before it is deleted [default: 120].
    #[arg(long, env = "HOOKRELAY_LISTEN_GRACE")]
    pub listen_grace: Option<u64>,
    /// Seconds between the pings a `hookrelay listen` connection gets (it
    /// keeps proxies from closing an idle connection; three unanswered ones
    /// end it) [default: 15].
    #[arg(long, env = "HOOKRELAY_LISTEN_PING")]
    pub listen_ping: Option<u64>,
    /// Seconds a dashboard session lasts without a request [default: 1800].
    #[arg(long, env = "HOOKRELAY_DASHBOARD_IDLE_TIMEOUT")]
    pub dashboard_idle_timeout: Option<u64>,
    /// Seconds a dashboard session lasts at most, however busy [default: 43200].
    #[arg(long, env = "HOOKRELAY_DASHBOARD_SESSION_LIFETIME")]
    pub dashboard_session_lifetime: Option<u64>,
    /// Keys that seal secrets at rest: base64 of 32 random bytes each,
    /// comma-separated, newest first (the others only decrypt, during a
    /// rotation) [default on SQLite: a key file generated in the data
    /// directory; PostgreSQL needs one].
    #[arg(long, env = "HOOKRELAY_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,
    /// A file holding the encryption keys instead: one per line, newest
    /// first (`#` starts a comment line).
    #[arg(long, env = "HOOKRELAY_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub api_key: Option<String>,
    pub admin_key: Option<String>,
    pub allow_private_destinations: Option<bool>,
    pub dev: Option<bool>,
    pub retry_schedule: Option<Vec<u32>>,
    pub request_timeout: Option<u64>,
    pub retention_days: Option<u32>,
    pub max_event_bytes: Option<usize>,
    pub endpoint_concurrency: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub max_in_flight_per_workspace: Option<usize>,
    pub auto_disable_hours: Option<u64>,
    pub catalog: Option<PathBuf>,
    pub log_format: Option<String>,
    pub lease_seconds: Option<u64>,
    pub endpoint_ca_file: Option<PathBuf>,
    pub header_read_timeout: Option<u64>,
    pub body_read_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub max_connections: Option<usize>,
    pub shutdown_timeout: Option<u64>,
    pub api_rate_limit: Option<u32>,
    pub api_rate_burst: Option<u32>,
    pub max_endpoints_per_workspace: Option<u32>,
    pub max_subscriptions_per_workspace: Option<u32>,
    pub max_headers_per_endpoint: Option<u32>,
    pub node_url: Option<String>,
    pub listen_grace: Option<u64>,
    pub listen_ping: Option<u64>,
    pub dashboard_idle_timeout: Option<u64>,
    pub dashboard_session_lifetime: Option<u64>,
    pub encryption_key: Option<String>,
    pub encryption_key_file: Option<PathBuf>,
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// One process owns this file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL; any number of nodes may share it.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Database::Postgres(u) => f.debug_tuple("Postgres").field(&redact_url(u)).finish(),
        }
    }
}

/// The URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable URL>".into(),
    }
}

/// Validated settings of `hookrelay serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: Database,
    pub public_url: Option<String>,
    pub api_key: Option<String>,
    pub admin_key: Option<String>,
    pub dev: bool,
    pub allow_private_destinations: bool,
    pub retry_schedule: Vec<u32>,
    pub request_timeout: Duration,
    pub retention: Duration,
    pub max_event_bytes: usize,
    pub endpoint_concurrency: usize,
    pub max_in_flight: usize,
    pub max_in_flight_per_workspace: usize,
    pub auto_disable_after: Duration,
    pub catalog: Option<PathBuf>,
    pub json_logs: bool,
    /// How often retention runs (tests shorten it).
    pub purge_interval: Duration,
    /// How often the dispatcher polls for due deliveries.
    pub poll_interval: Duration,
    /// How often `/metrics` reads the backlog from the store, at most
    /// (5 s; tests shorten it).
    pub metrics_backlog_every: Duration,
    /// Deliveries the dispatcher holds in memory at most (20,000; tests
    /// shorten it).
    pub max_held: usize,
    /// How long signed payload URLs work (one hour; tests shorten it).
    pub signed_url_lifetime: Duration,
    /// How long a claim on deliveries lasts without renewal.
    pub lease: Duration,
    /// Extra root certificates (DER) for HTTPS endpoints.
    pub endpoint_roots: Vec<Vec<u8>>,
    /// How long a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// How long a client has to send a whole request body.
    pub body_read_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Most API connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// API requests per second per key or client address (0: no limit).
    pub api_rate_limit: u32,
    /// Requests a key or address may make at once.
    pub api_rate_burst: u32,
    /// Quotas: live endpoints and subscriptions per workspace, custom
    /// headers per endpoint.
    pub max_endpoints_per_workspace: u32,
    pub max_subscriptions_per_workspace: u32,
    pub max_headers_per_endpoint: u32,
    /// This node's base URL for the other nodes (`None`: from `listen`).
    pub node_url: Option<String>,
    /// How long a `hookrelay listen` endpoint outlives its connection.
    pub listen_grace: Duration,
    /// How often a `hookrelay listen` connection is pinged.
    pub listen_ping: Duration,
    /// How long a dashboard session lasts without a request.
    pub dashboard_idle_timeout: Duration,
    /// How long a dashboard session lasts at most.
    pub dashboard_session_lifetime: Duration,
    /// The keys that seal secrets at rest, newest first (`None`: none
    /// configured; see [`crate::serve`] for what a start does then).
    pub encryption_keys: Option<Arc<Keyring>>,
    /// The clock the server runs on (`None`: the system's; tests pin one).
    pub clock: Option<ServerClock>,
}

/// A clock for the whole server, in place of the system's (tests).
#[derive(Clone)]
pub struct ServerClock(pub std::sync::Arc<dyn hookrelay_core::time::Clock>);

impl std::fmt::Debug for ServerClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerClock({})", self.0.now().to_rfc3339())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid"),
            database: Database::Sqlite(PathBuf::from("./hookrelay-data/hookrelay.db")),
            public_url: None,
            api_key: None,
            admin_key: None,
            dev: false,
            allow_private_destinations: false,
            retry_schedule: hookrelay_core::retry::DEFAULT_SCHEDULE.to_vec(),
            request_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(30 * 86_400),
            max_event_bytes: 1024 * 1024,
            endpoint_concurrency: 32,
            max_in_flight: 256,
            max_in_flight_per_workspace: 64,
            auto_disable_after: Duration::from_secs(5 * 86_400),
            catalog: None,
            json_logs: false,
            purge_interval: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(1),
            metrics_backlog_every: Duration::from_secs(5),
            max_held: 20_000,
            signed_url_lifetime: Duration::from_secs(3600),
            lease: Duration::from_secs(60),
            endpoint_roots: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            api_rate_limit: 10_000,
            api_rate_burst: 20_000,
            max_endpoints_per_workspace: 1000,
            max_subscriptions_per_workspace: 10_000,
            max_headers_per_endpoint: 20,
            node_url: None,
            listen_grace: Duration::from_secs(120),
            listen_ping: Duration::from_secs(15),
            dashboard_idle_timeout: Duration::from_secs(30 * 60),
            dashboard_session_lifetime: Duration::from_secs(12 * 3600),
            encryption_keys: None,
            clock: None,
        }
    }
}

/// Parses `sqlite://PATH` (relative or absolute), `sqlite:PATH`, or a
/// `postgres://` / `postgresql://` URL (kept whole for the driver).
pub fn parse_database_url(url: &str) -> anyhow::Result<Database> {
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or(rest);
        if path.is_empty() {
            bail!("database URL {url:?} names no file");
        }
        return Ok(Database::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if url::Url::parse(url).is_err() {
            bail!("database URL {} is not a URL", redact_url(url));
        }
        return Ok(Database::Postgres(url.to_owned()));
    }
    bail!(
        "unsupported database URL {}: expected sqlite://PATH or postgres://…",
        redact_url(url)
    )
}

/// Reads a key file (one base64 key per line, newest first).
pub fn read_key_file(path: &Path) -> anyhow::Result<Keyring> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading encryption key file {}", path.display()))?,
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    "the encryption key file is readable by other users; make it 0600"
                );
            }
        }
    }
    Keyring::parse(&text).with_context(|| format!("encryption key file {}", path.display()))
}

fn parse_schedule(s: &str) -> anyhow::Result<Vec<u32>> {
    let v = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u32>()
                .with_context(|| format!("retry schedule entry {p:?} is not a number of seconds"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(v)
}

/// A timeout setting in whole seconds: at least 1, at most a day.
fn timeout_secs(name: &str, value: Option<u64>, default: Duration) -> anyhow::Result<Duration> {
    match value {
        None => Ok(default),
        Some(0) => bail!("{name} must be at least 1 second"),
        Some(s) if s > 86_400 => bail!("{name} must be at most 86400 seconds (a day)"),
        Some(s) => Ok(Duration::from_secs(s)),
    }
}

impl Settings {
    /// Merges flags/env (already combined by clap) over the file over defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let d = Settings::default();
        let listen = match args.listen.clone().or(file.listen) {
            Some(l) => l
                .parse()
                .with_context(|| format!("listen address {l:?} is not HOST:PORT"))?,
            None => d.listen,
        };
        let database = match args.database_url.clone().or(file.database_url) {
            Some(u) => parse_database_url(&u)?,
            None => d.database,
        };
        let dev = args.dev.or(file.dev).unwrap_or(false);
        let allow_private = args
            .allow_private_destinations
            .or(file.allow_private_destinations)
            .unwrap_or(false)
            || dev;
        let retry_schedule = match (&args.retry_schedule, file.retry_schedule) {
            (Some(s), _) => parse_schedule(s)?,
            (None, Some(v)) => v,
            (None, None) => d.retry_schedule,
        };
        hookrelay_core::validate::retry_schedule(&retry_schedule)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let timeout = args.request_timeout.or(file.request_timeout).unwrap_or(30);
        if timeout == 0 {
            bail!("request timeout must be at least 1 second");
        }
        let log_format = args
            .log_format
            .clone()
            .or(file.log_format)
            .unwrap_or_else(|| "text".into());
        let json_logs = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("log format {other:?} is not `text` or `json`"),
        };
        let lease_seconds = args.lease_seconds.or(file.lease_seconds).unwrap_or(60);
        if lease_seconds < 3 {
            bail!("lease must be at least 3 seconds");
        }
        let endpoint_roots = match args.endpoint_ca_file.clone().or(file.endpoint_ca_file) {
            Some(path) => hookrelay_dispatch::client::read_pem_roots(&path)
                .map_err(|e| anyhow::anyhow!("endpoint CA file: {e}"))?,
            None => Vec::new(),
        };
        let header_read_timeout = timeout_secs(
            "header read timeout",
            args.header_read_timeout.or(file.header_read_timeout),
            d.header_read_timeout,
        )?;
        let body_read_timeout = timeout_secs(
            "body read timeout",
            args.body_read_timeout.or(file.body_read_timeout),
            d.body_read_timeout,
        )?;
        let idle_timeout = timeout_secs(
            "idle timeout",
            args.idle_timeout.or(file.idle_timeout),
            d.idle_timeout,
        )?;
        let shutdown_timeout = timeout_secs(
            "shutdown timeout",
            args.shutdown_timeout.or(file.shutdown_timeout),
            d.shutdown_timeout,
        )?;
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(d.max_connections);
        if max_connections == 0 {
            bail!("max connections must be at least 1");
        }
        let api_rate_limit = args
            .api_rate_limit
            .or(file.api_rate_limit)
            .unwrap_or(d.api_rate_limit);
        let api_rate_burst = args
            .api_rate_burst
            .or(file.api_rate_burst)
            .unwrap_or(api_rate_limit.saturating_mul(2));
        if api_rate_limit > 0 && api_rate_burst == 0 {
            bail!("API rate burst must be at least 1 while the API rate limit is on");
        }
        let public_url = args.public_url.clone().or(file.public_url);
        if let Some(u) = &public_url {
            url::Url::parse(u).with_context(|| format!("public URL {u:?} is not a URL"))?;
        }
        let max_in_flight = args
            .max_in_flight
            .or(file.max_in_flight)
            .unwrap_or(d.max_in_flight)
            .max(1);
        let node_url = args.node_url.clone().or(file.node_url);
        if let Some(u) = &node_url {
            let parsed =
                url::Url::parse(u).with_context(|| format!("node URL {u:?} is not a URL"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("node URL {u:?} must be http:// or https://");
            }
        }
        let listen_grace = timeout_secs(
            "listen grace",
            args.listen_grace.or(file.listen_grace),
            d.listen_grace,
        )?;
        let listen_ping = timeout_secs(
            "listen ping",
            args.listen_ping.or(file.listen_ping),
            d.listen_ping,
        )?;
        let dashboard_idle_timeout = timeout_secs(
            "dashboard idle timeout",
            args.dashboard_idle_timeout.or(file.dashboard_idle_timeout),
            d.dashboard_idle_timeout,
        )?;
        let dashboard_session_lifetime = match args
            .dashboard_session_lifetime
            .or(file.dashboard_session_lifetime)
        {
            None => d.dashboard_session_lifetime,
            Some(s) if (60..=30 * 86_400).contains(&s) => Duration::from_secs(s),
            Some(_) => bail!("dashboard session lifetime must be 60 to 2592000 seconds (30 days)"),
        };
        let encryption_keys = match (
            args.encryption_key.clone().or(file.encryption_key),
            args.encryption_key_file
                .clone()
                .or(file.encryption_key_file),
        ) {
            (Some(_), Some(_)) => {
                bail!("give the encryption keys either directly or as a file, not both")
            }
            (Some(k), None) => Some(Arc::new(
                Keyring::parse(&k).context("HOOKRELAY_ENCRYPTION_KEY")?,
            )),
            (None, Some(path)) => Some(Arc::new(read_key_file(&path)?)),
            (None, None) => None,
        };
        Ok(Settings {
            listen,
            database,
            public_url,
            api_key: args
                .api_key
                .clone()
                .or(file.api_key)
                .filter(|k| !k.is_empty()),
            admin_key: args
                .admin_key
                .clone()
                .or(file.admin_key)
                .filter(|k| !k.is_empty()),
            dev,
            allow_private_destinations: allow_private,
            retry_schedule,
            request_timeout: Duration::from_secs(timeout),
            retention: Duration::from_secs(
                u64::from(args.retention_days.or(file.retention_days).unwrap_or(30)) * 86_400,
            ),
            max_event_bytes: args
                .max_event_bytes
                .or(file.max_event_bytes)
                .unwrap_or(d.max_event_bytes),
            endpoint_concurrency: args
                .endpoint_concurrency
                .or(file.endpoint_concurrency)
                .unwrap_or(d.endpoint_concurrency)
                .max(1),
            max_in_flight,
            max_in_flight_per_workspace: args
                .max_in_flight_per_workspace
                .or(file.max_in_flight_per_workspace)
                .unwrap_or(max_in_flight / 4)
                .clamp(1, max_in_flight),
            auto_disable_after: Duration::from_secs(
                args.auto_disable_hours
                    .or(file.auto_disable_hours)
                    .unwrap_or(120)
                    * 3600,
            ),
            catalog: args.catalog.clone().or(file.catalog),
            json_logs,
            purge_interval: d.purge_interval,
            poll_interval: d.poll_interval,
            metrics_backlog_every: d.metrics_backlog_every,
            max_held: d.max_held,
            signed_url_lifetime: d.signed_url_lifetime,
            lease: Duration::from_secs(lease_seconds),
            endpoint_roots,
            header_read_timeout,
            body_read_timeout,
            idle_timeout,
            max_connections,
            shutdown_timeout,
            api_rate_limit,
            api_rate_burst,
            max_endpoints_per_workspace: args
                .max_endpoints_per_workspace
                .or(file.max_endpoints_per_workspace)
                .unwrap_or(d.max_endpoints_per_workspace),
            max_subscriptions_per_workspace: args
                .max_subscriptions_per_workspace
                .or(file.max_subscriptions_per_workspace)
                .unwrap_or(d.max_subscriptions_per_workspace),
            max_headers_per_endpoint: args
                .max_headers_per_endpoint
                .or(file.max_headers_per_endpoint)
                .unwrap_or(d.max_headers_per_endpoint),
            node_url,
            listen_grace,
            listen_ping,
            dashboard_idle_timeout,
            dashboard_session_lifetime,
            encryption_keys,
            clock: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            parse_database_url("sqlite:///var/lib/hookrelay/hookrelay.db").unwrap(),
            Database::Sqlite(PathBuf::from("/var/lib/hookrelay/hookrelay.db"))
        );
        assert_eq!(
            parse_database_url("sqlite://./data/h.db").unwrap(),
            Database::Sqlite(PathBuf::from("./data/h.db"))
        );
        assert_eq!(
            parse_database_url("sqlite:h.db").unwrap(),
            Database::Sqlite(PathBuf::from("h.db"))
        );
        assert_eq!(
            parse_database_url("postgres://hr:pw@127.0.0.1:5432/hookrelay").unwrap(),
            Database::Postgres("postgres://hr:pw@127.0.0.1:5432/hookrelay".into())
        );
        assert!(matches!(
            parse_database_url("postgresql://db/hookrelay?sslmode=disable").unwrap(),
            Database::Postgres(_)
        ));
        let shown = format!(
            "{:?}",
            parse_database_url("postgres://hr:s3cret@db/hookrelay").unwrap()
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(parse_database_url("mysql://x").is_err());
        assert!(parse_database_url("sqlite://").is_err());
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookrelay.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nrequest_timeout = 7\nretry_schedule = [1, 2]\ndev = true\nmax_in_flight = 64\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            request_timeout: Some(3),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.request_timeout, Duration::from_secs(3));
        assert_eq!(s.retry_schedule, vec![1, 2]);
        assert!(s.dev && s.allow_private_destinations);
        assert_eq!(s.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(s.max_in_flight, 64);
        assert_eq!(s.max_in_flight_per_workspace, 16, "a quarter of it");
        assert_eq!(s.endpoint_concurrency, 32, "a default");
    }

    #[test]
    fn endpoint_ca_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, ca.pem()).unwrap();
        let file = dir.path().join("hookrelay.toml");
        std::fs::write(&file, format!("endpoint_ca_file = {:?}\n", pem)).unwrap();
        let s = Settings::resolve(&ServeArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.endpoint_roots, vec![ca.der().to_vec()]);

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = Settings::resolve(&ServeArgs {
            endpoint_ca_file: Some(junk),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("endpoint CA file"), "{e}");
    }

    #[test]
    fn encryption_keys_come_from_the_variable_or_a_file_never_both() {
        let a = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
        let b = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";
        assert!(Settings::resolve(&ServeArgs::default())
            .unwrap()
            .encryption_keys
            .is_none());
        let s = Settings::resolve(&ServeArgs {
            encryption_key: Some(format!("{b},{a}")),
            ..Default::default()
        })
        .unwrap();
        let keys = s.encryption_keys.unwrap();
        assert_eq!(keys.ids().len(), 2);
        assert!(!format!("{keys:?}").contains(a), "Debug shows ids only");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, format!("# newest first\n{b}\n{a}\n")).unwrap();
        let from_file = Settings::resolve(&ServeArgs {
            encryption_key_file: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(from_file.encryption_keys.unwrap().ids(), keys.ids());

        let e = Settings::resolve(&ServeArgs {
            encryption_key: Some(a.into()),
            encryption_key_file: Some(file),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let e = Settings::resolve(&ServeArgs {
            encryption_key: Some("c2hvcnQ=".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("must be 32"), "{e:#}");
    }

    #[test]
    fn http_limits_have_defaults_and_come_from_the_file_or_flags() {
        let s = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(s.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.body_read_timeout, Duration::from_secs(30));
        assert_eq!(s.idle_timeout, Duration::from_secs(75));
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
        assert_eq!((s.api_rate_limit, s.api_rate_burst), (10_000, 20_000));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookrelay.toml");
        std::fs::write(
            &path,
            "header_read_timeout = 5
body_read_timeout = 20
idle_timeout = 120
             max_connections = 500
shutdown_timeout = 3
api_rate_limit = 50
",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            idle_timeout: Some(90),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.header_read_timeout, Duration::from_secs(5));
        assert_eq!(s.body_read_timeout, Duration::from_secs(20));
        assert_eq!(s.idle_timeout, Duration::from_secs(90), "the flag wins");
        assert_eq!(s.max_connections, 500);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(3));
        assert_eq!(
            (s.api_rate_limit, s.api_rate_burst),
            (50, 100),
            "the burst defaults to twice the rate"
        );
        let s = Settings::resolve(&ServeArgs {
            api_rate_limit: Some(7),
            api_rate_burst: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((s.api_rate_limit, s.api_rate_burst), (7, 1));
        let off = Settings::resolve(&ServeArgs {
            api_rate_limit: Some(0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(off.api_rate_limit, 0);
    }

    #[test]
    fn http_limits_are_validated() {
        let bad = [
            ServeArgs {
                header_read_timeout: Some(0),
                ..Default::default()
            },
            ServeArgs {
                body_read_timeout: Some(0),
                ..Default::default()
            },
            ServeArgs {
                idle_timeout: Some(0),
                ..Default::default()
            },
            ServeArgs {
                shutdown_timeout: Some(0),
                ..Default::default()
            },
            ServeArgs {
                idle_timeout: Some(86_401),
                ..Default::default()
            },
            ServeArgs {
                max_connections: Some(0),
                ..Default::default()
            },
            ServeArgs {
                api_rate_limit: Some(10),
                api_rate_burst: Some(0),
                ..Default::default()
            },
        ];
        for args in bad {
            assert!(Settings::resolve(&args).is_err(), "{args:?}");
        }
        // A burst without a rate is moot, not an error.
        assert!(Settings::resolve(&ServeArgs {
            api_rate_limit: Some(0),
            api_rate_burst: Some(0),
            ..Default::default()
        })
        .is_ok());
    }

    #[test]
    fn http_limit_flags_and_their_environment_variables() {
        use clap::{CommandFactory, Parser};
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        // The variable names, read from clap (setting them would touch the
        // environment every test in this process shares).
        let cmd = Cli::command();
        for (flag, env) in [
            ("header-read-timeout", "HOOKRELAY_HEADER_READ_TIMEOUT"),
            ("body-read-timeout", "HOOKRELAY_BODY_READ_TIMEOUT"),
            ("idle-timeout", "HOOKRELAY_IDLE_TIMEOUT"),
            ("max-connections", "HOOKRELAY_MAX_CONNECTIONS"),
            ("shutdown-timeout", "HOOKRELAY_SHUTDOWN_TIMEOUT"),
            ("api-rate-limit", "HOOKRELAY_API_RATE_LIMIT"),
            ("api-rate-burst", "HOOKRELAY_API_RATE_BURST"),
        ] {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("--{flag}"));
            assert_eq!(arg.get_env(), Some(std::ffi::OsStr::new(env)), "--{flag}");
        }
        let cli = Cli::try_parse_from([
            "hookrelay",
            "--header-read-timeout",
            "4",
            "--body-read-timeout",
            "6",
            "--idle-timeout",
            "8",
            "--max-connections",
            "9",
            "--shutdown-timeout",
            "2",
            "--api-rate-limit",
            "3",
            "--api-rate-burst",
            "5",
        ])
        .unwrap();
        let s = Settings::resolve(&cli.serve).unwrap();
        assert_eq!(s.header_read_timeout, Duration::from_secs(4));
        assert_eq!(s.body_read_timeout, Duration::from_secs(6));
        assert_eq!(s.idle_timeout, Duration::from_secs(8));
        assert_eq!(s.max_connections, 9);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(2));
        assert_eq!((s.api_rate_limit, s.api_rate_burst), (3, 5));
    }

    #[test]
    fn listen_settings_have_defaults_and_are_checked() {
        let d = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(d.node_url, None);
        assert_eq!(d.listen_grace, Duration::from_secs(120));
        assert_eq!(d.listen_ping, Duration::from_secs(15));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookrelay.toml");
        std::fs::write(
            &path,
            "node_url = \"http://10.0.0.7:8080\"\nlisten_grace = 30\nlisten_ping = 5\n",
        )
        .unwrap();
        let s = Settings::resolve(&ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.node_url.as_deref(), Some("http://10.0.0.7:8080"));
        assert_eq!(s.listen_grace, Duration::from_secs(30));
        assert_eq!(s.listen_ping, Duration::from_secs(5));
        for bad in [
            ServeArgs {
                node_url: Some("10.0.0.7:8080".into()),
                ..Default::default()
            },
            ServeArgs {
                node_url: Some("ftp://10.0.0.7".into()),
                ..Default::default()
            },
            ServeArgs {
                listen_grace: Some(0),
                ..Default::default()
            },
            ServeArgs {
                listen_ping: Some(0),
                ..Default::default()
            },
        ] {
            assert!(Settings::resolve(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dashboard_sessions_have_defaults_and_come_from_the_file_or_flags() {
        let d = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(d.dashboard_idle_timeout, Duration::from_secs(1800));
        assert_eq!(d.dashboard_session_lifetime, Duration::from_secs(43_200));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookrelay.toml");
        std::fs::write(
            &path,
            "dashboard_idle_timeout = 600\ndashboard_session_lifetime = 3600\n",
        )
        .unwrap();
        let s = Settings::resolve(&ServeArgs {
            config: Some(path),
            dashboard_idle_timeout: Some(300),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            s.dashboard_idle_timeout,
            Duration::from_secs(300),
            "the flag wins"
        );
        assert_eq!(s.dashboard_session_lifetime, Duration::from_secs(3600));
        for bad in [
            ServeArgs {
                dashboard_idle_timeout: Some(0),
                ..Default::default()
            },
            ServeArgs {
                dashboard_session_lifetime: Some(59),
                ..Default::default()
            },
        ] {
            assert!(Settings::resolve(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(Settings::resolve(&args).is_err());
    }

    #[test]
    fn quotas_come_from_flags_then_file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookrelay.toml");
        std::fs::write(
            &path,
            "max_endpoints_per_workspace = 5\nmax_headers_per_endpoint = 3\n",
        )
        .unwrap();
        let s = Settings::resolve(&ServeArgs {
            config: Some(path),
            max_headers_per_endpoint: Some(7),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.max_endpoints_per_workspace, 5);
        assert_eq!(s.max_headers_per_endpoint, 7, "the flag wins");
        assert_eq!(s.max_subscriptions_per_workspace, 10_000, "a default");
        let d = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(
            (
                d.max_endpoints_per_workspace,
                d.max_subscriptions_per_workspace,
                d.max_headers_per_endpoint
            ),
            (1000, 10_000, 20)
        );
    }
}
