//! The server end of `hookrelay listen`: local development without a public
//! URL.
//!
//! `GET /listen` (a WebSocket, workspace key) creates a temporary endpoint
//! (profile `extend`, its own secret, `created_by.type = "listen"`) whose URL
//! is this node's `/_listen/{id}`, or resumes one (`endpointId=`) after a
//! reconnect, pointing it at this node. Its deliveries go through the
//! dispatcher like any other's, from whichever node claims them, to
//! `POST /_listen/{id}`; that route checks the signature, hands the request
//! to the connection ([`ListenHub`]), waits for the CLI's local answer and
//! answers with it, so the local status and latency land in history and a
//! local failure is a failed attempt, retried as usual.
//!
//! The endpoint goes when the CLI closes the connection, or when it has
//! been gone for [`crate::ApiConfig::listen_grace`]: while connected, the
//! node holding the connection touches the endpoint's `updated_at` every
//! third of that, and every node's [`sweep`] deletes listen endpoints
//! nobody has touched for longer (a node that dies cannot clean up).
//!
//! The server pings every [`crate::ApiConfig::listen_ping`], and either
//! side ends a connection it has heard nothing on (not even a pong) for
//! [`SILENT_PINGS`] of those: a laptop that slept or a node that lost power
//! sends no close. The session also ends, and removes the endpoint, when
//! the API key that opened it is revoked; and tells the CLI (close code
//! [`CLOSE_ENDPOINT_GONE`]) when the endpoint was deleted under it, so the
//! CLI starts over with a new one.
//!
//! Frames are JSON text. Server to CLI: `{"type":"ready", "endpointId",
//! "secret", "apiVersion", "enabledEvents", "pingIntervalMs"}` once, then `{"type":"delivery",
//! "seq", "headers": [[name, value]…], "body"}`. CLI to server:
//! `{"type":"result", "seq", "status", "headers", "body"}` or `{"type":
//! "result", "seq", "error"}` when the local URL could not be reached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use hookrelay_core::ids::EndpointId;
use hookrelay_core::model::{
    AdvancedOptions, CreatedBy, Endpoint, EndpointSecrets, EndpointStatus, SignatureScheme,
    LISTEN_CREATOR,
};
use hookrelay_core::parsed::EndpointUrl;
use hookrelay_core::secret::{generate_signing_secret, ApiKeyHash};
use hookrelay_core::time::Timestamp;
use hookrelay_webhooks::{verify, Profile, VerifyOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::endpoints::{self, Scope};
use crate::error::{ApiError, ApiResult};
use crate::extract::{bearer_key, read_body, resolve_key, Ctx, Query};
use crate::AppState;

/// The most of a local answer's body the CLI sends back (what history
/// keeps of any answer).
pub const MAX_LOCAL_BODY: usize = 16 * 1024;
/// How long a relayed delivery waits for the CLI's answer at most; the
/// dispatcher's own timeout is usually shorter.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How many ping intervals without a frame make a connection dead.
pub const SILENT_PINGS: u32 = 3;
/// The close code telling the CLI its endpoint no longer exists.
pub const CLOSE_ENDPOINT_GONE: u16 = 4404;
/// The close code of a session whose API key was revoked.
pub const CLOSE_KEY_REVOKED: u16 = 4401;
/// How long a close frame may take to send to a CLI that stopped reading.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The WebSocket close code of a CLI that quits (RFC 6455 "normal"): only
/// then is the endpoint removed at once.
const NORMAL_CLOSE: u16 = 1000;

/// The connections this node holds, by endpoint.
#[derive(Default)]
pub struct ListenHub {
    sessions: Mutex<HashMap<EndpointId, Session>>,
    next: std::sync::atomic::AtomicU64,
    /// Closes every connection at shutdown (without removing endpoints: the
    /// CLIs reconnect to another node or to this one restarted).
    pub stop: CancellationToken,
    /// The sessions' tasks, which shutdown waits for.
    pub tasks: tokio_util::task::TaskTracker,
}

impl std::fmt::Debug for ListenHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenHub")
            .field("sessions", &self.sessions.lock().expect("hub lock").len())
            .finish()
    }
}

struct Session {
    tx: mpsc::Sender<Relayed>,
    generation: u64,
    /// Ends this session when a newer connection for the same endpoint
    /// replaces it.
    replaced: CancellationToken,
}

