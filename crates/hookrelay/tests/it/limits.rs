//! API limits through the real server: header-read, idle and body-read
//! timeouts, the connection cap, the shutdown deadline, and the request
//! rate limit per key and per client address.
//!
//! Timing: every wait for something to happen polls with a generous
//! deadline; where a test shows that something does *not* happen, it waits
//! a bounded time and only lower bounds depend on the server being prompt.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Backend, TestServer, ADMIN, KEY};

/// How long the server may take, beyond a timeout, to act on it: generous,
/// for a slow shared CI machine.
const SLACK: Duration = Duration::from_secs(4);

/// A little under a timeout of 1 s (timers are millisecond-grained).
const ALMOST_1S: Duration = Duration::from_millis(900);

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.url.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// One response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Reads one response head (and its `Content-Length` body) within `within`;
/// `None` if the connection closed first.
async fn read_response(stream: &mut TcpStream, within: Duration) -> Option<RawResponse> {
    tokio::time::timeout(within, async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = std::str::from_utf8(&buf[..head_end]).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let mut headers = HeaderMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(':').unwrap();
            headers.append(
                axum::http::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                v.trim().parse().unwrap(),
            );
        }
        let len: usize = headers
            .get("content-length")
            .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        Some(RawResponse {
            status: status.parse().unwrap(),
            headers,
            body,
        })
    })
    .await
    .unwrap_or_else(|_| panic!("no response within {within:?}"))
}

/// Sends a whole `GET /healthz` and reads its answer.
async fn healthz(stream: &mut TcpStream) -> RawResponse {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    read_response(stream, SLACK).await.expect("connection open")
}

/// Waits until the server closes `stream` (end of stream or reset), at most
/// `within`; returns how long that took.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    tokio::time::timeout(within, async {
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the connection open for {within:?}"));
    start.elapsed()
}

/// Asserts that the server neither closes nor answers on `stream` for `d`.
async fn stays_quiet_for(stream: &mut TcpStream, d: Duration) {
    let mut byte = [0u8; 1];
    if let Ok(r) = tokio::time::timeout(d, stream.read(&mut byte)).await {
        panic!("expected nothing for {d:?}, got {r:?}");
    }
}

#[tokio::test]
async fn sqlite_slow_request_heads_are_closed_after_the_header_timeout() {
    slow_request_heads_are_closed_after_the_header_timeout(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_slow_request_heads_are_closed_after_the_header_timeout() {
    slow_request_heads_are_closed_after_the_header_timeout(Backend::Postgres).await;
}

async fn slow_request_heads_are_closed_after_the_header_timeout(backend: Backend) {
    let Some(s) = TestServer::on(backend, |c| c.header_read_timeout = Duration::from_secs(1)).await
    else {
        return;
    };
    let start = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut c = connect(&s).await;
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(c);
    }
    // Meanwhile the server serves everyone else.
    let (status, v, _) = s.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for c in &mut slow {
        closed_within(c, Duration::from_secs(1) + SLACK).await;
    }
    assert!(start.elapsed() >= ALMOST_1S, "not before the timeout");
}

#[tokio::test]
async fn a_later_request_head_has_the_header_timeout_from_its_first_byte() {
    let s = TestServer::start_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let mut c = connect(&s).await;
    assert_eq!(healthz(&mut c).await.status, 200);
    // Idle between requests is the idle timeout's business, not the
    // header timeout's (hyper's own header timeout would close it now).
    stays_quiet_for(&mut c, Duration::from_millis(1500)).await;
    assert_eq!(healthz(&mut c).await.status, 200, "still open");
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut c, Duration::from_secs(1) + SLACK).await;
    assert!(took >= ALMOST_1S, "closed after {took:?}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_are_not() {
    let idle = Duration::from_secs(2);
    let s = TestServer::start_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.idle_timeout = idle;
    })
    .await;
    let mut c = connect(&s).await;
    // Requests 100 ms apart for longer than the idle timeout, on one
    // connection: each answer starts the idle time again.
    let start = Instant::now();
    let mut served = 0;
    while start.elapsed() < idle + Duration::from_secs(1) {
        assert_eq!(healthz(&mut c).await.status, 200, "request {served}");
        served += 1;
        // The pause between requests is what is under test.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served > 5);
    let took = closed_within(&mut c, idle + SLACK).await;
    // At least the idle timeout (less the pause after the last answer),
    // which is longer than the header timeout.
    assert!(took >= Duration::from_millis(1700), "closed after {took:?}");
}

