//! Dashboard sessions: how a browser is signed in, and the extractors every
//! dashboard handler gets its caller from.
//!
//! Signing in (with a workspace API key or the org admin key) or opening a
//! portal link starts a session: 32 random bytes from the OS generator,
//! base64url, in the cookie `hookrelay_session` (`Path=/dashboard;
//! HttpOnly; SameSite=Strict`, and `Secure` when the public URL is https);
//! the database keeps only their SHA-256. The key itself is never stored in
//! the browser or the session. A session ends after
//! [`DashboardConfig::idle_timeout`](super::DashboardConfig) without a
//! request, after its lifetime however busy, at sign-out (the row is
//! deleted and the cookie cleared), or when the key it signed in with is
//! revoked. Activity is written at most once a minute per session
//! (sooner only for idle timeouts under ten minutes), so page views do not
//! keep the writer busy.
//!
//! The extractors, and the only way a handler learns who is calling:
//! - [`Dash`] — a page (GET/HEAD only): a live session that has a
//!   workspace. Without a session: 303 to sign-in; an admin who has not
//!   picked a workspace: 303 to the picker. Every read goes through
//!   [`Dash::workspace_id`].
//! - [`Write`] — an action (POST): the same, plus the form, whose `csrf`
//!   field must be the session's token, and a session that is not read-only
//!   (403 otherwise, before the handler runs). A POST handler taking
//!   [`Dash`] fails at once, so an action cannot skip these checks.
//! - [`SessionForm`] — sign-out and the workspace picker only: any live
//!   session (read-only ones too) and its CSRF token.
//! - [`AdminPage`] — the org admin's own pages (the workspace picker):
//!   other sessions get a 404.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hookrelay_core::ids::{ApiKeyId, WorkspaceId};
use hookrelay_core::model::CreatedBy;
use hookrelay_core::secret::{generate_token, Secret, TokenHash};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{DashboardSession, SessionKind, Workspace};

use super::csrf;
use super::form::Form;
use crate::error::ApiError;
use crate::AppState;

/// A cookie the dashboard sets: its name and path.
#[derive(Debug, Clone, Copy)]
pub struct Cookie {
    pub name: &'static str,
    pub path: &'static str,
}

/// The session cookie.
pub const SESSION_COOKIE: Cookie = Cookie {
    name: "hookrelay_session",
    path: "/dashboard",
};

/// Where a browser without a session is sent.
pub const SIGN_IN: &str = "/dashboard/login";
/// Where an admin session without a workspace is sent.
pub const PICKER: &str = "/dashboard/workspaces";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the dashboard's cookies are `Secure` (the public URL is https).
pub fn secure(state: &AppState) -> bool {
    state
        .inner
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// `Set-Cookie` for `value`, HttpOnly and SameSite=Strict, living `max_age`
/// seconds (`None`: until the browser closes).
pub fn set_cookie(c: Cookie, value: &str, max_age: Option<u64>, secure: bool) -> HeaderValue {
    let mut s = format!(
        "{}={value}; Path={}; HttpOnly; SameSite=Strict",
        c.name, c.path
    );
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        s.push_str("; Secure");
    }
    HeaderValue::from_str(&s).expect("cookie values are base64url")
}

/// `Set-Cookie` that removes the cookie.
pub fn clear_cookie(c: Cookie, secure: bool) -> HeaderValue {
    set_cookie(c, "", Some(0), secure)
}

/// A 303 to `to`, with these `Set-Cookie` headers.
pub fn see_other(to: &str, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(to).expect("dashboard paths are ASCII"),
    );
    for c in cookies {
        resp.headers_mut().append(SET_COOKIE, c);
    }
    resp
}

/// How often a session's activity is written at most: a minute, or a
/// tenth of a short idle timeout.
fn touch_every_ms(idle_ms: i64) -> i64 {
    (idle_ms / 10).clamp(1, 60_000)
}

/// The live session the request's cookie names, if any (its activity
/// recorded now and then).
async fn current(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<DashboardSession>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE.name) else {
        return Ok(None);
    };
    let hash = TokenHash::of(token);
    let now = state.inner.clock.now();
    let Some(mut session) = state.inner.store.get_dashboard_session(&hash, now).await? else {
        return Ok(None);
    };
    if now.0 - session.last_seen_at.0 >= touch_every_ms(session.idle_timeout_ms) {
        // The page still answers if this write fails; the session then
        // simply ends a little sooner.
        match state.inner.store.touch_dashboard_session(&hash, now).await {
            Ok(()) => session.last_seen_at = now,
            Err(e) => tracing::warn!(error = %e, "recording dashboard activity failed"),
        }
    }
    Ok(Some(session))
}

