//! The bench's HTTP clients: hyper-util's pooled keep-alive client over plain
//! HTTP/1.1 with a small `send` helper that always reads the whole response
//! body (so the connection goes back to the pool), and [`Conns`], the
//! per-worker connections the closed-loop load generator drives in its own
//! task.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::http::uri::Authority;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// A pooled HTTP/1.1 client (keep-alive, `TCP_NODELAY`).
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A client that keeps up to `max_idle` idle connections per host.
pub fn client(max_idle: usize) -> Client {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.set_connect_timeout(Some(Duration::from_secs(5)));
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(max_idle)
        .pool_idle_timeout(Duration::from_secs(60))
        .build(conn)
}

/// Sends one request and reads the whole answer.
pub async fn send(
    client: &Client,
    method: Method,
    uri: Uri,
    auth: Option<&HeaderValue>,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut req = Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a.clone());
    }
    let req = req.body(Full::new(body)).context("building a request")?;
    request(client, req).await
}

/// Sends a request and reads the whole answer.
pub async fn request(
    client: &Client,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let resp = client.request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// `GET url`, failing on anything but a 2xx.
pub async fn get_ok(client: &Client, url: &str) -> anyhow::Result<Bytes> {
    let uri: Uri = url.parse().with_context(|| format!("parsing {url}"))?;
    let (status, body) = send(client, Method::GET, uri, None, Bytes::new()).await?;
    anyhow::ensure!(
        status.is_success(),
        "GET {url}: {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body)
}

/// A worker's own HTTP/1.1 keep-alive connections, one per authority, each
/// driven inside the worker's task.
///
/// The pooled [`Client`] runs every connection in a task of its own and
/// hands each request to it through a channel: two tasks and two wake-ups
/// per request. A closed-loop worker sends one request at a time, so it can
/// poll its connection itself while it waits for the answer; that halves the
/// load generator's scheduling work and is what lets the raw limit measure
/// the receiver rather than the client.
#[derive(Default)]
pub struct Conns {
    open: Vec<(Authority, Conn)>,
}

struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Pin<Box<http1::Connection<TokioIo<TcpStream>, Full<Bytes>>>>,
}

impl Conns {
    /// Sends one request on this worker's connection to `uri`'s authority
    /// (opening it if needed) and reads the whole answer. After an error the
    /// connection is dropped and the next request opens a new one.
    pub async fn send(
        &mut self,
        method: Method,
        uri: &Uri,
        auth: Option<&HeaderValue>,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let authority = uri.authority().context("the URI has no authority")?.clone();
        let at = match self.open.iter().position(|(a, _)| *a == authority) {
            Some(i) => i,
            None => {
                let conn = Conn::open(&authority).await?;
                self.open.push((authority.clone(), conn));
                self.open.len() - 1
            }
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, HeaderValue::from_str(authority.as_str())?);
        if !body.is_empty() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        let req = req.body(Full::new(body)).context("building a request")?;
        let r = self.open[at].1.exchange(req).await;
        if r.is_err() {
            self.open.swap_remove(at);
        }
        r
    }
}

impl Conn {
    async fn open(authority: &Authority) -> anyhow::Result<Self> {
        let addr = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        let stream = TcpStream::connect(&addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await?;
        Ok(Self {
            sender,
            driver: Box::pin(driver),
        })
    }

    async fn exchange(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)> {
        let Self { sender, driver } = self;
        drive(driver, sender.ready()).await??;
        let resp = drive(driver, sender.send_request(req)).await??;
        let status = resp.status();
        let body = drive(driver, resp.into_body().collect()).await??.to_bytes();
        Ok((status, body))
    }
}

/// Polls `fut` to completion while also polling the connection that serves
/// it; fails if the connection ends first.
async fn drive<F: Future>(
    driver: &mut Pin<Box<http1::Connection<TokioIo<TcpStream>, Full<Bytes>>>>,
    fut: F,
) -> anyhow::Result<F::Output> {
    tokio::pin!(fut);
    tokio::select! {
        biased;
        out = &mut fut => Ok(out),
        end = driver.as_mut() => match end {
            Ok(()) => anyhow::bail!("the server closed the connection"),
            Err(e) => Err(e).context("connection failed"),
        },
    }
}
