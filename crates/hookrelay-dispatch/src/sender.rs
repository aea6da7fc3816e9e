//! One HTTP attempt: build the signed request for an endpoint, send it with a
//! timeout and no redirects, and describe what happened as an [`Attempt`];
//! and `Transport`, where the scheduler's attempts go (this sender, or a
//! fake in the scheduler's unit tests).

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookrelay_core::model::{Attempt, Endpoint, ErrorKind, SignatureScheme};
use hookrelay_core::retry::parse_retry_after;
use hookrelay_core::time::Timestamp;
use hookrelay_webhooks::signing;

use crate::client::{Client, SendError};

/// The most response body kept in history.
pub const MAX_RESPONSE_BODY: usize = 16 * 1024;
/// The most response headers kept in history; later ones are dropped.
pub const MAX_RESPONSE_HEADERS: usize = 64;
/// The most bytes of response headers (names plus values) kept in history,
/// like the body's cap: a header that does not fit whole has its value cut
/// short to what is left, and the ones after it are dropped.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 16 * 1024;

/// What history shows in place of a custom header's value.
pub const REDACTED: &str = "***";

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
    pub user_agent: &'a str,
}

/// Where attempts go: the engine's HTTP client, or — in the scheduler's
/// unit tests, which run on paused time — a fake that answers as told. An
/// enum rather than a trait object so that the production path costs what
/// a direct call does (no boxed future per attempt).
pub(crate) enum Transport {
    /// `relay` carries the attempts of `hookrelay listen`'s temporary
    /// endpoints to the node holding the CLI's connection, whose address
    /// the destination guard would refuse (often loopback or private). Only
    /// the server sets those endpoints' URLs, so the guard has nothing to
    /// protect there.
    Http { client: Client, relay: Client },
    #[cfg(test)]
    Fake(std::sync::Arc<dyn FakeSend>),
}

impl Transport {
    /// Sends one attempt (see [`send`]).
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        event_id: &str,
        body: Bytes,
        now: Timestamp,
        settings: SendSettings<'_>,
    ) -> Sent {
        match self {
            Self::Http { client, relay } => {
                let via = if endpoint.is_listen() { relay } else { client };
                send(via, endpoint, event_id, body, now, settings).await
            }
            #[cfg(test)]
            Self::Fake(fake) => fake.send(endpoint, event_id, body, now).await,
        }
    }
}

/// What stands in for the HTTP client in the scheduler's unit tests.
#[cfg(test)]
pub(crate) trait FakeSend: Send + Sync + 'static {
    fn send(
        &self,
        endpoint: &Endpoint,
        event_id: &str,
        body: Bytes,
        now: Timestamp,
    ) -> futures::future::BoxFuture<'static, Sent>;
}

/// Sends one attempt. `now` is the attempt's start (for the timestamp header).
pub async fn send(
    client: &Client,
    endpoint: &Endpoint,
    event_id: &str,
    body: Bytes,
    now: Timestamp,
    settings: SendSettings<'_>,
) -> Sent {
    let SendSettings {
        timeout,
        user_agent,
    } = settings;
    let ts = now.secs();
    let mut headers: Vec<(String, String)> = Vec::with_capacity(8);
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("user-agent".into(), user_agent.to_owned()));
    for (k, v) in signature_headers(endpoint, event_id, ts, &body, now) {
        headers.push((k.to_owned(), v));
    }
    // History records custom headers by name only: their values are often
    // credentials of the receiver's, kept sealed at rest (see
    // `hookrelay_store::crypt`), so they must not reappear in attempts.
    let mut recorded = headers.clone();
    if let Some(custom) = &endpoint.advanced_options.headers {
        for (k, v) in custom {
            // HTTP/1 sends names in lower case; record them as sent.
            headers.push((k.to_ascii_lowercase(), v.clone()));
            recorded.push((k.to_ascii_lowercase(), REDACTED.to_owned()));
        }
    }
    let started = Instant::now();
    let mut attempt = Attempt {
        attempt_number: 0,
        started_at: now,
        duration_ms: 0,
        request_url: endpoint.url.to_string(),
        request_headers: recorded,
        response_status: None,
        response_headers: Vec::new(),
        response_body: None,
        error_kind: None,
        error_message: None,
    };

    let mut retry_after = None;
    let deadline = tokio::time::Instant::from_std(started + timeout);
    let answer = tokio::time::timeout_at(
        deadline,
        client.post(&endpoint.url, &headers, body, MAX_RESPONSE_BODY, deadline),
    )
    .await;
    match answer {
        Ok(Ok(a)) => {
            let status = a.status;
            attempt.response_status = Some(status);
            attempt.response_headers = recorded_headers(&a.headers);
            retry_after = a
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now));
            if !a.body.is_empty() {
                attempt.response_body = Some(String::from_utf8_lossy(&a.body).into_owned());
            }
            if !(200..300).contains(&status) {
                attempt.error_kind = Some(ErrorKind::HttpStatus);
                attempt.error_message = Some(format!("the endpoint answered {status}"));
            }
        }
        Ok(Err(e)) => {
            if let SendError::Blocked(b) = &e {
                // The tenant's history says only that the address is not
                // allowed; the operator's log says which one.
                let host = endpoint
                    .url
                    .parse::<http::Uri>()
                    .ok()
                    .and_then(|u| u.host().map(str::to_owned))
                    .unwrap_or_default();
                tracing::warn!(
                    endpoint = %endpoint.id,
                    host = %host,
                    address = %b.0,
                    "destination refused: not a global unicast address"
                );
            }
            let (kind, msg) = classify(e);
            attempt.error_kind = Some(kind);
            attempt.error_message = Some(msg);
        }
        Err(_) => {
            attempt.error_kind = Some(ErrorKind::Timeout);
            attempt.error_message =
                Some("the endpoint did not answer within the timeout".to_owned());
        }
    }
    attempt.duration_ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
    Sent {
        attempt,
        retry_after,
    }
}