#[tokio::test]
async fn a_slow_body_gets_408_request_timeout() {
    let s = TestServer::start_with(|c| c.body_read_timeout = Duration::from_secs(1)).await;
    let mut c = connect(&s).await;
    let start = Instant::now();
    c.write_all(
        format!(
            "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"eventType\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let resp = read_response(&mut c, Duration::from_secs(1) + SLACK)
        .await
        .expect("an answer");
    assert!(start.elapsed() >= ALMOST_1S);
    assert_eq!(resp.status, 408);
    let v = resp.json();
    assert_eq!(v["code"], "request_timeout", "{v}");
    assert_eq!(v["retryable"], true);
    assert_eq!(
        v["requestId"].as_str().unwrap(),
        resp.headers["x-request-id"].to_str().unwrap()
    );
    // The rest of the body never came: the connection is not reused.
    closed_within(&mut c, SLACK).await;
    let (status, _) = s.get("/events").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn at_the_connection_limit_new_clients_wait_until_one_closes() {
    let s = TestServer::start_with(|c| c.max_connections = 2).await;
    let mut a = connect(&s).await;
    let mut b = connect(&s).await;
    assert_eq!(healthz(&mut a).await.status, 200);
    assert_eq!(healthz(&mut b).await.status, 200);
    let mut third = connect(&s).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    stays_quiet_for(&mut third, Duration::from_millis(700)).await;
    drop(a);
    let resp = read_response(&mut third, SLACK)
        .await
        .expect("served once a slot is free");
    assert_eq!(resp.status, 200);
    assert_eq!(healthz(&mut b).await.status, 200, "b was never dropped");
}

#[tokio::test]
async fn shutdown_drops_connections_still_busy_after_the_deadline() {
    let s = TestServer::start_with(|c| {
        c.shutdown_timeout = Duration::from_secs(1);
        c.body_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut idle = connect(&s).await;
    assert_eq!(healthz(&mut idle).await.status, 200);
    let mut busy = connect(&s).await;
    busy.write_all(
        format!(
            "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
             Expect: 100-continue\r\nContent-Length: 100\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // hyper asks for the body once the handler reads it: the request is in
    // flight from here on.
    let cont = read_response(&mut busy, SLACK).await.expect("100 Continue");
    assert_eq!(cont.status, 100);
    busy.write_all(b"{\"eventType\"").await.unwrap();

    let start = Instant::now();
    s.shutdown().await;
    let took = start.elapsed();
    assert!(
        took >= ALMOST_1S,
        "waited for the busy connection: {took:?}"
    );
    assert!(took < Duration::from_secs(1) + SLACK, "took {took:?}");
    closed_within(&mut busy, SLACK).await;
    closed_within(&mut idle, SLACK).await;
}

/// A request with `key` (or none) on a reqwest client of its own.
async fn call(s: &TestServer, path: &str, key: Option<&str>) -> (StatusCode, Value, HeaderMap) {
    s.request(Method::GET, path, key, None).await
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
        .to_str()
        .unwrap()
}

/// Repeats `send` until it is refused with 429 (at most 20 times: at 1
/// request/s with a burst of 2, only a test thread stalled for many
/// seconds would see that many pass); returns the refusal and the statuses
/// before it.
async fn until_refused<F, Fut>(mut send: F) -> ((StatusCode, Value, HeaderMap), Vec<StatusCode>)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value, HeaderMap)>,
{
    let mut before = Vec::new();
    for i in 0..20 {
        let r = send(i).await;
        if r.0 == StatusCode::TOO_MANY_REQUESTS {
            return (r, before);
        }
        before.push(r.0);
    }
    panic!("never refused; got {before:?}");
}

fn assert_rate_limited(r: &(StatusCode, Value, HeaderMap)) {
    let (status, v, h) = r;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(v["code"], "rate_limited", "{v}");
    assert_eq!(v["retryable"], true);
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(v["requestId"].as_str().unwrap(), header(h, "x-request-id"));
    assert_eq!(header(h, "retry-after"), "1", "one request back within 1 s");
    assert_eq!(header(h, "ratelimit-limit"), "2");
    assert_eq!(header(h, "ratelimit-remaining"), "0");
    let reset: u64 = header(h, "ratelimit-reset").parse().unwrap();
    assert!((1..=2).contains(&reset), "reset {reset}");
}

#[tokio::test]
async fn requests_over_a_keys_rate_get_429_and_other_keys_are_not_affected() {
    let s = TestServer::start_with(|c| {
        c.api_rate_limit = 1;
        c.api_rate_burst = 2;
    })
    .await;
    // A second key of the workspace, made with the admin key (its own bucket).
    let resp = s
        .http
        .post(format!("{}/api_keys", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", &s.workspace_id)
        .json(&json!({"name": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let other: Value = resp.json().await.unwrap();
    let other = other["key"].as_str().unwrap().to_owned();

    let (status, v, h) = call(&s, "/webhook_endpoints", Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        header(&h, "ratelimit-limit"),
        "2",
        "successes carry them too"
    );
    assert_eq!(header(&h, "ratelimit-remaining"), "1");
    assert_eq!(header(&h, "ratelimit-reset"), "1");

    let (refused, before) = until_refused(|_| call(&s, "/webhook_endpoints", Some(KEY))).await;
    assert_rate_limited(&refused);
    assert!(before.iter().all(|s| *s == StatusCode::OK), "{before:?}");

    let (status, v, h) = call(&s, "/webhook_endpoints", Some(&other)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another key has its own bucket: {v}"
    );
    assert_eq!(header(&h, "ratelimit-remaining"), "1");

    // The org admin key is limited like any key.
    let admin = |_| async {
        let resp = s
            .http
            .get(format!("{}/webhook_endpoints", s.url))
            .bearer_auth(ADMIN)
            .header("x-extend-workspace-id", &s.workspace_id)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let h = crate::support::convert_headers(resp.headers());
        (status, resp.json::<Value>().await.unwrap(), h)
    };
    let (refused, _) = until_refused(admin).await;
    assert_rate_limited(&refused);
}

#[tokio::test]
async fn clients_without_a_valid_key_are_limited_per_address_whatever_key_they_send() {
    let s = TestServer::start_with(|c| {
        c.api_rate_limit = 1;
        c.api_rate_burst = 2;
    })
    .await;
    // A new made-up key every time: each is refused 401 until the address
    // has used its bucket, then 429 — made-up keys get no buckets of their own.
    let server = &s;
    let (refused, before) = until_refused(|i| {
        let key = format!("sk_made_up_{i}_{}", ulid::Ulid::new());
        async move { call(server, "/webhook_endpoints", Some(&key)).await }
    })
    .await;
    assert_rate_limited(&refused);
    assert!(
        before.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{before:?}"
    );
    // Public routes, unknown routes and requests without a key draw from the
    // same address bucket.
    assert_rate_limited(&until_refused(|_| call(&s, "/healthz", None)).await.0);
    assert_rate_limited(&until_refused(|_| call(&s, "/no/such/route", None)).await.0);
    assert_rate_limited(
        &until_refused(|_| call(&s, "/webhook_endpoints", None))
            .await
            .0,
    );
    // A valid key from the same address has a bucket of its own.
    let (status, v, h) = call(&s, "/webhook_endpoints", Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(header(&h, "ratelimit-remaining"), "1");
}

#[tokio::test]
async fn without_a_rate_limit_there_are_no_ratelimit_headers() {
    let s = TestServer::start_with(|c| c.api_rate_limit = 0).await;
    for _ in 0..5 {
        let (status, _, h) = call(&s, "/webhook_endpoints", Some(KEY)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(h.get("ratelimit-limit").is_none(), "{h:?}");
    }
}
