//! The one HTTP client the bench uses: hyper-util's pooled keep-alive client
//! over plain HTTP/1.1, plus a small `send` helper that always reads the whole
//! response body (so the connection goes back to the pool).

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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
