//! `POST /portal_sessions`: a one-time link that opens the dashboard in one
//! workspace for a platform's customer, who never sees an API key.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::dashboard::portal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Ctx, JsonOrEmpty};
use crate::{created, views, AppState};

/// How long a link lives when the request names no time: an hour.
pub const DEFAULT_EXPIRES_IN_SECS: i64 = 3600;
/// The shortest and longest a link may live: a minute to a day.
pub const EXPIRES_IN_SECS: std::ops::RangeInclusive<i64> = 60..=86_400;

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    #[serde(default)]
    expires_in_seconds: Option<i64>,
    #[serde(default)]
    read_only: Option<bool>,
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    JsonOrEmpty(body): JsonOrEmpty<CreateBody>,
) -> ApiResult<Response> {
    let secs = body.expires_in_seconds.unwrap_or(DEFAULT_EXPIRES_IN_SECS);
    if !EXPIRES_IN_SECS.contains(&secs) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "expiresInSeconds must be {} to {}",
                EXPIRES_IN_SECS.start(),
                EXPIRES_IN_SECS.end()
            ),
        ));
    }
    let link = portal::mint(
        &state,
        &ctx.workspace_id,
        body.read_only.unwrap_or(false),
        secs,
        &headers,
    )
    .await?;
    Ok(created(views::PortalSession {
        url: link.url,
        expires_at: link.expires_at.to_rfc3339(),
    }))
}