/// One delivery on its way to the CLI.
struct Relayed {
    headers: Vec<(String, String)>,
    body: Bytes,
    reply: oneshot::Sender<LocalAnswer>,
}

impl ListenHub {
    /// Registers a connection for `id`, replacing (and ending) an older one.
    fn register(&self, id: &EndpointId, tx: mpsc::Sender<Relayed>) -> (u64, CancellationToken) {
        let generation = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let replaced = self.stop.child_token();
        let old = self.sessions.lock().expect("hub lock").insert(
            id.clone(),
            Session {
                tx,
                generation,
                replaced: replaced.clone(),
            },
        );
        if let Some(old) = old {
            old.replaced.cancel();
        }
        (generation, replaced)
    }

    fn unregister(&self, id: &EndpointId, generation: u64) {
        let mut sessions = self.sessions.lock().expect("hub lock");
        if sessions.get(id).is_some_and(|s| s.generation == generation) {
            sessions.remove(id);
        }
    }

    fn sender(&self, id: &EndpointId) -> Option<mpsc::Sender<Relayed>> {
        self.sessions
            .lock()
            .expect("hub lock")
            .get(id)
            .map(|s| s.tx.clone())
    }

    /// Whether this node holds a connection for `id`.
    pub fn is_connected(&self, id: &EndpointId) -> bool {
        self.sessions.lock().expect("hub lock").contains_key(id)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenParams {
    /// Comma-separated event types (names in the version); default: every
    /// event type the version delivers to endpoints.
    events: Option<String>,
    api_version: Option<String>,
    /// Resume this temporary endpoint (after a reconnect).
    endpoint_id: Option<String>,
}

/// `GET /listen`: see the module docs.
pub async fn connect(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<ListenParams>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "websocket_required",
            format!("GET /listen opens a WebSocket (as `hookrelay listen` does): {e}"),
        )
    })?;
    // `Ctx` authenticated this key: only its hash is kept, to notice a
    // revocation while the connection lasts.
    let key = ApiKeyHash::of(bearer_key(&headers)?);
    let endpoint = match &q.endpoint_id {
        Some(id) => resume(&state, &ctx, id).await?,
        None => create(&state, &ctx, &q).await?,
    };
    tracing::info!(endpoint = %endpoint.id, workspace = %endpoint.workspace_id, "listen connected");
    let tasks = state.inner.listen.tasks.clone();
    Ok(upgrade
        .on_upgrade(move |socket| tasks.track_future(session(state, endpoint, key, socket)))
        .into_response())
}

/// This node's address for relayed deliveries to endpoint `id`.
fn relay_url(state: &AppState, id: &EndpointId) -> ApiResult<EndpointUrl> {
    let node = state.inner.config.node_url.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "listen_unavailable",
            "this server has no node URL to relay deliveries to",
        )
    })?;
    let raw = format!("{}/_listen/{id}", node.trim_end_matches('/'));
    // Plain http is allowed: this URL is the server's own, not a client's.
    EndpointUrl::parse(&raw, true).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "listen_unavailable",
            format!("the node URL {node:?} is not usable: {}", e.message),
        )
    })
}

async fn create(state: &AppState, ctx: &Ctx, q: &ListenParams) -> ApiResult<Endpoint> {
    let catalog = &state.inner.catalog;
    let version = q
        .api_version
        .clone()
        .unwrap_or_else(|| catalog.current_version().to_owned());
    let api_version = endpoints::parse_version(state, &version)?;
    let events: Vec<String> = match &q.events {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => catalog
            .events_in(api_version.as_str())
            .filter(|e| e.global)
            .filter_map(|e| catalog.rendered_name(&e.event_type, api_version.as_str()))
            .map(str::to_owned)
            .collect(),
    };
    let now = state.inner.clock.now();
    let id: EndpointId = state.inner.ids.at(now);
    let endpoint = Endpoint {
        url: relay_url(state, &id)?,
        id,
        workspace_id: ctx.workspace_id.clone(),
        name: "hookrelay listen".into(),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        enabled_events: events,
        api_version,
        advanced_options: AdvancedOptions::default(),
        signature_scheme: SignatureScheme::Extend,
        retry_schedule: None,
        rate_limit_per_second: None,
        secrets: EndpointSecrets::new(generate_signing_secret(SignatureScheme::Extend)),
        created_at: now,
        created_by: Some(CreatedBy {
            kind: LISTEN_CREATOR.into(),
            name: ctx.created_by.name.clone(),
        }),
        updated_at: now,
        failing_since: None,
    };
    endpoints::check(state, &endpoint)?;
    state
        .inner
        .directory
        .insert_endpoint(
            &endpoint,
            Some(state.inner.config.max_endpoints_per_workspace),
        )
        .await?;
    Ok(endpoint)
}

