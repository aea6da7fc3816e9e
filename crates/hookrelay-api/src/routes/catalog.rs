//! `GET /event_types`: the catalog for one API version.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use hookrelay_core::catalog::Catalog;
use hookrelay_core::parsed::{ApiVersion, ApiVersionError};
use hookrelay_core::validate;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Query};
use crate::{ok, views, AppState};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    api_version: Option<String>,
}

/// `?apiVersion=` (or the `x-extend-api-version` header, or the current version).
pub async fn event_types(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> ApiResult<Response> {
    let catalog = &state.inner.catalog;
    let version = q
        .api_version
        .filter(|v| !v.is_empty())
        .or_else(|| {
            headers
                .get("x-extend-api-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| catalog.current_version().to_owned());
    let version = version_param(catalog, &version)?;
    Ok(ok(views::event_types(catalog, &version)))
}

/// `apiVersion` as a version of the catalog (400 if it is not one).
pub(crate) fn version_param(catalog: &Catalog, version: &str) -> ApiResult<ApiVersion> {
    ApiVersion::parse(catalog, "apiVersion", version).map_err(|e| match e {
        ApiVersionError::TooLong(e) => ApiError::from(e),
        ApiVersionError::Unknown(v) => ApiError::bad_request(
            "invalid_api_version",
            format!("apiVersion {} is not in the catalog", validate::quote(&v)),
        ),
    })
}
