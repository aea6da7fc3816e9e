//! Extractors: our JSON body (so malformed input gets our error format, and
//! a client trickling it gets a 408), our query string, and [`Ctx`], the
//! authenticated caller (whose key the rate limiter may have looked up
//! already).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use bytes::Bytes;
use hookrelay_core::ids::{ApiKeyId, WorkspaceId};
use hookrelay_core::model::CreatedBy;
use hookrelay_core::secret::ApiKeyHash;
use hookrelay_core::validate;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::AppState;

/// A JSON body. Any content type is accepted; the body must parse.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state.inner.config.max_body_bytes).await?;
        parse_json(&bytes).map(Json)
    }
}

/// How long a handler waits for a whole request body: a request extension
/// the router adds from [`crate::ApiConfig::body_read_timeout`].
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// Reads a whole body up to `limit` bytes (413 beyond), within the
/// request's [`BodyReadTimeout`] (408 after it), so a client trickling its
/// body cannot hold a handler forever.
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let timeout = req
        .extensions()
        .get::<BodyReadTimeout>()
        .map_or(crate::ApiConfig::default().body_read_timeout, |t| t.0);
    let body = req.into_body();
    let Ok(read) = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await else {
        return Err(ApiError::request_timeout(timeout));
    };
    match read {
        Ok(b) => Ok(b),
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                Err(ApiError::too_large(limit))
            } else {
                Err(ApiError::bad_request(
                    "invalid_body",
                    format!("could not read the body: {e}"),
                ))
            }
        }
    }
}

/// Parses a JSON request body into `T` with a 400 in our format on failure.
/// The body may nest at most [`validate::MAX_JSON_DEPTH`] arrays and objects
/// deep, raw values such as `payload` included.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    validate::json_nesting(bytes).map_err(|e| ApiError::bad_request("invalid_json", e.message))?;
    parse_measured_json(bytes)
}

/// [`parse_json`] for a part of a body `parse_json` already measured (a
/// batch item), so the depth scan runs once per body.
pub fn parse_measured_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body is empty; a JSON object is expected",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "invalid_json"
        } else {
            "invalid_request"
        };
        let msg = if code == "invalid_json" || path == "." {
            format!("{inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request(code, msg)
    })?;
    // Deserializing reads one value and stops; without this check anything
    // after it (`{…}, {…}`: a second event) would be silently dropped.
    de.end()
        .map_err(|e| ApiError::bad_request("invalid_json", format!("{e}")))?;
    Ok(value)
}

/// A query string, parsed into `T` with a 400 in our format on failure.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q).map(Query).map_err(|e| {
            ApiError::bad_request("invalid_request", format!("invalid query string: {e}"))
        })
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The org admin key.
    Admin,
    /// A workspace API key.
    Key {
        workspace_id: WorkspaceId,
        key_id: ApiKeyId,
        name: String,
    },
}

/// An authenticated caller acting in one workspace.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub workspace_id: WorkspaceId,
    pub created_by: CreatedBy,
    pub admin: bool,
}

/// An authenticated caller, workspace or not (for admin routes).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// Remembers key lookups for `KEY_CACHE_TTL` (revocation on this node
/// clears it at once).
#[derive(Debug, Default)]
pub struct KeyCache {
    map: Mutex<HashMap<ApiKeyHash, (WorkspaceId, ApiKeyId, String, Instant)>>,
}

/// How long a key lookup is remembered: requests with a key seen within it
/// skip the store. It also bounds how long a key revoked on another node
/// still works on this one.
const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

