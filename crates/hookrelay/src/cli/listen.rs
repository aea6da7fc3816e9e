//! `hookrelay listen --forward-to URL`: deliveries on `localhost` without a
//! public URL.
//!
//! The CLI opens a WebSocket to the server's `GET /listen`; the server
//! creates a temporary endpoint (profile `extend`, its own secret) and
//! streams that endpoint's deliveries over the connection. Each is POSTed
//! to the local URL with the signed headers and body it carries, so the
//! developer's own verification code runs, and the local answer (status,
//! headers, body, or why the URL could not be reached) goes back over the
//! connection: the server answers the delivery attempt with it, so it lands
//! in history, and a local failure is retried like any failed attempt.
//!
//! The connection is resumed after it drops (a server restart, another
//! node): the same endpoint and secret when the server still has it, a new
//! one (its secret printed again) when it has been removed meanwhile.
//! Ctrl-C closes the connection normally, which removes the endpoint.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use hookrelay_api::listen::{CLOSE_ENDPOINT_GONE, CLOSE_KEY_REVOKED, SILENT_PINGS};

use super::Conn;

/// Options of `hookrelay listen`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  hookrelay listen --forward-to http://localhost:3000/webhooks --events extract_run.processed"
)]
pub struct ListenArgs {
    /// Local URL each delivery is forwarded to, e.g. http://localhost:3000/webhooks.
    #[arg(long, value_name = "URL")]
    pub forward_to: String,
    /// Event types to receive, comma-separated [default: every event type
    /// of the API version].
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub events: Vec<String>,
    /// API version the deliveries are rendered for [default: the server's current].
    #[arg(long, value_name = "V")]
    pub api_version: Option<String>,
}

/// How long the local URL has to answer one delivery: under the
/// dispatcher's default attempt timeout (30 s), so that a hung local server
/// is recorded as this CLI's "timed out" rather than the relay's.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(25);
/// The most of a local answer's body sent back (what history keeps).
const MAX_BODY: usize = hookrelay_api::listen::MAX_LOCAL_BODY;
/// The longest wait between two reconnection tries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Request headers not passed on to the local URL: they describe the hop
/// to the server, and reqwest sets its own.
const HOP_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "upgrade",
    "accept-encoding",
];