/// A listen endpoint of this workspace, pointed at this node.
async fn resume(state: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Endpoint> {
    let current = endpoints::load(state, ctx, id).await?;
    if !current.is_listen() {
        return Err(ApiError::not_found("listen endpoint"));
    }
    let url = relay_url(state, &current.id)?;
    endpoints::modify(state, &ctx.workspace_id, id, Scope::Any, |mut e| {
        e.url = url.clone();
        Ok(e)
    })
    .await
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ToCli<'a> {
    #[serde(rename_all = "camelCase")]
    Ready {
        endpoint_id: &'a str,
        secret: &'a str,
        api_version: &'a str,
        enabled_events: &'a [String],
        ping_interval_ms: u64,
    },
    Delivery {
        seq: u64,
        headers: &'a [(String, String)],
        body: &'a str,
    },
}

/// What the CLI says of one delivery.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum FromCli {
    Result {
        seq: u64,
        #[serde(flatten)]
        answer: LocalAnswer,
    },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LocalAnswer {
    Answered {
        status: u16,
        #[serde(default)]
        headers: Vec<(String, String)>,
        #[serde(default)]
        body: String,
    },
    Failed {
        error: String,
    },
}

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The CLI closed the connection normally (it quit), or its key was
    /// revoked: the endpoint is removed.
    Quit,
    /// Anything else; the endpoint waits for a reconnect.
    Gone,
}

/// Sends a close frame, giving up on a CLI that does not read it.
async fn close(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &'static str,
) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(frame)).await;
}

async fn session(state: AppState, endpoint: Endpoint, key: ApiKeyHash, socket: WebSocket) {
    let hub = &state.inner.listen;
    let (tx, mut rx) = mpsc::channel::<Relayed>(64);
    let (generation, replaced) = hub.register(&endpoint.id, tx);
    let (mut sink, mut stream) = socket.split();
    let ready = ToCli::Ready {
        endpoint_id: endpoint.id.as_str(),
        secret: endpoint.secrets.secret.expose(),
        api_version: endpoint.api_version.as_str(),
        enabled_events: &endpoint.enabled_events,
        ping_interval_ms: u64::try_from(state.inner.config.listen_ping.as_millis())
            .unwrap_or(u64::MAX),
    };
    let mut ended = Ended::Gone;
    if sink.send(Message::Text(json(&ready).into())).await.is_ok() {
        let grace = state.inner.config.listen_grace;
        let mut beat = tokio::time::interval((grace / 3).max(Duration::from_millis(100)));
        beat.tick().await;
        let every = state.inner.config.listen_ping;
        let silent_limit = every * SILENT_PINGS;
        let mut ping = tokio::time::interval(every);
        ping.tick().await;
        let mut pending: HashMap<u64, oneshot::Sender<LocalAnswer>> = HashMap::new();
        let mut seq = 0u64;
        let mut heard = tokio::time::Instant::now();
        ended = loop {
            tokio::select! {
                _ = replaced.cancelled() => {
                    close(&mut sink, 1001, "going away").await;
                    break Ended::Gone;
                }
                r = rx.recv() => {
                    let Some(r) = r else { break Ended::Gone };
                    seq += 1;
                    let body = String::from_utf8_lossy(&r.body);
                    let frame = ToCli::Delivery { seq, headers: &r.headers, body: &body };
                    if sink.send(Message::Text(json(&frame).into())).await.is_err() {
                        break Ended::Gone;
                    }
                    pending.insert(seq, r.reply);
                }
                m = stream.next() => {
                    heard = tokio::time::Instant::now();
                    match m {
                        Some(Ok(Message::Text(t))) => match serde_json::from_str::<FromCli>(&t) {
                            Ok(FromCli::Result { seq, answer }) => {
                                if let Some(reply) = pending.remove(&seq) {
                                    let _ = reply.send(answer);
                                }
                            }
                            Err(e) => tracing::debug!(error = %e, "listen: an unreadable frame from the CLI"),
                        },
                        Some(Ok(Message::Close(frame))) => {
                            break if frame.is_some_and(|f| f.code == NORMAL_CLOSE) {
                                Ended::Quit
                            } else {
                                Ended::Gone
                            };
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break Ended::Gone,
                    }
                }
                _ = beat.tick() => {
                    // Relays that gave up waiting leave their reply behind.
                    pending.retain(|_, reply| !reply.is_closed());
                    if matches!(resolve_key(&state, &key).await, Ok(None)) {
                        close(&mut sink, CLOSE_KEY_REVOKED, "the API key was revoked").await;
                        break Ended::Quit;
                    }
                    match touch(&state, &endpoint).await {
                        Ok(_) => {}
                        Err(e) if e.status == StatusCode::NOT_FOUND => {
                            close(&mut sink, CLOSE_ENDPOINT_GONE, "the endpoint was deleted").await;
                            break Ended::Gone;
                        }
                        Err(e) => tracing::warn!(endpoint = %endpoint.id, error = %e.message, "listen: keeping the endpoint alive failed"),
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > silent_limit {
                        tracing::info!(endpoint = %endpoint.id, "listen: nothing heard from the CLI; the connection is dead");
                        break Ended::Gone;
                    }
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        break Ended::Gone;
                    }
                }
            }
        };
    }
    hub.unregister(&endpoint.id, generation);
    tracing::info!(endpoint = %endpoint.id, quit = (ended == Ended::Quit), "listen disconnected");
    if ended == Ended::Quit {
        if let Err(e) =
            endpoints::remove(&state, &endpoint.workspace_id, &endpoint, "listen endpoint").await
        {
            tracing::warn!(endpoint = %endpoint.id, error = %e.message, "listen: removing the endpoint failed");
        }
    }
}

/// Marks a connected listen endpoint as alive (its `updated_at`), so no
/// node's [`sweep`] takes it.
async fn touch(state: &AppState, e: &Endpoint) -> ApiResult<Endpoint> {
    endpoints::modify(state, &e.workspace_id, e.id.as_str(), Scope::Any, Ok).await
}

fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("frames serialize")
}

