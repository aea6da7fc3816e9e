//! `GET /stats` and `GET /webhook_endpoints/{id}/stats`: attempts by
//! outcome and attempt latency per time bucket, of the whole workspace or
//! of one endpoint.

use axum::extract::{Path, State};
use axum::response::Response;
use hookrelay_core::ids::EndpointId;
use hookrelay_core::time::Timestamp;
use hookrelay_store::{Bucket, Window};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Ctx, Query};
use crate::routes::endpoints::load;
use crate::routes::events::time_param;
use crate::{ok, views, AppState};

/// The window when the query names no `since`: the day before `until`.
const DEFAULT_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsParams {
    since: Option<String>,
    until: Option<String>,
    bucket: Option<String>,
}

pub async fn workspace(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<StatsParams>,
) -> ApiResult<Response> {
    let asked = asked(&state, &q)?;
    answer(&state, &ctx, None, asked).await
}

pub async fn endpoint(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<StatsParams>,
) -> ApiResult<Response> {
    let asked = asked(&state, &q)?;
    // A deleted endpoint's statistics are kept until retention, but like
    // the endpoint itself they are not found through this route any more.
    let endpoint = load(&state, &ctx, &id).await?;
    answer(&state, &ctx, Some(&endpoint.id), asked).await
}

/// What was asked for, checked: `[since, until)` and the bucket.
struct Asked {
    since: Timestamp,
    until: Timestamp,
    window: Window,
}

/// The window asked for: `until` defaults to now, `since` to a day before
/// `until`, `bucket` to `hour`.
fn asked(state: &AppState, q: &StatsParams) -> ApiResult<Asked> {
    let bucket = match q.bucket.as_deref() {
        None | Some("") => Bucket::Hour,
        Some(b) => b
            .parse::<Bucket>()
            .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?,
    };
    let until = time_param("until", q.until.as_deref())?.unwrap_or_else(|| state.inner.clock.now());
    let since =
        time_param("since", q.since.as_deref())?.unwrap_or(until.plus_millis(-DEFAULT_WINDOW_MS));
    let window = Window::new(since, until, bucket)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    Ok(Asked {
        since,
        until,
        window,
    })
}

async fn answer(
    state: &AppState,
    ctx: &Ctx,
    endpoint: Option<&EndpointId>,
    asked: Asked,
) -> ApiResult<Response> {
    // The store widens the window to whole buckets as `asked.window` is.
    let buckets = state
        .inner
        .store
        .stats(
            &ctx.workspace_id,
            endpoint,
            asked.since,
            asked.until,
            asked.window.bucket,
        )
        .await?;
    Ok(ok(views::stats(endpoint, &asked.window, &buckets)))
}