/// Forwards a temporary endpoint's deliveries to a local URL until Ctrl-C.
pub async fn run(args: ListenArgs, conn: &Conn) -> anyhow::Result<()> {
    let forward_to = reqwest::Url::parse(&args.forward_to)
        .with_context(|| format!("--forward-to {:?} is not a URL", args.forward_to))?;
    if !matches!(forward_to.scheme(), "http" | "https") {
        bail!("--forward-to must be an http:// or https:// URL");
    }
    let local = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(LOCAL_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let forwarder = Forwarder {
        local,
        url: forward_to,
        every_event: args.events.is_empty(),
    };
    let quit = quit_signal();
    tokio::pin!(quit);

    let mut endpoint: Option<String> = None;
    let mut secret: Option<String> = None;
    let mut backoff = Duration::from_millis(250);
    let mut connected_once = false;
    loop {
        let ws = tokio::select! {
            _ = &mut quit => return remove(conn, endpoint.as_deref()).await,
            ws = connect(conn, &args, endpoint.as_deref()) => ws,
        };
        let ws = match ws {
            Ok(ws) => ws,
            Err(Refused::Gone) => {
                // The server removed it while we were away: start afresh.
                println!("The temporary endpoint was removed while disconnected; a new one has a new secret.");
                endpoint = None;
                continue;
            }
            Err(Refused::Fatal(e)) => return Err(e),
            Err(Refused::Unreachable(e)) if !connected_once => return Err(e),
            Err(Refused::Unreachable(e)) => {
                eprintln!("{e:#}; retrying in {} ms", backoff.as_millis());
                tokio::select! {
                    _ = &mut quit => return remove(conn, endpoint.as_deref()).await,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let mut ready = false;
        match session(
            ws,
            &forwarder,
            &mut endpoint,
            &mut secret,
            &mut ready,
            quit.as_mut(),
        )
        .await
        {
            Ended::Quit => return Ok(()),
            Ended::Revoked => bail!("the server closed the connection: the API key was revoked"),
            Ended::Removed => {
                // Deleted under us: start over at once with a new endpoint.
                println!("The temporary endpoint was removed; a new one has a new secret.");
                connected_once = true;
                endpoint = None;
                continue;
            }
            Ended::Lost(why) => {
                connected_once = true;
                eprintln!("Connection to {} lost ({why}); reconnecting…", conn.url);
            }
        }
        if ready {
            backoff = Duration::from_millis(250);
        }
        tokio::select! {
            _ = &mut quit => return remove(conn, endpoint.as_deref()).await,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Deletes the temporary endpoint when the user quits while no connection
/// is open to close (the server removes it itself on a normal close).
async fn remove(conn: &Conn, endpoint: Option<&str>) -> anyhow::Result<()> {
    let Some(id) = endpoint else { return Ok(()) };
    match super::client::Client::new(conn)?
        .delete(&["webhook_endpoints", id])
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            eprintln!("could not remove the temporary endpoint {id} ({e:#}); the server removes it after its grace period");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C (or SIGTERM).
async fn quit_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Ws = WebSocketStream<Box<dyn Io>>;

/// Why a connection attempt failed.
enum Refused {
    /// The endpoint to resume no longer exists.
    Gone,
    /// Trying again will not help (a bad key, a bad event type…).
    Fatal(anyhow::Error),
    /// The server could not be reached; it may come back.
    Unreachable(anyhow::Error),
}

/// Opens the WebSocket, resuming `endpoint` when given.
async fn connect(conn: &Conn, args: &ListenArgs, endpoint: Option<&str>) -> Result<Ws, Refused> {
    let fatal = |e: anyhow::Error| Refused::Fatal(e);
    let mut url = reqwest::Url::parse(&format!("{}/listen", conn.url))
        .with_context(|| format!("the API URL {:?} is not a URL", conn.url))
        .map_err(fatal)?;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(fatal(anyhow::anyhow!(
                "the API URL must be http:// or https://, not {other}://"
            )))
        }
    };
    url.set_scheme(if tls { "wss" } else { "ws" })
        .map_err(|()| fatal(anyhow::anyhow!("cannot make a WebSocket URL of {url}")))?;
    {
        let mut q = url.query_pairs_mut();
        match endpoint {
            Some(id) => {
                q.append_pair("endpointId", id);
            }
            None => {
                if !args.events.is_empty() {
                    q.append_pair("events", &args.events.join(","));
                }
                if let Some(v) = &args.api_version {
                    q.append_pair("apiVersion", v);
                }
            }
        }
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let mut request = url
        .as_str()
        .into_client_request()
        .context("building the WebSocket request")
        .map_err(fatal)?;
    let bearer = format!("Bearer {}", conn.key)
        .parse()
        .context("the API key is not a valid header value")
        .map_err(fatal)?;
    request.headers_mut().insert("authorization", bearer);

    let unreachable = |e: anyhow::Error| Refused::Unreachable(e);
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("connecting to {}", conn.url))
        .map_err(unreachable)?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if tls {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| fatal(e.into()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .with_context(|| format!("{host:?} is not a server name"))
            .map_err(fatal)?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {}", conn.url))
            .map_err(unreachable)?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    match tokio_tungstenite::client_async(request, io).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status();
            let body: Value = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let message = body["message"].as_str().unwrap_or("(no message)");
            let e = anyhow::anyhow!("{} answered {status}: {message}", conn.url);
            Err(match status.as_u16() {
                404 if endpoint.is_some() => Refused::Gone,
                429 | 500..=599 => Refused::Unreachable(e),
                _ => Refused::Fatal(e),
            })
        }
        Err(e) => Err(Refused::Unreachable(
            anyhow::Error::new(e).context(format!("opening a WebSocket to {}", conn.url)),
        )),
    }
}

/// How a session ended without an error of ours.
enum Ended {
    /// The user quit; the endpoint is removed.
    Quit,
    /// The server deleted the endpoint while connected.
    Removed,
    /// The server ended the session because its API key was revoked.
    Revoked,
    /// The connection dropped.
    Lost(String),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum FromServer {
    #[serde(rename_all = "camelCase")]
    Ready {
        endpoint_id: String,
        secret: String,
        api_version: String,
        enabled_events: Vec<String>,
        /// How often the server pings (absent from older servers).
        #[serde(default)]
        ping_interval_ms: Option<u64>,
    },
    Delivery {
        seq: u64,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// One connection: announces the endpoint, then forwards deliveries and
/// reports their answers until the connection drops or the user quits.
async fn session(
    ws: Ws,
    forwarder: &Forwarder,
    endpoint: &mut Option<String>,
    secret: &mut Option<String>,
    ready: &mut bool,
    mut quit: Pin<&mut impl std::future::Future<Output = ()>>,
) -> Ended {
    let (mut sink, mut stream) = ws.split();
    let (done_tx, mut done) = mpsc::channel::<String>(64);
    // The server pings regularly (it says how often when ready): silence
    // for longer than a few pings is a connection that died without a close
    // (a sleeping laptop, a lost node).
    let mut heard = tokio::time::Instant::now();
    let mut silent_limit = hookrelay_api::ApiConfig::default().listen_ping * SILENT_PINGS;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(heard + silent_limit) => {
                return Ended::Lost(format!("nothing heard from the server for {} ms", silent_limit.as_millis()));
            }
            _ = &mut quit => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CloseCode::Normal,
                        reason: "hookrelay listen quit".into(),
                    })))
                    .await;
                // Wait briefly for the server's close, so it has seen ours.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(m)) = stream.next().await {
                        if m.is_close() {
                            break;
                        }
                    }
                })
                .await;
                return Ended::Quit;
            }
            Some(frame) = done.recv() => {
                if let Err(e) = sink.send(Message::text(frame)).await {
                    return Ended::Lost(e.to_string());
                }
            }
            m = stream.next() => {
                heard = tokio::time::Instant::now();
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(Some(f)))) if u16::from(f.code) == CLOSE_ENDPOINT_GONE => {
                        return Ended::Removed;
                    }
                    Some(Ok(Message::Close(Some(f)))) if u16::from(f.code) == CLOSE_KEY_REVOKED => {
                        return Ended::Revoked;
                    }
                    Some(Ok(Message::Close(f))) => {
                        let why = f.map(|f| f.reason.to_string()).filter(|r| !r.is_empty());
                        return Ended::Lost(why.unwrap_or_else(|| "closed by the server".into()));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Ended::Lost(e.to_string()),
                    None => return Ended::Lost("closed".into()),
                };
                match serde_json::from_str::<FromServer>(&text) {
                    Ok(FromServer::Ready { endpoint_id, secret: s, api_version, enabled_events, ping_interval_ms }) => {
                        if let Some(ms) = ping_interval_ms.filter(|ms| *ms > 0) {
                            silent_limit = Duration::from_millis(ms) * SILENT_PINGS;
                        }
                        announce(forwarder, endpoint, secret, &endpoint_id, &s, &api_version, &enabled_events);
                        *endpoint = Some(endpoint_id);
                        *secret = Some(s);
                        *ready = true;
                    }
                    Ok(FromServer::Delivery { seq, headers, body }) => {
                        let forwarder = forwarder.clone();
                        let done = done_tx.clone();
                        tokio::spawn(async move {
                            let frame = forwarder.forward(seq, headers, body).await;
                            let _ = done.send(frame).await;
                        });
                    }
                    Err(e) => eprintln!("ignoring a frame this CLI does not understand: {e}"),
                }
            }
        }
    }
}