/// Request headers not handed on to the CLI (they describe the hop).
const HOP_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "x-request-id",
];

/// `POST /_listen/{id}`: a delivery to a listen endpoint, from the node
/// that sent it; see the module docs.
pub async fn relay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let id = EndpointId::parse(&id).ok_or_else(|| ApiError::not_found("listen endpoint"))?;
    let endpoint = state
        .inner
        .directory
        .endpoint(&id)
        .filter(|e| e.is_listen())
        .ok_or_else(|| ApiError::not_found("listen endpoint"))?;
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| !HOP_HEADERS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let limit = state.inner.config.max_event_bytes.saturating_mul(4) + 64 * 1024;
    let body = read_body(req, limit).await?;
    check_signature(&state, &endpoint, &headers, &body)?;
    let not_connected = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "listener_not_connected",
            "no `hookrelay listen` is connected for this endpoint on this node",
        )
    };
    let tx = state.inner.listen.sender(&id).ok_or_else(not_connected)?;
    let (reply, answer) = oneshot::channel();
    tx.send(Relayed {
        headers,
        body,
        reply,
    })
    .await
    .map_err(|_| not_connected())?;
    let answer = match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(Ok(a)) => a,
        Ok(Err(_)) => return Err(not_connected()),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "listener_timeout",
                "`hookrelay listen` did not report the local answer in time",
            ))
        }
    };
    Ok(local_response(answer))
}

/// Only deliveries hookrelay signed for this endpoint reach the developer's
/// machine.
fn check_signature(
    state: &AppState,
    e: &Endpoint,
    headers: &[(String, String)],
    body: &[u8],
) -> ApiResult<()> {
    let mut opts = VerifyOptions::default();
    let now = state.inner.clock.now();
    opts.now = Some(now.secs());
    let secrets = std::iter::once(&e.secrets.secret).chain(e.secrets.previous_at(now));
    for s in secrets {
        if verify(Profile::Extend, body, headers, s.expose(), &opts).is_ok() {
            return Ok(());
        }
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
        "the delivery is not signed with this listen endpoint's secret",
    ))
}

