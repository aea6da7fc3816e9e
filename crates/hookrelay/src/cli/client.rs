//! A thin typed client of the HTTP API: requests with the workspace key,
//! answers as JSON, and the API's error body turned into an error that says
//! what the server said.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::Conn;

/// How long one request may take; recovery and batches of 1,000 events
/// are the slowest.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The server answered with an error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, HTTP {}",
            self.message,
            self.code,
            self.status.as_u16()
        )?;
        if let Some(id) = &self.request_id {
            write!(f, ", request {id}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for ApiError {}

/// A connection to one server with one key.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    key: String,
}

impl Client {
    pub fn new(conn: &Conn) -> anyhow::Result<Client> {
        let mut base = Url::parse(&conn.url)
            .with_context(|| format!("the API URL {:?} is not a URL", conn.url))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("the API URL must be http:// or https://, not {}", conn.url);
        }
        // Paths are appended as segments: the base must end in a directory.
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("hookrelay-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base,
            key: conn.key.clone(),
        })
    }

    /// The URL of `segments` under the base, each percent-encoded (an id
    /// typed by a user cannot reach another route).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("http(s) URLs have a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(Method::GET, segments, query, None, None).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::POST, segments, &[], Some(body), None)
            .await
    }

    /// A POST with an `Idempotency-Key` header.
    pub async fn post_idempotent(
        &self,
        segments: &[&str],
        body: &Value,
        key: Option<&str>,
    ) -> anyhow::Result<Value> {
        self.send(Method::POST, segments, &[], Some(body), key)
            .await
    }

    pub async fn delete(&self, segments: &[&str]) -> anyhow::Result<Value> {
        self.send(Method::DELETE, segments, &[], None, None).await
    }

    /// A list route's page, or every page (`all`) as one list.
    pub async fn list(
        &self,
        segments: &[&str],
        mut query: Vec<(&str, String)>,
        all: bool,
    ) -> anyhow::Result<Value> {
        let mut page = self.get(segments, &query).await?;
        if !all {
            return Ok(page);
        }
        let mut data = take_data(&mut page);
        while let Some(token) = page["nextPageToken"].as_str().map(str::to_owned) {
            query.retain(|(k, _)| *k != "nextPageToken");
            query.push(("nextPageToken", token));
            page = self.get(segments, &query).await?;
            data.extend(take_data(&mut page));
        }
        page["data"] = Value::Array(data);
        page["nextPageToken"] = Value::Null;
        Ok(page)
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Value> {
        let url = self.url(segments);
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(&self.key);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {method} {}", url.path()))?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return json.with_context(|| {
                format!("{method} {} answered {status} without JSON", url.path())
            });
        }
        let err = match json {
            Some(Value::Object(o)) if o.contains_key("message") => ApiError {
                status,
                code: o
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_owned(),
                message: o
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                request_id: o
                    .get("requestId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or(request_id),
            },
            _ => ApiError {
                status,
                code: "http_error".into(),
                message: format!(
                    "{method} {} answered {status}: {}",
                    url.path(),
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
                ),
                request_id,
            },
        };
        Err(err.into())
    }
}

fn take_data(page: &mut Value) -> Vec<Value> {
    match page["data"].take() {
        Value::Array(v) => v,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        Client::new(&Conn {
            url: url.into(),
            key: "k".into(),
            json: false,
        })
        .unwrap()
    }

    #[test]
    fn ids_are_one_path_segment_each() {
        let c = client("http://127.0.0.1:8080");
        assert_eq!(
            c.url(&["webhook_endpoints", "../api_keys?x=1"]).as_str(),
            "http://127.0.0.1:8080/webhook_endpoints/..%2Fapi_keys%3Fx=1"
        );
    }

    #[test]
    fn a_base_with_a_path_keeps_it() {
        let c = client("https://example.test/hookrelay");
        assert_eq!(
            c.url(&["events", "evt_1"]).as_str(),
            "https://example.test/hookrelay/events/evt_1"
        );
        let c = client("https://example.test/hookrelay/");
        assert_eq!(
            c.url(&["events"]).as_str(),
            "https://example.test/hookrelay/events"
        );
    }

    #[test]
    fn errors_read_like_the_api_said_them() {
        let e = ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found".into(),
            message: "webhook endpoint we_1 not found".into(),
            request_id: Some("req_1".into()),
        };
        assert_eq!(
            e.to_string(),
            "webhook endpoint we_1 not found (not_found, HTTP 404, request req_1)"
        );
    }

    #[test]
    fn the_base_must_be_http() {
        let err = Client::new(&Conn {
            url: "ftp://x".into(),
            key: "k".into(),
            json: false,
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
