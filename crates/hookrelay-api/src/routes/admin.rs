//! Workspaces and the re-encryption of secrets at rest (admin key), and
//! API keys (workspace-scoped).

use axum::extract::{Path, State};
use axum::response::Response;
use hookrelay_core::ids::ApiKeyId;
use hookrelay_core::secret::generate_api_key;
use hookrelay_core::validate;
use hookrelay_store::crypt::Reseal;
use hookrelay_store::{ApiKeyRecord, Workspace};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Ctx, Json, Principal, Query};
use crate::{ok, views, AppState, PageParams};

#[derive(Debug, Deserialize)]
pub struct NameBody {
    name: String,
}

/// Re-seals every secret at rest under the newest encryption key (admin
/// key only), in small batches while the service keeps running, and
/// answers what is left under older keys.
pub async fn rotate_encryption(
    State(state): State<AppState>,
    Caller(who): Caller,
) -> ApiResult<Response> {
    if !matches!(who, Principal::Admin) {
        return Err(ApiError::forbidden(
            "re-encrypting secrets needs the org admin key",
        ));
    }
    let store = &state.inner.store;
    let resealed = store.reseal(Reseal::All).await?;
    let census = store.sealing().await?;
    let key_id = store.sealing_key().unwrap_or_default();
    let current = census.whole.get(&key_id).copied().unwrap_or(0);
    Ok(ok(views::EncryptionRotation {
        object: "encryption_rotation",
        key_id,
        reencrypted: resealed,
        rows: census.rows,
        current,
        remaining: census.rows - current,
        by_key: census.by_key,
    }))
}

pub async fn create_workspace(
    State(state): State<AppState>,
    Caller(who): Caller,
    Json(body): Json<NameBody>,
) -> ApiResult<Response> {
    if !matches!(who, Principal::Admin) {
        return Err(ApiError::forbidden(
            "creating workspaces needs the org admin key",
        ));
    }
    validate::name(&body.name)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    let now = state.inner.clock.now();
    let ws = Workspace {
        id: state.inner.ids.at(now),
        name: body.name,
        created_at: now,
    };
    state.inner.store.create_workspace(&ws).await?;
    Ok(ok(views::workspace(&ws)))
}

/// Creates a key; the plaintext is in this answer only.
pub async fn create_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<NameBody>,
) -> ApiResult<Response> {
    validate::name(&body.name)
        .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))?;
    let now = state.inner.clock.now();
    let key = generate_api_key();
    let rec = ApiKeyRecord {
        id: state.inner.ids.at(now),
        workspace_id: ctx.workspace_id.clone(),
        name: body.name,
        prefix: key.prefix.clone(),
        hash: key.hash,
        created_at: now,
        revoked_at: None,
    };
    state.inner.store.insert_api_key(&rec).await?;
    Ok(ok(views::ApiKeyCreated {
        record: views::api_key(&rec),
        key: key.plaintext.expose().to_owned(),
    }))
}

pub async fn list_keys(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PageParams>,
) -> ApiResult<Response> {
    let page = q.to_request()?;
    let p = state
        .inner
        .store
        .list_api_keys(&ctx.workspace_id, &page)
        .await?;
    Ok(ok(views::page(p, page.dir, views::api_key)))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = ApiKeyId::parse(&id).ok_or_else(|| ApiError::not_found("api key"))?;
    let now = state.inner.clock.now();
    if !state
        .inner
        .store
        .revoke_api_key(&ctx.workspace_id, &id, now)
        .await?
    {
        return Err(ApiError::not_found("api key"));
    }
    state.inner.keys.forget_all();
    Ok(ok(views::DeletedObject { id: id.to_string() }))
}
