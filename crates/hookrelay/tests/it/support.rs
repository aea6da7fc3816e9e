//! Test harness: [`TestServer`] (a whole hookrelay on port 0 with a temp
//! database), [`Receiver`] (a real HTTP server that records every request
//! and answers as told) and, in [`browser`], a headless Chromium for page
//! tests.

#![allow(dead_code)]

pub mod browser;

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hookrelay::config::{Database, Settings};
use hookrelay::serve::Server;
use hookrelay_store::postgres::scratch::ScratchSchema;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// How often the waiting helpers look again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Ok` and gives back what it found. Tests
/// wait for something they can observe (a delivery's status, what a
/// receiver got, a metric) rather than sleeping "long enough": `timeout` is
/// only the point at which the test gives up, with `check`'s last `Err`
/// (what it saw instead) in the panic.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(seen) => assert!(Instant::now() < deadline, "not within {timeout:?}: {seen}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The fixed API key of test servers.
pub const KEY: &str = "sk_test_integration_key_0123456789";
/// The encryption key test servers on PostgreSQL seal secrets with (on
/// SQLite they generate a key file in their data directory, as a first
/// start does).
pub const PG_ENCRYPTION_KEY: &str = "dGVzdC1rZXktb2YtaG9va3JlbGF5LWl0LXN1aXRlLTA=";

/// A keyring of one base64 key.
pub fn keyring(text: &str) -> Arc<hookrelay_store::crypt::Keyring> {
    Arc::new(hookrelay_store::crypt::Keyring::parse(text).expect("test key"))
}

/// The admin key of test servers.
pub const ADMIN: &str = "admin_test_key_0123456789";

pub struct TestServer {
    pub url: String,
    pub workspace_id: String,
    pub dir: Arc<tempfile::TempDir>,
    pub settings: Settings,
    server: Option<Server>,
    pub http: reqwest::Client,
    /// The PostgreSQL schema of a server on PostgreSQL (dropped last).
    pub pg: Option<Arc<PgSchema>>,
}

/// Which database a test server runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A schema of its own on `HOOKRELAY_TEST_POSTGRES_URL` (the test skips
    /// without one, unless `HOOKRELAY_REQUIRE_POSTGRES=1`).
    Postgres,
}