/// Why a dashboard request does not reach its handler.
#[derive(Debug)]
pub enum Refusal {
    /// No live session: to the sign-in page (clearing a stale cookie).
    SignIn { secure: bool },
    /// An admin session with no workspace yet: to the picker.
    PickWorkspace,
    /// An error page.
    Error(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Error(e)
    }
}

impl From<hookrelay_store::StoreError> for Refusal {
    fn from(e: hookrelay_store::StoreError) -> Self {
        Refusal::Error(e.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { secure } => {
                see_other(SIGN_IN, [clear_cookie(SESSION_COOKIE, secure)])
            }
            Refusal::PickWorkspace => see_other(PICKER, []),
            Refusal::Error(e) => e.into_response(),
        }
    }
}

/// The caller of a dashboard page: a live session and its workspace.
#[derive(Debug, Clone)]
pub struct Dash {
    pub session: DashboardSession,
    pub workspace: Workspace,
}

impl Dash {
    /// The one workspace this request may read or write.
    pub fn workspace_id(&self) -> &WorkspaceId {
        &self.workspace.id
    }

    /// Whether forms that change something are shown.
    pub fn can_write(&self) -> bool {
        !self.session.read_only
    }

    /// The session's CSRF token, for the forms a page shows.
    pub fn csrf(&self) -> &str {
        self.session.csrf_token.expose()
    }

    /// Who the records this session creates are by.
    pub fn created_by(&self) -> CreatedBy {
        let name = match self.session.kind {
            SessionKind::Key => "API key sign-in",
            SessionKind::Admin => "org admin key",
            SessionKind::Portal => "customer portal",
        };
        CreatedBy {
            kind: "dashboard".into(),
            name: name.into(),
        }
    }

    /// The session and its workspace, or the reason the request stops.
    async fn load(headers: &HeaderMap, state: &AppState) -> Result<Self, Refusal> {
        let Some(session) = current(headers, state).await? else {
            return Err(Refusal::SignIn {
                secure: secure(state),
            });
        };
        let Some(ws) = session.workspace_id.clone() else {
            return Err(Refusal::PickWorkspace);
        };
        let workspace = state
            .inner
            .store
            .get_workspace(&ws)
            .await?
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        Ok(Dash { session, workspace })
    }
}

impl FromRequestParts<AppState> for Dash {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return Err(ApiError::internal(
                "a dashboard route that changes something must take `Write`, not `Dash`",
            )
            .into());
        }
        Dash::load(&parts.headers, state).await
    }
}

/// The caller of an org admin's page (the workspace picker): a live admin
/// session, with its workspace if it has picked one. Any other session
/// gets a 404, as if the page did not exist.
#[derive(Debug, Clone)]
pub struct AdminPage {
    pub session: DashboardSession,
    pub workspace: Option<Workspace>,
}

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return Err(ApiError::internal("`AdminPage` is for pages, not actions").into());
        }
        let Some(session) = current(&parts.headers, state).await? else {
            return Err(Refusal::SignIn {
                secure: secure(state),
            });
        };
        if session.kind != SessionKind::Admin {
            return Err(
                ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such page").into(),
            );
        }
        let workspace = match &session.workspace_id {
            Some(ws) => state.inner.store.get_workspace(ws).await?,
            None => None,
        };
        Ok(AdminPage { session, workspace })
    }
}

/// The caller of a dashboard action: a session that may write, in its
/// workspace, and the submitted form, whose CSRF token has been checked.
#[derive(Debug)]
pub struct Write {
    pub dash: Dash,
    pub form: Form,
}

impl FromRequest<AppState> for Write {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        let SessionForm { session, form } = SessionForm::from_request(req, state).await?;
        if session.read_only {
            return Err(ApiError::forbidden(
                "this session is read-only: it cannot change anything",
            )
            .into());
        }
        let Some(ws) = session.workspace_id.clone() else {
            return Err(Refusal::PickWorkspace);
        };
        let workspace = state
            .inner
            .store
            .get_workspace(&ws)
            .await?
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        Ok(Write {
            dash: Dash { session, workspace },
            form,
        })
    }
}