/// Prints what the developer needs: the secret and `Ready!` on the first
/// connection; after a reconnect, only what changed.
fn announce(
    forwarder: &Forwarder,
    previous: &Option<String>,
    previous_secret: &Option<String>,
    id: &str,
    secret: &str,
    api_version: &str,
    events: &[String],
) {
    let mut out = std::io::stdout().lock();
    if previous.as_deref() == Some(id) && previous_secret.as_deref() == Some(secret) {
        let _ = writeln!(out, "Reconnected.");
        let _ = out.flush();
        return;
    }
    if previous.as_deref() == Some(id) {
        let _ = writeln!(
            out,
            "Reconnected; the endpoint's signing secret has changed."
        );
    }
    let events = if forwarder.every_event {
        format!("every event type ({})", events.len())
    } else {
        events.join(", ")
    };
    let _ = writeln!(
        out,
        "Endpoint {id} (API version {api_version}) receives: {events}"
    );
    let _ = writeln!(out, "Signing secret: {secret}");
    let _ = writeln!(out, "Forwarding to {}", forwarder.url);
    let _ = writeln!(out, "Ready! (Ctrl-C to quit)");
    let _ = out.flush();
}

/// Posts deliveries to the local URL.
#[derive(Clone)]
struct Forwarder {
    local: reqwest::Client,
    url: reqwest::Url,
    /// No `--events`: the endpoint takes every event type.
    every_event: bool,
}

impl Forwarder {
    /// Forwards one delivery; prints its line and returns the result frame.
    async fn forward(&self, seq: u64, headers: Vec<(String, String)>, body: String) -> String {
        let (kind, id) = describe(&body);
        let mut req = self.local.post(self.url.clone());
        for (k, v) in &headers {
            if !HOP_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                req = req.header(k, v);
            }
        }
        let started = Instant::now();
        let answer = match req.body(body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers: Vec<(String, String)> = resp
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                    .collect();
                let bytes = resp.bytes().await.unwrap_or_default();
                let body = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BODY)]);
                Ok((status, headers, body.into_owned()))
            }
            Err(e) => Err(e),
        };
        let ms = started.elapsed().as_millis();
        let now = now_utc();
        match answer {
            Ok((status, headers, body)) => {
                println!("{now}  {kind}  {id}  [{status}]  {ms} ms");
                json!({"type": "result", "seq": seq, "status": status, "headers": headers, "body": body})
                    .to_string()
            }
            Err(e) => {
                let why = reqwest_reason(&e);
                println!("{now}  {kind}  {id}  [ERR {why}]  {ms} ms");
                json!({"type": "result", "seq": seq, "error": why}).to_string()
            }
        }
    }
}