impl KeyCache {
    pub fn forget_all(&self) {
        self.map.lock().expect("key cache").clear();
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(v) = parts.headers.get("x-extend-api-version") {
        let v = v.to_str().unwrap_or("");
        if state.inner.catalog.version(v).is_none() {
            let known: Vec<&str> = state
                .inner
                .catalog
                .versions()
                .iter()
                .map(|v| v.name.as_str())
                .collect();
            return Err(ApiError::bad_request(
                "invalid_api_version",
                format!(
                    "x-extend-api-version {v:?} is not supported; use one of {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let known = match parts.extensions.get::<KeyCheck>() {
        Some(KeyCheck::Valid(p)) => Some(p.clone()),
        Some(KeyCheck::Invalid) => None,
        None => resolve_key(state, &ApiKeyHash::of(bearer_key(&parts.headers)?)).await?,
    };
    known.ok_or_else(|| ApiError::unauthorized("invalid API key"))
}

/// What the rate limiter already learnt of the request's key, so that the
/// extractors neither hash nor look it up again.
#[derive(Debug, Clone)]
pub(crate) enum KeyCheck {
    Valid(Principal),
    Invalid,
}

/// The key of an `Authorization: Bearer <key>` header (401 without one).
pub(crate) fn bearer_key(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized("missing Authorization header (expected `Bearer <api key>`)")
        })?;
    header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
        })
}

/// Who holds the key with this hash (`None`: nobody, or it was revoked):
/// the org admin key, a cached key, or a key in the store.
pub(crate) async fn resolve_key(
    state: &AppState,
    hash: &ApiKeyHash,
) -> Result<Option<Principal>, ApiError> {
    if let Some(admin) = &state.inner.config.admin_key_hash {
        if admin.ct_eq(hash) {
            return Ok(Some(Principal::Admin));
        }
    }
    if let Some((ws, key_id, name, at)) = state
        .inner
        .keys
        .map
        .lock()
        .expect("key cache")
        .get(hash)
        .cloned()
    {
        if at.elapsed() < KEY_CACHE_TTL {
            return Ok(Some(Principal::Key {
                workspace_id: ws,
                key_id,
                name,
            }));
        }
    }
    let rec = state.inner.store.find_api_key(hash).await?;
    match rec {
        Some(k) if k.revoked_at.is_none() && k.hash.ct_eq(hash) => {
            state.inner.keys.map.lock().expect("key cache").insert(
                *hash,
                (
                    k.workspace_id.clone(),
                    k.id.clone(),
                    k.name.clone(),
                    Instant::now(),
                ),
            );
            Ok(Some(Principal::Key {
                workspace_id: k.workspace_id,
                key_id: k.id,
                name: k.name,
            }))
        }
        _ => Ok(None),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(Caller)
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state).await?;
        let header = parts
            .headers
            .get("x-extend-workspace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match principal {
            Principal::Admin => {
                let id = header.ok_or_else(|| {
                    ApiError::bad_request(
                        "workspace_required",
                        "the org admin key must name a workspace with the x-extend-workspace-id header",
                    )
                })?;
                let ws = WorkspaceId::parse(&id).ok_or_else(|| ApiError::not_found("workspace"))?;
                if state.inner.store.get_workspace(&ws).await?.is_none() {
                    return Err(ApiError::not_found("workspace"));
                }
                Ok(Ctx {
                    workspace_id: ws,
                    created_by: CreatedBy {
                        kind: "api_key".into(),
                        name: "org admin key".into(),
                    },
                    admin: true,
                })
            }
            Principal::Key {
                workspace_id, name, ..
            } => {
                if let Some(h) = header {
                    if h != workspace_id.as_str() {
                        return Err(ApiError::not_found("workspace"));
                    }
                }
                Ok(Ctx {
                    workspace_id,
                    created_by: CreatedBy {
                        kind: "api_key".into(),
                        name,
                    },
                    admin: false,
                })
            }
        }
    }
}

/// A JSON body that may be empty (then `T::default()`).
#[derive(Debug)]
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state.inner.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Found by the event_intake fuzz target: `POST /events` accepted
    // `{…}, {…}` and published only the first event.
    #[test]
    fn anything_after_the_json_value_is_refused() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[allow(dead_code)]
            a: u32,
        }
        for body in [
            &br#"{"a": 1}, {"a": 2}"#[..],
            br#"{"a": 1}}"#,
            br#"{"a": 1} x"#,
            br#"{"a": 1}{"a": 2}"#,
        ] {
            let e = parse_json::<Body>(body).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (axum::http::StatusCode::BAD_REQUEST, "invalid_json")
            );
            let e = parse_measured_json::<Body>(body).unwrap_err();
            assert_eq!(e.code, "invalid_json");
        }
        assert!(parse_json::<Body>(b" {\"a\": 1}\r\n\t ").is_ok());
    }
}