/// A POST from a live session (read-only or not, with or without a
/// workspace) whose form carries the session's CSRF token. Only for what
/// every session may do: signing out, picking a workspace (which checks
/// the session is an admin's). Everything else takes [`Write`].
#[derive(Debug)]
pub struct SessionForm {
    pub session: DashboardSession,
    pub form: Form,
}

impl FromRequest<AppState> for SessionForm {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        if req.method() != Method::POST {
            return Err(ApiError::internal("dashboard actions are POSTs").into());
        }
        let (parts, body) = req.into_parts();
        let Some(session) = current(&parts.headers, state).await? else {
            return Err(Refusal::SignIn {
                secure: secure(state),
            });
        };
        let form = Form::read(Request::from_parts(parts, body), state).await?;
        if !csrf::matches(session.csrf_token.expose(), form.get(csrf::FIELD)) {
            return Err(ApiError::forbidden(
                "This form has expired or did not come from this dashboard; reload the page and try again.",
            )
            .into());
        }
        Ok(SessionForm { session, form })
    }
}

/// What a new session is.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub kind: SessionKind,
    pub workspace_id: Option<WorkspaceId>,
    pub api_key_id: Option<ApiKeyId>,
    pub read_only: bool,
    /// Its absolute end; `None`: the configured lifetime from now.
    pub expires_at: Option<Timestamp>,
}

/// Starts a session; returns the `Set-Cookie` that hands it to the browser.
pub async fn start(state: &AppState, new: NewSession) -> Result<HeaderValue, ApiError> {
    let config = &state.inner.config.dashboard;
    let now = state.inner.clock.now();
    let lifetime_ms = config.session_lifetime.as_millis() as i64;
    let expires_at = new
        .expires_at
        .unwrap_or_else(|| now.plus_millis(lifetime_ms));
    let token = generate_token();
    let session = DashboardSession {
        token_hash: TokenHash::of(token.expose()),
        workspace_id: new.workspace_id,
        kind: new.kind,
        api_key_id: new.api_key_id,
        read_only: new.read_only,
        csrf_token: Secret::new(generate_token().expose().to_owned()),
        created_at: now,
        last_seen_at: now,
        idle_timeout_ms: (config.idle_timeout.as_millis() as i64).max(1),
        expires_at,
    };
    state.inner.store.create_dashboard_session(&session).await?;
    let max_age = ((expires_at.0 - now.0) / 1000).max(1) as u64;
    Ok(set_cookie(
        SESSION_COOKIE,
        token.expose(),
        Some(max_age),
        secure(state),
    ))
}

/// Ends the session the request's cookie names, if any (sign-out, or a new
/// sign-in replacing it).
pub async fn end(headers: &HeaderMap, state: &AppState) -> Result<(), ApiError> {
    if let Some(token) = cookie(headers, SESSION_COOKIE.name) {
        state
            .inner
            .store
            .delete_dashboard_session(&TokenHash::of(token))
            .await?;
    }
    Ok(())
}

/// Whether the request comes from a live session (the sign-in page sends
/// those on).
pub async fn signed_in(headers: &HeaderMap, state: &AppState) -> Result<bool, ApiError> {
    Ok(current(headers, state).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; hookrelay_session=tok; b=2".parse().unwrap());
        assert_eq!(cookie(&h, "hookrelay_session"), Some("tok"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "hookrelay"), None);
        h.append(COOKIE, "late=3".parse().unwrap());
        assert_eq!(cookie(&h, "late"), Some("3"));
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, "hookrelay_session=".parse().unwrap());
        assert_eq!(cookie(&empty, "hookrelay_session"), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_on_https() {
        let c = set_cookie(SESSION_COOKIE, "tok", Some(60), false);
        assert_eq!(
            c,
            "hookrelay_session=tok; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let c = set_cookie(SESSION_COOKIE, "tok", None, true);
        assert_eq!(
            c,
            "hookrelay_session=tok; Path=/dashboard; HttpOnly; SameSite=Strict; Secure"
        );
        let c = clear_cookie(SESSION_COOKIE, false);
        assert!(c.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn activity_is_written_at_most_once_a_minute() {
        assert_eq!(touch_every_ms(30 * 60_000), 60_000);
        assert_eq!(touch_every_ms(5 * 60_000), 30_000);
        assert_eq!(touch_every_ms(0), 1);
    }
}