/// A delivery's event type and id, from its body.
fn describe(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| v[*k].as_str())
            .unwrap_or("?")
            .to_owned()
    };
    (pick(&["eventType", "type"]), pick(&["eventId", "id"]))
}

/// Why the local URL was not reached, briefly.
fn reqwest_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// The time now, `YYYY-MM-DD HH:MM:SS` UTC.
fn now_utc() -> String {
    use hookrelay_core::time::Clock;
    let t = hookrelay_core::time::SystemClock.now().to_rfc3339();
    format!("{} {}", &t[..10], &t[11..19])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;

    fn forwarder() -> Forwarder {
        Forwarder {
            local: reqwest::Client::new(),
            url: reqwest::Url::parse("http://127.0.0.1:9/").unwrap(),
            every_event: true,
        }
    }

    /// A session over an in-memory pipe, and the server's end of it.
    async fn pair() -> (Ws, WebSocketStream<tokio::io::DuplexStream>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let client: Box<dyn Io> = Box::new(client);
        (
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
            WebSocketStream::from_raw_socket(server, Role::Server, None).await,
        )
    }

    /// Runs a session until it ends; how it ended and whether it got ready.
    async fn run_session(ws: Ws) -> (Ended, bool) {
        let quit = std::future::pending::<()>();
        tokio::pin!(quit);
        let (mut endpoint, mut secret, mut ready) = (None, None, false);
        let ended = session(
            ws,
            &forwarder(),
            &mut endpoint,
            &mut secret,
            &mut ready,
            quit.as_mut(),
        )
        .await;
        (ended, ready)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_a_lost_connection_and_pings_keep_it() {
        let (ws, mut server) = pair().await;
        let started = tokio::time::Instant::now();
        let pinger = tokio::spawn(async move {
            // Pings for a while (each answered by the client), then silence.
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(15)).await;
                server.send(Message::Ping(Vec::new().into())).await.unwrap();
                assert!(matches!(server.next().await, Some(Ok(Message::Pong(_)))));
            }
            server
        });
        let (ended, ready) = run_session(ws).await;
        let Ended::Lost(why) = ended else {
            panic!("expected a lost connection")
        };
        assert!(why.contains("nothing heard"), "{why}");
        assert!(!ready, "no ready frame came");
        // The last ping came at 60 s; the session gave up three intervals
        // of the default 15 s later.
        assert_eq!(started.elapsed().as_secs(), 60 + 45);
        drop(pinger.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_ping_interval_sets_the_silence_limit() {
        let (ws, mut server) = pair().await;
        let frame = json!({"type": "ready", "endpointId": "webhook_endpoint_1",
            "secret": "wss_x", "apiVersion": "2026-02-09", "enabledEvents": [],
            "pingIntervalMs": 1000});
        server.send(Message::text(frame.to_string())).await.unwrap();
        let started = tokio::time::Instant::now();
        let (ended, ready) = run_session(ws).await;
        assert!(matches!(ended, Ended::Lost(_)));
        assert!(ready);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        drop(server);
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_close_codes_say_what_happened() {
        for (code, removed) in [(CLOSE_ENDPOINT_GONE, true), (CLOSE_KEY_REVOKED, false)] {
            let (ws, mut server) = pair().await;
            server
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: "".into(),
                })))
                .await
                .unwrap();
            let (ended, ready) = run_session(ws).await;
            assert!(!ready);
            match ended {
                Ended::Removed => assert!(removed, "{code}"),
                Ended::Revoked => assert!(!removed, "{code}"),
                _ => panic!("close {code} was not understood"),
            }
        }
    }

    #[test]
    fn a_delivery_is_described_by_its_type_and_id() {
        let extend = r#"{"eventId":"evt_1","eventType":"file.processed","payload":{}}"#;
        assert_eq!(describe(extend), ("file.processed".into(), "evt_1".into()));
        let other = r#"{"id":"msg_1","type":"invoice.paid"}"#;
        assert_eq!(describe(other), ("invoice.paid".into(), "msg_1".into()));
        assert_eq!(describe("not json"), ("?".into(), "?".into()));
    }
}
