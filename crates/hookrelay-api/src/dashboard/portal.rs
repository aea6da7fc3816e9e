//! The customer portal: a platform asks for a one-time link
//! (`POST /portal_sessions`, see `routes::portal`) and hands it to its
//! customer, whose browser opens the dashboard scoped to that one
//! workspace without ever seeing an API key.
//!
//! A link is a random token in the URL (`/dashboard/portal/<token>`; the
//! database keeps its SHA-256). Opening it redeems it, once, before it
//! expires; the session it starts is fixed to the link's workspace, as
//! read-only as the link, and ends when the link would have expired. A
//! portal session never sees the workspace picker or anything about API
//! keys.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hookrelay_core::ids::WorkspaceId;
use hookrelay_core::secret::{generate_token, TokenHash};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{PortalLink, Redemption, SessionKind};
use maud::html;

use super::layout;
use super::session::{self, NewSession};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Where a portal link points, under the public base URL.
pub const PATH: &str = "/dashboard/portal/";

/// Where an opened link sends the browser.
const LANDING: &str = "/dashboard/endpoints";

/// A new link.
#[derive(Debug)]
pub struct Minted {
    pub url: String,
    pub expires_at: Timestamp,
}

/// The base URL links are made with: the configured public URL, else the
/// request's `Host`.
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    match &state.inner.config.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// Makes a link into workspace `ws` that lives `secs` seconds.
pub async fn mint(
    state: &AppState,
    ws: &WorkspaceId,
    read_only: bool,
    secs: i64,
    headers: &HeaderMap,
) -> ApiResult<Minted> {
    let now = state.inner.clock.now();
    let token = generate_token();
    let link = PortalLink {
        token_hash: TokenHash::of(token.expose()),
        workspace_id: ws.clone(),
        read_only,
        created_at: now,
        expires_at: now.plus_millis(secs * 1000),
        used_at: None,
    };
    state.inner.store.create_portal_link(&link).await?;
    Ok(Minted {
        url: format!("{}{PATH}{}", public_base(state, headers), token.expose()),
        expires_at: link.expires_at,
    })
}

/// `GET /dashboard/portal/{token}`: redeems the link and starts its
/// session. The answer is a page that moves on to the dashboard at once
/// rather than a 303: a link followed from another site is a cross-site
/// navigation, and browsers may keep a SameSite=Strict cookie from the
/// redirect that ends it; the page's own navigation is same-site, so the
/// new cookie goes along. A HEAD (a link checker) redeems nothing.
pub async fn open(
    State(state): State<AppState>,
    method: Method,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if method == Method::HEAD {
        return Ok(StatusCode::OK.into_response());
    }
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let redemption = if well_formed {
        let now = state.inner.clock.now();
        state
            .inner
            .store
            .redeem_portal_link(&TokenHash::of(&token), now)
            .await?
    } else {
        Redemption::Unknown
    };
    let link = match redemption {
        Redemption::Opened(link) => link,
        Redemption::AlreadyUsed => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "portal_link_used",
                "This portal link has already been used; each link opens once. Ask for a new one.",
            ))
        }
        Redemption::Expired => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "portal_link_expired",
                "This portal link has expired. Ask for a new one.",
            ))
        }
        Redemption::Unknown => return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "This portal link is not valid. Check that it was copied whole, or ask for a new one.",
        )),
    };
    session::end(&headers, &state).await?;
    let cookie = session::start(
        &state,
        NewSession {
            kind: SessionKind::Portal,
            workspace_id: Some(link.workspace_id),
            api_key_id: None,
            read_only: link.read_only,
            expires_at: Some(link.expires_at),
        },
    )
    .await?;
    let page = layout::bare_page(
        "Opening the dashboard",
        Some(LANDING),
        html! {
            h1 { "Opening the dashboard…" }
            p { a href=(LANDING) { "Continue to the dashboard" } }
        },
    );
    let mut resp = layout::html(StatusCode::OK, page);
    resp.headers_mut()
        .append(axum::http::header::SET_COOKIE, cookie);
    Ok(resp)
}
