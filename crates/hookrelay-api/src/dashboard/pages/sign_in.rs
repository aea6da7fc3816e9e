//! Signing in (a workspace API key or the org admin key, checked as the API
//! checks keys) and out.
//!
//! Sign-in attempts are limited per client address (the same buckets as
//! the API's limiter, with the dashboard's slower rate: 10 at once, then
//! one every 6 s by default), counted before the key is looked at, so
//! guessing keys costs as much as failing. A wrong key answers the form
//! again with 401.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hookrelay_core::secret::ApiKeyHash;
use hookrelay_store::SessionKind;
use maud::html;
use serde::Deserialize;

use crate::dashboard::csrf;
use crate::dashboard::form::Form;
use crate::dashboard::layout;
use crate::dashboard::session::{
    self, clear_cookie, secure, see_other, set_cookie, NewSession, SessionForm, PICKER,
    SESSION_COOKIE,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{resolve_key, Principal, Query};
use crate::limit::{client_address, Bucket};
use crate::AppState;

/// How long the sign-in form's CSRF cookie lives.
const LOGIN_COOKIE_SECS: u64 = 12 * 3600;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct FormQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

/// `GET /dashboard/login`.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FormQuery>,
) -> ApiResult<Response> {
    if session::signed_in(&headers, &state).await? {
        return Ok(see_other("/dashboard", []));
    }
    let note = q.signed_out.is_some().then_some("You have signed out.");
    Ok(sign_in_page(&state, &headers, StatusCode::OK, note, None))
}

fn sign_in_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    note: Option<&str>,
    error: Option<&str>,
) -> Response {
    let (token, _) = csrf::login_token(headers);
    let page = layout::bare_page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(n) = note { (layout::notice(false, n)) }
            @if let Some(e) = error { (layout::notice(true, e)) }
            form.stack.card method="post" action="/dashboard/login" {
                (csrf::field(&token))
                div.field {
                    label for="key" { "API key" }
                    input #key type="password" name="key" required
                        autocomplete="current-password" aria-describedby="key-hint";
                    p #key-hint .hint { "A workspace API key, or the org admin key." }
                }
                button.button type="submit" { "Sign in" }
            }
            p.muted { "The key is exchanged for a session; your browser keeps only the session." }
        },
    );
    let mut resp = layout::html(status, page);
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            csrf::LOGIN_COOKIE,
            &token,
            Some(LOGIN_COOKIE_SECS),
            secure(state),
        ),
    );
    resp
}

/// `POST /dashboard/login`.
pub async fn submit(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if let Some(Err(refusal)) = state
        .inner
        .dashboard
        .sign_ins
        .check(&Bucket::Address(client_address(ip)))
    {
        let mut err = ApiError::rate_limited(refusal);
        err.message = format!(
            "Too many sign-in attempts from your address; try again in {} s.",
            refusal.retry_after_secs
        );
        return Err(err);
    }
    let headers = req.headers().clone();
    let form = Form::read(req, &state).await?;
    if !csrf::login_matches(&headers, form.get(csrf::FIELD)) {
        return Err(ApiError::forbidden(
            "This sign-in form has expired or did not come from this dashboard; reload the page and try again.",
        ));
    }
    let key = form.text("key");
    let principal = if key.is_empty() {
        None
    } else {
        resolve_key(&state, &ApiKeyHash::of(&key)).await?
    };
    let (new, to) = match principal {
        None => {
            return Ok(sign_in_page(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                None,
                Some("That key is not valid. Check it and try again."),
            ))
        }
        Some(Principal::Admin) => (
            NewSession {
                kind: SessionKind::Admin,
                workspace_id: None,
                api_key_id: None,
                read_only: false,
                expires_at: None,
            },
            PICKER,
        ),
        Some(Principal::Key {
            workspace_id,
            key_id,
            ..
        }) => (
            NewSession {
                kind: SessionKind::Key,
                workspace_id: Some(workspace_id),
                api_key_id: Some(key_id),
                read_only: false,
                expires_at: None,
            },
            "/dashboard/endpoints",
        ),
    };
    // A new session every time: a token the browser had before (perhaps
    // planted) never becomes a signed-in one.
    session::end(&headers, &state).await?;
    let cookie = session::start(&state, new).await?;
    Ok(see_other(
        to,
        [cookie, clear_cookie(csrf::LOGIN_COOKIE, secure(&state))],
    ))
}

/// `POST /dashboard/logout`: deletes the session and clears its cookie.
/// Read-only sessions may sign out too.
pub async fn sign_out(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm,
) -> ApiResult<Response> {
    state
        .inner
        .store
        .delete_dashboard_session(&session.token_hash)
        .await?;
    Ok(see_other(
        "/dashboard/login?signed_out=1",
        [clear_cookie(SESSION_COOKIE, secure(&state))],
    ))
}