/// Dev-mode settings on a fresh temp database with fast polling.
pub fn test_settings(dir: &tempfile::TempDir) -> Settings {
    Settings {
        database: Database::Sqlite(dir.path().join("hookrelay.db")),
        api_key: Some(KEY.into()),
        admin_key: Some(ADMIN.into()),
        dev: true,
        allow_private_destinations: true,
        request_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(100),
        metrics_backlog_every: Duration::ZERO,
        ..Settings::default()
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut Settings)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings = test_settings(&dir);
        f(&mut settings);
        Self::start_in(dir, settings).await
    }

    /// A client of a server running elsewhere (a spawned `hookrelay serve`).
    pub fn remote(url: &str) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        TestServer {
            url: url.to_owned(),
            workspace_id: String::new(),
            settings: test_settings(&dir),
            dir,
            server: None,
            http: reqwest::Client::new(),
            pg: None,
        }
    }

    /// A server on `backend`, or `None` (skip) when that backend is not
    /// available here.
    pub async fn on(backend: Backend, f: impl FnOnce(&mut Settings)) -> Option<Self> {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut settings = test_settings(&dir);
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let schema = PgSchema::create().await?;
                settings.database = Database::Postgres(schema.url());
                settings.encryption_keys = Some(keyring(PG_ENCRYPTION_KEY));
                Some(Arc::new(schema))
            }
        };
        f(&mut settings);
        let mut s = Self::start_in(dir, settings).await;
        s.pg = pg;
        Some(s)
    }

    async fn start_in(dir: Arc<tempfile::TempDir>, settings: Settings) -> Self {
        Self::start_at(dir, settings, "127.0.0.1:0").await
    }

    async fn start_at(dir: Arc<tempfile::TempDir>, settings: Settings, addr: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let server = Server::start(settings.clone(), listener)
            .await
            .expect("server starts");
        TestServer {
            url: format!("http://{}", server.addr),
            workspace_id: server.bootstrap.workspace_id.to_string(),
            dir,
            settings,
            server: Some(server),
            http: reqwest::Client::new(),
            pg: None,
        }
    }

    /// Graceful stop, then a new server on the same database.
    pub async fn restart(self) -> Self {
        self.restart_after(|_| async {}).await
    }

    /// Graceful stop, then a new server on the same database and the same
    /// address (as clients that reconnect see a restart).
    pub async fn restart_in_place(mut self) -> Self {
        self.server
            .take()
            .expect("running")
            .shutdown()
            .await
            .expect("clean shutdown");
        let addr = self.url.trim_start_matches("http://").to_owned();
        let pg = self.pg.take();
        let mut s = Self::start_at(self.dir.clone(), self.settings.clone(), &addr).await;
        s.pg = pg;
        s
    }

    /// Graceful stop; then `between` runs while nothing holds the database
    /// (to fill it through a store of its own, say); then a new server on
    /// the same database.
    pub async fn restart_after<F, Fut>(mut self, between: F) -> Self
    where
        F: FnOnce(Settings) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.server
            .take()
            .expect("running")
            .shutdown()
            .await
            .expect("clean shutdown");
        between(self.settings.clone()).await;
        let pg = self.pg.take();
        let mut s = Self::start_in(self.dir.clone(), self.settings.clone()).await;
        s.pg = pg;
        s
    }

    /// Creates a workspace (with the admin key) and an API key for it;
    /// returns the workspace id and the key.
    pub async fn workspace(&self, name: &str) -> (String, String) {
        let (status, ws, _) = self
            .request(
                reqwest::Method::POST,
                "/workspaces",
                Some(ADMIN),
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "create workspace: {ws}");
        let id = ws["id"].as_str().expect("workspace id").to_owned();
        let resp = self
            .http
            .post(format!("{}/api_keys", self.url))
            .bearer_auth(ADMIN)
            .header("x-extend-workspace-id", &id)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("create key");
        assert!(resp.status().is_success(), "create key: {}", resp.status());
        let key: Value = resp.json().await.expect("key JSON");
        (id, key["key"].as_str().expect("key").to_owned())
    }

    /// POSTs `body` to `path` with `key`; fails unless the answer is 2xx.
    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> Value {
        let (status, v, _) = self
            .request(reqwest::Method::POST, path, Some(key), Some(body))
            .await;
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    /// The value of a metric without labels in `/metrics`.
    pub async fn gauge(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn db_path(&self) -> PathBuf {
        match &self.settings.database {
            Database::Sqlite(p) => p.clone(),
            Database::Postgres(_) => panic!("integration servers run on SQLite"),
        }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let headers = convert_headers(resp.headers());
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value, headers)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self
            .request(reqwest::Method::GET, path, Some(KEY), None)
            .await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .request(reqwest::Method::POST, path, Some(KEY), Some(body))
            .await;
        (s, v)
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self
            .request(reqwest::Method::DELETE, path, Some(KEY), None)
            .await;
        (s, v)
    }

    /// Creates an endpoint (2026-02-09 unless `extra` says otherwise); returns its JSON.
    pub async fn endpoint(&self, url: &str, events: &[&str], extra: Value) -> Value {
        let mut body = json!({
            "url": url,
            "name": "test endpoint",
            "enabledEvents": events,
            "apiVersion": "2026-02-09",
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let (s, v) = self.post("/webhook_endpoints", body).await;
        assert_eq!(s, StatusCode::OK, "create endpoint: {v}");
        v
    }

    /// Publishes an event; returns the event JSON.
    pub async fn publish(&self, event_type: &str, payload: Value) -> Value {
        let (s, v) = self
            .post(
                "/events",
                json!({ "eventType": event_type, "payload": payload }),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "publish: {v}");
        v
    }

    /// The deliveries matching a query string, newest first.
    pub async fn deliveries(&self, query: &str) -> Vec<Value> {
        let (s, v) = self.get(&format!("/webhook_deliveries?{query}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["data"].as_array().cloned().unwrap_or_default()
    }

    pub async fn delivery(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/webhook_deliveries/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// Polls a delivery until `pred` holds (panics after `timeout`).
    pub async fn wait_delivery(
        &self,
        id: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(timeout, || async {
            let d = self.delivery(id).await;
            if pred(&d) {
                Ok(d)
            } else {
                Err(format!("delivery {id} is not in the expected state: {d:#}"))
            }
        })
        .await
    }

    /// Polls the deliveries matching `query` until `pred` holds of them.
    pub async fn wait_deliveries(
        &self,
        query: &str,
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        eventually(timeout, || async {
            let ds = self.deliveries(query).await;
            if pred(&ds) {
                Ok(ds)
            } else {
                Err(format!("deliveries?{query}: {ds:#?}"))
            }
        })
        .await
    }

    /// Polls `/metrics` until it has `line`.
    pub async fn wait_metric(&self, line: &str, timeout: Duration) {
        eventually(timeout, || async {
            let text = self.metrics().await;
            if text.contains(line) {
                Ok(())
            } else {
                Err(format!("no `{line}` in {text}"))
            }
        })
        .await
    }

    /// Waits until the server has nothing left to do with what it was given:
    /// no delivery pending (each has its final outcome recorded) and nothing
    /// held by the dispatcher. Then no further request can reach a receiver
    /// unless something is sent twice. Returns every delivery (up to 100).
    pub async fn wait_settled(&self, timeout: Duration) -> Vec<Value> {
        eventually(timeout, || async {
            let ds = self.deliveries("maxPageSize=100").await;
            let pending = ds.iter().filter(|d| d["status"] == "pending").count();
            let held = self.gauge("hookrelay_dispatch_held").await;
            if pending == 0 && held == 0.0 {
                Ok(ds)
            } else {
                Err(format!("{pending} deliveries pending, {held} held"))
            }
        })
        .await
    }

    /// The only delivery of an event.
    pub async fn delivery_of(&self, event_id: &str) -> Value {
        let ds = self.deliveries(&format!("eventId={event_id}")).await;
        assert_eq!(ds.len(), 1, "exactly one delivery: {ds:?}");
        ds[0].clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

pub fn convert_headers(h: &reqwest::header::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_str().as_bytes()),
            axum::http::HeaderValue::from_bytes(v.as_bytes()),
        ) {
            out.append(name, value);
        }
    }
    out
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The headers as (name, value) pairs, for the receiver library.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect()
    }
}

/// How the receiver answers.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers.
    WithHeaders(u16, Vec<(&'static str, String)>),
    /// Never answers (until the client gives up).
    Hang,
    /// Answers `status` after a delay.
    Delay(Duration, u16),
    /// A status with a body.
    Body(u16, String),
}

struct ReceiverState {
    records: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    notify: Notify,
}

/// A real HTTP server that records what it gets.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub port: u16,
    state: Arc<ReceiverState>,
}

async fn receive(
    axum::extract::State(state): axum::extract::State<Arc<ReceiverState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let scripted = state.script.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| state.default.lock().unwrap().clone())
    };
    state.records.lock().unwrap().push(Received {
        path_and_query: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body,
        at: Instant::now(),
    });
    state.notify.notify_waiters();
    match reply {
        Reply::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Reply::WithHeaders(s, hs) => {
            let mut resp = StatusCode::from_u16(s).unwrap().into_response();
            for (k, v) in hs {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
            resp
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Delay(d, s) => {
            tokio::time::sleep(d).await;
            StatusCode::from_u16(s).unwrap().into_response()
        }
        Reply::Body(s, b) => (StatusCode::from_u16(s).unwrap(), b).into_response(),
    }
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub async fn start() -> Self {
        Self::start_replying(Reply::Status(200)).await
    }

    fn app(default: Reply) -> (axum::Router, Arc<ReceiverState>) {
        let state = Arc::new(ReceiverState {
            records: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            notify: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        (app, state)
    }

    /// An HTTPS receiver at `https://localhost:PORT` with this TLS
    /// configuration, answering 200; also returns how many connections it
    /// accepted (TLS handshakes completed).
    pub async fn start_tls(
        tls: Arc<rustls::ServerConfig>,
    ) -> (Self, Arc<std::sync::atomic::AtomicUsize>) {
        let (app, state) = Self::app(Reply::Status(200));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app, counter) = (acceptor.clone(), app.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
        let receiver = Receiver {
            url: format!("https://localhost:{port}"),
            port,
            state,
        };
        (receiver, accepted)
    }

    pub async fn start_replying(default: Reply) -> Self {
        let (app, state) = Self::app(default);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}"),
            port,
            state,
        }
    }

    /// Answers these, in order, before falling back to the default.
    pub fn script(&self, replies: Vec<Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.records.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.state.notify.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "receiver got {} of {n} requests in {timeout:?}",
                got.len()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

/// Verifies an extend-profile delivery with the receiver library.
pub fn verify_extend(r: &Received, secret: &str) -> Result<(), hookrelay_webhooks::VerifyError> {
    hookrelay_webhooks::verify(
        hookrelay_webhooks::Profile::Extend,
        &r.body,
        &r.header_pairs(),
        secret,
        &hookrelay_webhooks::VerifyOptions::default(),
    )
}

/// A real `hookrelay serve` child process (killed when dropped).
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub url: String,
}

/// A free loopback port (it could be taken again before it is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `hookrelay serve` on `database_url` in dev mode with [`KEY`], plus
/// `env`; does not wait for it (see [`ServeProcess::wait_healthy`]).
pub fn spawn_serve(database_url: &str, env: &[(&str, &str)]) -> ServeProcess {
    let port = free_port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"));
    cmd.arg("serve")
        .env("HOOKRELAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKRELAY_DATABASE_URL", database_url)
        .env("HOOKRELAY_API_KEY", KEY)
        .env("HOOKRELAY_DEV", "1")
        .env("HOOKRELAY_REQUEST_TIMEOUT", "10")
        .env("HOOKRELAY_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    if database_url.starts_with("postgres") {
        cmd.env("HOOKRELAY_ENCRYPTION_KEY", PG_ENCRYPTION_KEY);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    ServeProcess {
        child: cmd.spawn().expect("spawn hookrelay"),
        url: format!("http://127.0.0.1:{port}"),
    }
}

impl ServeProcess {
    /// Waits until `GET /healthz` answers 200 (panics after 30 s).
    pub async fn wait_healthy(&self) {
        eventually(Duration::from_secs(30), || async {
            match reqwest::get(format!("{}/healthz", self.url)).await {
                Ok(r) if r.status() == 200 => Ok(()),
                other => Err(format!("{} did not come up: {other:?}", self.url)),
            }
        })
        .await
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: i32) {
        let pid = self.child.id().expect("running") as i32;
        assert_eq!(kill(pid, sig), 0, "kill({pid}, {sig})");
    }
}

/// `kill(2)`.
#[allow(unsafe_code)]
pub fn kill(pid: i32, sig: i32) -> i32 {
    // SAFETY: a plain syscall wrapper; tests only signal their own children.
    unsafe { libc::kill(pid, sig) }
}

/// POSTs JSON with [`KEY`] and returns the JSON answer, failing on a non-2xx.
pub async fn post_ok(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    json_ok(http.post(url).json(body), url).await
}

/// GETs with [`KEY`] and returns the JSON answer, failing on a non-2xx.
pub async fn get_ok(http: &reqwest::Client, url: &str) -> Value {
    json_ok(http.get(url), url).await
}

async fn json_ok(req: reqwest::RequestBuilder, url: &str) -> Value {
    let resp = req.bearer_auth(KEY).send().await.expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

/// A schema of its own on the test server, dropped when this is dropped.
pub struct PgSchema {
    scratch: ScratchSchema,
    pub name: String,
}

impl PgSchema {
    /// `None` (skip) when no server is configured; panics when one is
    /// required but unusable.
    pub async fn create() -> Option<PgSchema> {
        let scratch = ScratchSchema::from_test_env("hr_it").await?;
        let name = scratch.name().to_owned();
        Some(PgSchema { scratch, name })
    }

    /// The database URL that puts a connection in this schema.
    pub fn url(&self) -> String {
        self.scratch.url()
    }

    /// A plain connection in this schema, for looking behind the store.
    pub async fn client(&self) -> tokio_postgres::Client {
        let c = self
            .scratch
            .client()
            .await
            .expect("connect to the test server");
        c.batch_execute(&format!("SET search_path TO {}", self.name))
            .await
            .expect("search_path");
        c
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        self.scratch.remove_blocking();
    }
}
