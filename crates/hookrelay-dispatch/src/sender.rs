//! One HTTP attempt: build the signed request for an endpoint, send it with a
//! timeout and no redirects, and describe what happened as an [`Attempt`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookrelay_core::model::{Attempt, Endpoint, ErrorKind, SignatureScheme};
use hookrelay_core::retry::parse_retry_after;
use hookrelay_core::time::Timestamp;
use hookrelay_webhooks::signing;

use crate::client::{Client, SendError};

/// The most response body kept in history.
pub const MAX_RESPONSE_BODY: usize = 16 * 1024;

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
            attempt.response_headers = a
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
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