/// The response headers to keep in history, within [`MAX_RESPONSE_HEADERS`]
/// and [`MAX_RESPONSE_HEADER_BYTES`] (a receiver decides how many and how
/// large they are, and history is stored for every attempt).
fn recorded_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(headers.len().min(MAX_RESPONSE_HEADERS));
    let mut left = MAX_RESPONSE_HEADER_BYTES;
    for (k, v) in headers.iter().take(MAX_RESPONSE_HEADERS) {
        let name = k.as_str();
        if name.len() >= left {
            break;
        }
        left -= name.len();
        let mut value = String::from_utf8_lossy(v.as_bytes()).into_owned();
        let cut = value.len() > left;
        if cut {
            let mut end = left;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        left -= value.len();
        out.push((name.to_owned(), value));
        if cut {
            break;
        }
    }
    out
}

/// Sorts a client error into an [`ErrorKind`] with a readable message.
fn classify(e: SendError) -> (ErrorKind, String) {
    let kind = match &e {
        SendError::Blocked(_) => ErrorKind::BlockedDestination,
        SendError::Dns(_) => ErrorKind::Dns,
        SendError::Tls(_) => ErrorKind::Tls,
        SendError::Connect(_) => ErrorKind::Connect,
        SendError::BadUrl(_) | SendError::Http(_) => ErrorKind::Io,
    };
    (kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(String, String)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn size(hs: &[(String, String)]) -> usize {
        hs.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    #[test]
    fn small_headers_are_kept_whole() {
        let pairs = vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("x-request-id".to_owned(), "abc".to_owned()),
        ];
        assert_eq!(recorded_headers(&map(&pairs)), pairs);
    }

    #[test]
    fn at_most_the_header_count_is_kept() {
        let pairs: Vec<(String, String)> = (0..MAX_RESPONSE_HEADERS + 10)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect();
        let kept = recorded_headers(&map(&pairs));
        assert_eq!(kept, pairs[..MAX_RESPONSE_HEADERS]);
    }

    #[test]
    fn headers_past_the_byte_cap_are_cut_then_dropped() {
        let pairs: Vec<(String, String)> = (0..10)
            .map(|i| (format!("x-big{i}"), "a".repeat(4000)))
            .collect();
        let kept = recorded_headers(&map(&pairs));
        assert_eq!(size(&kept), MAX_RESPONSE_HEADER_BYTES);
        assert_eq!(kept.len(), 5, "four whole, the fifth cut short");
        assert_eq!(kept[..4], pairs[..4]);
        assert!(kept[4].1.len() < 4000 && pairs[4].1.starts_with(&kept[4].1));
    }

    #[test]
    fn one_huge_header_is_cut_to_the_cap() {
        let pairs = vec![("set-cookie".to_owned(), "c".repeat(60_000))];
        let kept = recorded_headers(&map(&pairs));
        assert_eq!(size(&kept), MAX_RESPONSE_HEADER_BYTES);
    }
}