/// The CLI's report as the answer to the relayed request: the local status,
/// headers and body, or a 502 saying why the local URL was not reached.
fn local_response(answer: LocalAnswer) -> Response {
    match answer {
        LocalAnswer::Answered {
            status,
            headers,
            body,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut out = HeaderMap::new();
            for (k, v) in headers {
                let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) else {
                    continue;
                };
                if !HOP_HEADERS.contains(&k.as_str()) {
                    out.append(k, v);
                }
            }
            let mut body = body;
            if body.len() > MAX_LOCAL_BODY {
                let mut end = MAX_LOCAL_BODY;
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                body.truncate(end);
            }
            (status, out, body).into_response()
        }
        LocalAnswer::Failed { error } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "local_unreachable",
            format!("hookrelay listen could not deliver it locally: {error}"),
        )
        .into_response(),
    }
}

/// Whether a listen endpoint has been without its CLI for longer than
/// `grace`: not connected here, and not touched by the node holding its
/// connection (if any) since.
pub fn abandoned(e: &Endpoint, connected_here: bool, now: Timestamp, grace: Duration) -> bool {
    e.is_listen()
        && !connected_here
        && e.updated_at
            .plus_millis(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX))
            <= now
}

/// Deletes the listen endpoints abandoned for longer than the grace period
/// (see [`abandoned`]); returns how many.
pub async fn sweep(state: &AppState) -> usize {
    let now = state.inner.clock.now();
    let grace = state.inner.config.listen_grace;
    let hub = &state.inner.listen;
    let gone = state
        .inner
        .directory
        .endpoints_where(|e| abandoned(e, hub.is_connected(&e.id), now, grace));
    let mut n = 0;
    for cached in gone {
        // The cache may be behind a node that just resumed it: decide on
        // the stored row.
        let e = match endpoints::load_from(state, &cached.workspace_id, cached.id.as_str()).await {
            Ok(e) => e,
            Err(_) => continue,
        };
        if !abandoned(&e, hub.is_connected(&e.id), state.inner.clock.now(), grace) {
            continue;
        }
        match endpoints::remove(state, &e.workspace_id, &e, "listen endpoint").await {
            Ok(()) => {
                n += 1;
                tracing::info!(endpoint = %e.id, "removed a listen endpoint whose CLI is gone");
            }
            Err(err) if err.status == StatusCode::NOT_FOUND => {}
            Err(err) => {
                tracing::warn!(endpoint = %e.id, error = %err.message, "removing an abandoned listen endpoint failed");
            }
        }
    }
    n
}

/// Runs [`sweep`] every half grace period until `stop`.
pub fn spawn_sweeper(state: AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = (state.inner.config.listen_grace / 2).max(Duration::from_millis(200));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => { sweep(&state).await; }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use hookrelay_core::ids::WorkspaceId;

    use super::*;

    fn endpoint(kind: &str, updated_at: Timestamp) -> Endpoint {
        Endpoint {
            id: EndpointId::from_trusted("ep_1".into()),
            workspace_id: WorkspaceId::from_trusted("workspace_1".into()),
            url: EndpointUrl::parse("http://127.0.0.1:1/_listen/ep_1", true).unwrap(),
            name: String::new(),
            status: EndpointStatus::Enabled,
            disabled_reason: None,
            enabled_events: vec![],
            api_version: hookrelay_core::parsed::ApiVersion::from_trusted("v".into()),
            advanced_options: AdvancedOptions::default(),
            signature_scheme: SignatureScheme::Extend,
            retry_schedule: None,
            rate_limit_per_second: None,
            secrets: EndpointSecrets::new(hookrelay_core::secret::Secret::new("s".into())),
            created_at: updated_at,
            created_by: Some(CreatedBy {
                kind: kind.into(),
                name: "k".into(),
            }),
            updated_at,
            failing_since: None,
        }
    }

    #[test]
    fn only_a_listen_endpoint_untouched_past_the_grace_and_not_connected_here_is_abandoned() {
        let t0 = Timestamp(1_000_000);
        let grace = Duration::from_secs(60);
        let e = endpoint(LISTEN_CREATOR, t0);
        assert!(!abandoned(&e, false, t0.plus_millis(59_999), grace));
        assert!(abandoned(&e, false, t0.plus_millis(60_000), grace));
        assert!(
            !abandoned(&e, true, t0.plus_millis(600_000), grace),
            "connected here"
        );
        let ordinary = endpoint("api_key", t0);
        assert!(!abandoned(&ordinary, false, t0.plus_millis(600_000), grace));
    }
}
