//! One HTTP attempt: build the signed request for an endpoint, send it with a
//! timeout and no redirects, and describe what happened as an [`Attempt`].

use std::error::Error as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookrelay_core::model::{Attempt, Endpoint, ErrorKind, SignatureScheme};
use hookrelay_core::retry::parse_retry_after;
use hookrelay_core::time::Timestamp;
use hookrelay_webhooks::signing;

use crate::guard::{is_blocked, Blocked, GuardedResolver};

/// The most response body kept in history.
pub const MAX_RESPONSE_BODY: usize = 16 * 1024;

/// Builds the shared HTTP client: pooled keep-alive connections, rustls, no
/// redirects, and the destination guard as resolver.
pub fn build_client(allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(GuardedResolver { allow_private }))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("the HTTP client configuration is valid")
}

/// The signature headers for one attempt of `body` at `ts` (unix seconds).
pub fn signature_headers(
    endpoint: &Endpoint,
    event_id: &str,
    ts: i64,
    body: &[u8],
    now: Timestamp,
) -> Vec<(&'static str, String)> {
    let secrets = endpoint
        .secrets
        .signing_secrets(endpoint.signature_scheme, now);
    match endpoint.signature_scheme {
        SignatureScheme::Extend => vec![
            (signing::EXTEND_TIMESTAMP_HEADER, ts.to_string()),
            (
                signing::EXTEND_SIGNATURE_HEADER,
                signing::extend_signature(secrets[0].expose(), ts, body),
            ),
        ],
        SignatureScheme::StandardWebhooks => {
            let sigs: Vec<String> = secrets
                .iter()
                .filter_map(|s| signing::StandardSecret::parse(s.expose()).ok())
                .map(|s| signing::standard_signature(&s, event_id, ts, body))
                .collect();
            vec![
                (signing::STANDARD_ID_HEADER, event_id.to_owned()),
                (signing::STANDARD_TIMESTAMP_HEADER, ts.to_string()),
                (signing::STANDARD_SIGNATURE_HEADER, sigs.join(" ")),
            ]
        }
        SignatureScheme::BodyHmac => vec![(
            signing::BODY_HMAC_SIGNATURE_HEADER,
            signing::body_hmac_signature(secrets[0].expose(), body),
        )],
    }
}

/// The result of one attempt plus what the scheduler needs from it.
#[derive(Debug)]
pub struct Sent {
    pub attempt: Attempt,
    /// Seconds the receiver asked us to wait (`Retry-After`), if it did.
    pub retry_after: Option<u64>,
}

/// How attempts are sent.
#[derive(Debug, Clone, Copy)]
pub struct SendSettings<'a> {
    pub timeout: Duration,
    pub allow_private: bool,
    pub user_agent: &'a str,
}

/// Sends one attempt. `now` is the attempt's start (for the timestamp header).
pub async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    event_id: &str,
    body: Bytes,
    now: Timestamp,
    settings: SendSettings<'_>,
) -> Sent {
    let SendSettings {
        timeout,
        allow_private,
        user_agent,
    } = settings;
    let ts = now.secs();
    let mut headers: Vec<(String, String)> = Vec::with_capacity(8);
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("user-agent".into(), user_agent.to_owned()));
    for (k, v) in signature_headers(endpoint, event_id, ts, &body, now) {
        headers.push((k.to_owned(), v));
    }
    if let Some(custom) = &endpoint.advanced_options.headers {
        for (k, v) in custom {
            // HTTP/1 sends names in lower case; record them as sent.
            headers.push((k.to_ascii_lowercase(), v.clone()));
        }
    }
    let started = Instant::now();
    let mut attempt = Attempt {
        attempt_number: 0,
        started_at: now,
        duration_ms: 0,
        request_url: endpoint.url.clone(),
        request_headers: headers.clone(),
        response_status: None,
        response_headers: Vec::new(),
        response_body: None,
        error_kind: None,
        error_message: None,
    };

    // IP literals never reach the resolver, so check them here.
    if !allow_private {
        if let Some(ip) = literal_ip(&endpoint.url) {
            if is_blocked(ip) {
                attempt.error_kind = Some(ErrorKind::BlockedDestination);
                attempt.error_message = Some(Blocked(ip).to_string());
                return Sent {
                    attempt,
                    retry_after: None,
                };
            }
        }
    }

    let mut req = client.post(&endpoint.url).timeout(timeout).body(body);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut retry_after = None;
    match req.send().await {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            attempt.response_status = Some(status);
            attempt.response_headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            let mut buf: Vec<u8> = Vec::new();
            let deadline = tokio::time::Instant::from_std(started + timeout);
            // A body that fails or never ends after the status line does not
            // change the verdict: the status decides.
            while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
                let room = MAX_RESPONSE_BODY - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if buf.len() >= MAX_RESPONSE_BODY {
                    break;
                }
            }
            if !buf.is_empty() {
                attempt.response_body = Some(String::from_utf8_lossy(&buf).into_owned());
            }
            if !(200..300).contains(&status) {
                attempt.error_kind = Some(ErrorKind::HttpStatus);
                attempt.error_message = Some(format!("the endpoint answered {status}"));
            }
        }
        Err(e) => {
            let (kind, msg) = classify(&e);
            attempt.error_kind = Some(kind);
            attempt.error_message = Some(msg);
        }
    }
    attempt.duration_ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
    Sent {
        attempt,
        retry_after,
    }
}

fn literal_ip(url: &str) -> Option<IpAddr> {
    let u = url::Url::parse(url).ok()?;
    match u.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Sorts a client error into an [`ErrorKind`] with a readable message.
fn classify(e: &reqwest::Error) -> (ErrorKind, String) {
    let mut chain = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = src {
        if s.downcast_ref::<Blocked>().is_some() {
            return (ErrorKind::BlockedDestination, s.to_string());
        }
        chain.push(s.to_string());
        src = s.source();
    }
    let detail = if chain.is_empty() {
        e.to_string()
    } else {
        chain.join(": ")
    };
    let lower = detail.to_ascii_lowercase();
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        ErrorKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        ErrorKind::Tls
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Io
    };
    let msg = match kind {
        ErrorKind::Timeout => "the endpoint did not answer within the timeout".to_owned(),
        _ => detail,
    };
    (kind, msg)
}
