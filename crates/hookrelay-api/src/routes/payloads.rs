//! `GET /payloads/{token}`: the full payload behind a signed URL. No API key;
//! the token is the credential. Altered or truncated tokens get 403, expired
//! ones 410, and neither says anything more.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookrelay_core::ids::{EventId, WorkspaceId};
use hookrelay_core::signed_url::TokenError;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

fn invalid() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_link",
        "this link is not valid",
    )
}

fn gone() -> ApiError {
    ApiError::new(StatusCode::GONE, "link_expired", "this link has expired")
}

pub async fn fetch(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let now = state.inner.clock.now();
    let r = state
        .inner
        .signed_urls
        .open(&token, now)
        .map_err(|e| match e {
            TokenError::Expired => gone(),
            _ => invalid(),
        })?;
    let (Some(ws), Some(ev_id)) = (
        WorkspaceId::parse(&r.workspace_id),
        EventId::parse(&r.event_id),
    ) else {
        return Err(invalid());
    };
    // A purged event is as gone as an expired link.
    let (event, _) = state
        .inner
        .store
        .get_event(&ws, &ev_id)
        .await?
        .ok_or_else(gone)?;
    let payload =
        hookrelay_dispatch::render_payload_for(&state.inner.catalog, &event, &r.api_version);
    Ok((
        StatusCode::OK,
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        payload,
    )
        .into_response())
}
