//! Health, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use hookrelay_core::ids::WorkspaceId;

use crate::error::ApiError;
use crate::{ok, views, AppState};

/// The process is up.
pub async fn healthz() -> Response {
    ok(views::HealthStatus { status: "ok" })
}

/// The process can serve: the database answers and the delivery engine runs
/// (an accepted event would otherwise wait for another node, or a restart).
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.inner.dispatcher.is_running() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dispatcher_not_running",
            "the delivery engine of this node is not running",
        ));
    }
    state.inner.store.get_workspace(&WorkspaceId::at(0)).await?;
    Ok(ok(views::HealthStatus { status: "ready" }))
}

/// Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let stale = {
        let mut at = state
            .inner
            .ops_metrics
            .backlog_read_at
            .lock()
            .expect("backlog time");
        let stale = at.is_none_or(|t| t.elapsed() >= state.inner.config.backlog_every);
        if stale {
            // Taken now, so that concurrent scrapes serve the last values.
            *at = Some(std::time::Instant::now());
        }
        stale
    };
    let backlog = if stale {
        state.inner.store.backlog().await.ok()
    } else {
        None
    };
    if let Some(b) = backlog {
        let m = &state.inner.ops_metrics;
        m.queue_depth.set(b.pending as i64);
        let age = b
            .oldest_created_at
            .map(|t| (state.inner.clock.now().millis() - t.millis()).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        m.oldest_pending_age.set(age);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &state.inner.registry) {
        return ApiError::internal(format!("encoding metrics failed: {e}")).into_response();
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

pub async fn openapi(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        state.inner.openapi,
    )
        .into_response()
}
