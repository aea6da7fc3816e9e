//! The dashboard and the customer portal over HTTP, against a real server:
//! signing in and out, what the session cookie is and where it works, CSRF,
//! the security headers, idle and absolute expiry (on a clock the test
//! moves), the workspace picker, portal links (one-time, read-only,
//! scoped to their workspace), the endpoints pages, the delivery history
//! (filters, pagination), a delivery's page and its Retry, and the
//! event-type catalog.
//!
//! [`Browser`] is a small cookie-keeping client that follows no redirects,
//! so each answer (a 303 and its `Set-Cookie`) is seen as the server sent it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hookrelay::config::{Database, ServerClock, Settings};
use hookrelay_core::secret::TokenHash;
use hookrelay_core::time::{Clock, ManualClock, SystemClock, Timestamp};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{eventually, Backend, Receiver, Reply, TestServer, ADMIN, KEY};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One answer: status, headers and body text.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location in {:?}", self.headers))
    }

    /// The `Set-Cookie` for `name`, whole.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The first hidden `csrf` field's value.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find(r#"name="csrf" value=""#)
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + r#"name="csrf" value=""#.len()..];
        rest[..rest.find('"').expect("closing quote")].to_owned()
    }

    fn assert_page(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
        let ct = self.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/html"), "{ct}");
    }
}

/// A browser: keeps cookies (honouring `Max-Age=0`), follows no redirects.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new(s: &TestServer) -> Self {
        Self {
            base: s.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.http.request(method, url);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", jar.join("; "));
        }
        if let Some(fields) = form {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        for c in headers.get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = resp.text().await.expect("body");
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Follows a 303 to where it points.
    async fn follow(&mut self, a: &Answer) -> Answer {
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let to = a.location().to_owned();
        self.get(&to).await
    }

    /// Signs in with `key` through the form; returns the answer to the POST.
    async fn sign_in(&mut self, key: &str) -> Answer {
        let form = self.get("/dashboard/login").await;
        form.assert_page(StatusCode::OK);
        let csrf = form.csrf();
        self.post("/dashboard/login", &[("csrf", &csrf), ("key", key)])
            .await
    }

    fn session(&self) -> Option<&String> {
        self.cookies.get("hookrelay_session")
    }
}

/// A browser signed in with `key`, on the endpoints page.
async fn signed_in(s: &TestServer, key: &str) -> (Browser, Answer) {
    let mut b = Browser::new(s);
    let a = b.sign_in(key).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/dashboard/endpoints");
    let page = b.follow(&a).await;
    page.assert_page(StatusCode::OK);
    (b, page)
}

/// Creates an endpoint through the API with `key` (and workspace header
/// `ws` for the admin key).
async fn api_endpoint(s: &TestServer, key: &str, name: &str) -> Value {
    s.post_as(
        key,
        "/webhook_endpoints",
        json!({
            "url": format!("https://{name}.example.com/hooks"),
            "name": name,
            "enabledEvents": ["extract_run.processed"],
            "apiVersion": "2026-02-09",
        }),
    )
    .await
}

async fn api_endpoint_count(s: &TestServer, key: &str) -> usize {
    let (status, v, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(key), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    v["data"].as_array().unwrap().len()
}

async fn portal_link(s: &TestServer, key: &str, body: Value) -> Value {
    let (status, v, _) = s
        .request(Method::POST, "/portal_sessions", Some(key), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

fn session_rows(s: &TestServer) -> Vec<String> {
    let db = rusqlite::Connection::open(s.db_path()).unwrap();
    let mut stmt = db
        .prepare("SELECT token_hash FROM dashboard_sessions")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn key_sign_in_sets_a_strict_http_only_cookie_and_lists_the_workspaces_endpoints() {
    let s = TestServer::start().await;
    let ours = api_endpoint(&s, KEY, "ours").await;
    let (_, other_key) = s.workspace("globex").await;
    api_endpoint(&s, &other_key, "theirs").await;

    let mut b = Browser::new(&s);
    let form = b.get("/dashboard/login").await;
    form.assert_page(StatusCode::OK);
    assert!(form.body.contains(r#"<label for="key">"#), "{}", form.body);
    let login_cookie = form
        .set_cookie("hookrelay_login_csrf")
        .expect("login CSRF cookie");
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));

    let signed = b
        .post("/dashboard/login", &[("csrf", &form.csrf()), ("key", KEY)])
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let cookie = signed
        .set_cookie("hookrelay_session")
        .expect("session cookie");
    let attrs: Vec<&str> = cookie.split("; ").skip(1).collect();
    for want in ["Path=/dashboard", "HttpOnly", "SameSite=Strict"] {
        assert!(attrs.contains(&want), "{cookie}");
    }
    assert!(!attrs.contains(&"Secure"), "not on plain http: {cookie}");
    assert!(!cookie.contains(KEY), "the key is not in the cookie");
    // The database keeps the token's hash, never the token.
    let token = b.session().expect("session kept").clone();
    assert_eq!(token.len(), 43);
    assert_eq!(session_rows(&s), vec![TokenHash::of(&token).to_hex()]);

    let home = b.get("/dashboard").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    let page = b.follow(&home).await;
    page.assert_page(StatusCode::OK);
    assert!(page.body.contains("ours"), "{}", page.body);
    assert!(page.body.contains("https://ours.example.com/hooks"));
    assert!(page.body.contains(ours["id"].as_str().unwrap()));
    assert!(
        !page.body.contains("theirs"),
        "another workspace's endpoint"
    );
    assert!(
        page.body.contains(&s.workspace_id),
        "the header names the workspace"
    );
    assert!(page.body.contains(r#"<th scope="col">"#));
    assert!(page.body.contains(r##"href="#main""##), "skip link");
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style="), "no inline style");

    // Every dashboard answer carries the security headers.
    for a in [&form, &signed, &page] {
        assert_eq!(a.headers["content-security-policy"], CSP);
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
        assert_eq!(a.headers["referrer-policy"], "no-referrer");
        assert_eq!(a.headers["x-frame-options"], "DENY");
    }
    assert_eq!(page.headers["cache-control"], "no-store");

    // The stylesheet and script are served from here, cached for a year.
    for (tag, ct) in [
        (r#"rel="stylesheet" href=""#, "text/css"),
        (r#"script src=""#, "text/javascript"),
    ] {
        let at = page.body.find(tag).unwrap_or_else(|| panic!("{tag}")) + tag.len();
        let href = &page.body[at..at + page.body[at..].find('"').unwrap()];
        assert!(href.starts_with("/dashboard/assets/"), "{href}");
        let asset = b.get(href).await;
        assert_eq!(asset.status, StatusCode::OK);
        assert!(asset.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ct));
        assert_eq!(
            asset.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
    }
    let gone = b.get("/dashboard/assets/style.0000000000000000.css").await;
    gone.assert_page(StatusCode::NOT_FOUND);
    let nowhere = b.get("/dashboard/no-such-page").await;
    nowhere.assert_page(StatusCode::NOT_FOUND);
    assert_eq!(nowhere.headers["content-security-policy"], CSP);
}

#[tokio::test]
async fn cookies_are_secure_and_links_absolute_when_the_public_url_is_https() {
    let s =
        TestServer::start_with(|c| c.public_url = Some("https://hooks.example.com".into())).await;
    let mut b = Browser::new(&s);
    let signed = b.sign_in(KEY).await;
    let cookie = signed.set_cookie("hookrelay_session").unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let link = portal_link(&s, KEY, json!({})).await;
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://hooks.example.com/dashboard/portal/"),
        "{url}"
    );
}

#[tokio::test]
async fn a_wrong_key_answers_401_and_repeated_attempts_429() {
    let s = TestServer::start().await;
    let mut b = Browser::new(&s);
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..15 {
        let a = b.sign_in("sk_wrong_key").await;
        statuses.push(a.status);
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(a);
            break;
        }
        a.assert_page(StatusCode::UNAUTHORIZED);
        assert!(a.body.contains("That key is not valid"), "{}", a.body);
        assert!(a.set_cookie("hookrelay_session").is_none());
    }
    let refused = refused.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    refused.assert_page(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        statuses.len() >= 10,
        "10 attempts allowed at once: {statuses:?}"
    );
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry), "{retry}");
    assert!(
        refused.body.contains("Too many sign-in attempts"),
        "{}",
        refused.body
    );
    // Once limited, even the right key waits: guessing costs the same.
    let a = b.sign_in(KEY).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(session_rows(&s).is_empty());
}

#[tokio::test]
async fn the_admin_picks_a_workspace_and_may_switch() {
    let s = TestServer::start().await;
    let (ws2, key2) = s.workspace("globex").await;
    api_endpoint(&s, &key2, "globex-hook").await;
    api_endpoint(&s, KEY, "default-hook").await;

    let mut b = Browser::new(&s);
    let signed = b.sign_in(ADMIN).await;
    assert_eq!(signed.location(), "/dashboard/workspaces");
    // No workspace yet: every page leads to the picker.
    let a = b.get("/dashboard/endpoints").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/dashboard/workspaces");

    let picker = b.get("/dashboard/workspaces").await;
    picker.assert_page(StatusCode::OK);
    assert!(picker.body.contains("globex") && picker.body.contains(&ws2));
    assert!(picker.body.contains(&s.workspace_id));
    let csrf = picker.csrf();

    let picked = b
        .post(
            "/dashboard/workspaces",
            &[("csrf", &csrf), ("workspace", &ws2)],
        )
        .await;
    let page = b.follow(&picked).await;
    page.assert_page(StatusCode::OK);
    assert!(page.body.contains("globex-hook"), "{}", page.body);
    assert!(!page.body.contains("default-hook"));
    assert!(page.body.contains("Switch workspace"));

    let back = b
        .post(
            "/dashboard/workspaces",
            &[("csrf", &csrf), ("workspace", &s.workspace_id)],
        )
        .await;
    let page = b.follow(&back).await;
    assert!(page.body.contains("default-hook"), "{}", page.body);
    assert!(!page.body.contains("globex-hook"));

    // An unknown workspace is not found; the session stays where it was.
    let unknown = b
        .post(
            "/dashboard/workspaces",
            &[
                ("csrf", &csrf),
                ("workspace", "workspace_01JNX3Q6W0K8V2C7E5R9T4Y1ZB"),
            ],
        )
        .await;
    unknown.assert_page(StatusCode::NOT_FOUND);

    // A workspace key's session has no picker.
    let (mut k, _) = signed_in(&s, KEY).await;
    k.get("/dashboard/workspaces")
        .await
        .assert_page(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn posts_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let (mut b, page) = signed_in(&s, KEY).await;
    let csrf = page.csrf();
    let fields = |token: Option<&'static str>| {
        let mut f = vec![
            ("url", "https://new.example.com/hooks"),
            ("name", "new"),
            ("apiVersion", "2026-02-09"),
            ("event:2026-02-09", "extract_run.processed"),
            ("signatureScheme", "extend"),
        ];
        if let Some(t) = token {
            f.push(("csrf", t));
        }
        f
    };
    let missing = b.post("/dashboard/endpoints", &fields(None)).await;
    missing.assert_page(StatusCode::FORBIDDEN);
    assert_eq!(missing.headers["content-security-policy"], CSP);
    let wrong = b
        .post("/dashboard/endpoints", &fields(Some("forged")))
        .await;
    wrong.assert_page(StatusCode::FORBIDDEN);
    assert_eq!(api_endpoint_count(&s, KEY).await, 0, "nothing was created");

    // Nor is the session ended by a forged sign-out.
    b.post("/dashboard/logout", &[])
        .await
        .assert_page(StatusCode::FORBIDDEN);
    b.get("/dashboard/endpoints")
        .await
        .assert_page(StatusCode::OK);

    // The sign-in form's token must match its cookie.
    let mut stranger = Browser::new(&s);
    let a = stranger
        .post("/dashboard/login", &[("csrf", &csrf), ("key", KEY)])
        .await;
    a.assert_page(StatusCode::FORBIDDEN);
    assert!(a.set_cookie("hookrelay_session").is_none());

    // With the right token it works.
    let mut good = fields(None);
    good.push(("csrf", &csrf));
    let created = b.post("/dashboard/endpoints", &good).await;
    created.assert_page(StatusCode::OK);
    assert_eq!(api_endpoint_count(&s, KEY).await, 1);
}

#[tokio::test]
async fn the_new_endpoint_form_checks_like_the_api_and_shows_the_secret_once() {
    let s = TestServer::start().await;
    let (mut b, page) = signed_in(&s, KEY).await;
    assert!(page.body.contains(r#"<label for="url">"#));
    assert!(page
        .body
        .contains(r#"<select id="apiVersion" name="apiVersion">"#));
    let csrf = page.csrf();

    let refused = b
        .post(
            "/dashboard/endpoints",
            &[
                ("csrf", &csrf),
                ("url", "ftp://nope.example.com"),
                ("name", "kept name"),
                ("apiVersion", "2026-02-09"),
                ("signatureScheme", "extend"),
            ],
        )
        .await;
    refused.assert_page(StatusCode::BAD_REQUEST);
    assert!(refused.body.contains(r#"role="alert""#), "{}", refused.body);
    assert!(refused.body.contains("url"), "{}", refused.body);
    assert!(
        refused.body.contains(r#"value="kept name""#),
        "the form keeps what was typed"
    );
    assert_eq!(api_endpoint_count(&s, KEY).await, 0);

    let created = b
        .post(
            "/dashboard/endpoints",
            &[
                ("csrf", &csrf),
                ("url", "https://created.example.com/hooks"),
                ("name", "from the dashboard"),
                ("apiVersion", "2026-02-09"),
                ("event:2026-02-09", "extract_run.processed"),
                ("event:2026-02-09", "extract_run.failed"),
                // Ticked for another version: not this endpoint's.
                ("event:2025-04-21", "processor_run.processed"),
                ("signatureScheme", "standard-webhooks"),
            ],
        )
        .await;
    created.assert_page(StatusCode::OK);
    assert!(created.body.contains("whsec_"), "the secret is shown");
    let (_, list, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(KEY), None)
        .await;
    let e = &list["data"][0];
    assert_eq!(e["name"], "from the dashboard");
    assert_eq!(e["signatureScheme"], "standard-webhooks");
    assert_eq!(
        e["enabledEvents"],
        json!(["extract_run.processed", "extract_run.failed"])
    );
    assert_eq!(e["createdBy"]["type"], "dashboard");
    let id = e["id"].as_str().unwrap();

    // The list links to its page, which does not show the secret.
    let list_page = b.get("/dashboard/endpoints").await;
    assert!(list_page
        .body
        .contains(&format!("/dashboard/endpoints/{id}")));
    let detail = b.get(&format!("/dashboard/endpoints/{id}")).await;
    detail.assert_page(StatusCode::OK);
    assert!(detail.body.contains("extract_run.failed"));
    assert!(!detail.body.contains("whsec_"));

    // The catalog's refusal (422) is shown on the form too.
    let unknown_event = b
        .post(
            "/dashboard/endpoints",
            &[
                ("csrf", &csrf),
                ("url", "https://x.example.com"),
                ("name", "x"),
                ("apiVersion", "2026-02-09"),
                ("event:2026-02-09", "no_such.event"),
                ("signatureScheme", "extend"),
            ],
        )
        .await;
    unknown_event.assert_page(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(api_endpoint_count(&s, KEY).await, 1);
}

#[tokio::test]
async fn endpoints_are_listed_a_page_at_a_time() {
    let s = TestServer::start().await;
    for i in 0..27 {
        api_endpoint(&s, KEY, &format!("hook-{i:02}")).await;
    }
    let (mut b, first) = signed_in(&s, KEY).await;
    assert!(first.body.contains("hook-26") && !first.body.contains("hook-01"));
    let at = first.body.find(r#"rel="next""#).expect("a next page");
    let start = first.body[..at].rfind("href=\"").unwrap() + 6;
    let href =
        first.body[start..start + first.body[start..].find('"').unwrap()].replace("&amp;", "&");
    let second = b.get(&href).await;
    second.assert_page(StatusCode::OK);
    assert!(second.body.contains("hook-01") && second.body.contains("hook-00"));
    assert!(!second.body.contains("hook-26"));
    assert!(!second.body.contains(r#"rel="next""#));
    b.get("/dashboard/endpoints?after=garbage")
        .await
        .assert_page(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sessions_end_after_idle_time_and_at_their_lifetime() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let s = TestServer::start_with(|c| {
        c.clock = Some(ServerClock(clock.clone()));
        c.dashboard_session_lifetime = Duration::from_secs(3600);
    })
    .await;
    let min = 60_000;

    // Idle: 30 minutes without a request.
    let (mut b, _) = signed_in(&s, KEY).await;
    clock.advance_millis(29 * min);
    b.get("/dashboard/endpoints")
        .await
        .assert_page(StatusCode::OK);
    clock.advance_millis(29 * min);
    b.get("/dashboard/endpoints")
        .await
        .assert_page(StatusCode::OK);
    clock.advance_millis(30 * min);
    let ended = b.get("/dashboard/endpoints").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.location(), "/dashboard/login");
    assert!(ended
        .set_cookie("hookrelay_session")
        .unwrap()
        .contains("Max-Age=0"));

    // Absolute: an hour here, however busy.
    let (mut b, _) = signed_in(&s, KEY).await;
    for _ in 0..5 {
        clock.advance_millis(11 * min);
        b.get("/dashboard/endpoints")
            .await
            .assert_page(StatusCode::OK);
    }
    clock.advance_millis(5 * min);
    let ended = b.get("/dashboard/endpoints").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    assert_eq!(ended.location(), "/dashboard/login");

    // A portal session ends when its link would have expired; a link not
    // opened in time does not open.
    let link = portal_link(&s, KEY, json!({"expiresInSeconds": 120})).await;
    let mut p = Browser::new(&s);
    p.get(link["url"].as_str().unwrap())
        .await
        .assert_page(StatusCode::OK);
    clock.advance_millis(110_000);
    p.get("/dashboard/endpoints")
        .await
        .assert_page(StatusCode::OK);
    clock.advance_millis(10_000);
    assert_eq!(
        p.get("/dashboard/endpoints").await.status,
        StatusCode::SEE_OTHER
    );
    let late = portal_link(&s, KEY, json!({"expiresInSeconds": 60})).await;
    clock.advance_millis(60_000);
    let gone = Browser::new(&s).get(late["url"].as_str().unwrap()).await;
    gone.assert_page(StatusCode::GONE);
    assert!(gone.body.contains("expired"), "{}", gone.body);
}

#[tokio::test]
async fn sign_out_ends_the_session_on_the_server() {
    let s = TestServer::start().await;
    let (mut b, page) = signed_in(&s, KEY).await;
    let old = b.session().unwrap().clone();
    let out = b.post("/dashboard/logout", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/dashboard/login?signed_out=1");
    assert!(out
        .set_cookie("hookrelay_session")
        .unwrap()
        .contains("Max-Age=0"));
    assert!(b.session().is_none());
    assert!(session_rows(&s).is_empty(), "the row is gone");
    let note = b.follow(&out).await;
    assert!(note.body.contains("You have signed out"));

    // The old cookie, sent again, no longer works.
    let mut replay = Browser::new(&s);
    replay
        .cookies
        .insert("hookrelay_session".into(), old.clone());
    let a = replay.get("/dashboard/endpoints").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/dashboard/login");
}

#[tokio::test]
async fn revoking_the_key_ends_its_dashboard_sessions() {
    let s = TestServer::start().await;
    let (ws, key) = s.workspace("globex").await;
    let (mut b, _) = signed_in(&s, &key).await;
    let resp = s
        .http
        .get(format!("{}/api_keys", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", &ws)
        .send()
        .await
        .unwrap();
    let keys: Value = resp.json().await.unwrap();
    let id = keys["data"][0]["id"].as_str().unwrap();
    let resp = s
        .http
        .delete(format!("{}/api_keys/{id}", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", &ws)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let a = b.get("/dashboard/endpoints").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/dashboard/login");
}

#[tokio::test]
async fn a_portal_link_opens_once_and_only_its_workspace() {
    let s = TestServer::start().await;
    let (ws2, key2) = s.workspace("customer").await;
    let theirs = api_endpoint(&s, &key2, "customer-hook").await;
    let ours = api_endpoint(&s, KEY, "platform-hook").await;

    // The admin key names the workspace with the header.
    let resp = s
        .http
        .post(format!("{}/portal_sessions", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", &ws2)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let link: Value = resp.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/dashboard/portal/", s.url)),
        "{url}"
    );
    let expires =
        hookrelay_core::time::Timestamp::parse_rfc3339(link["expiresAt"].as_str().unwrap())
            .unwrap();
    let in_an_hour = SystemClock.now().plus_millis(3_600_000);
    assert!(
        (expires.0 - in_an_hour.0).abs() < 60_000,
        "an hour by default"
    );

    // A HEAD (a link checker) does not use it up.
    let head = reqwest::Client::new().head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);

    let mut p = Browser::new(&s);
    let opened = p.get(&url).await;
    opened.assert_page(StatusCode::OK);
    assert!(
        opened
            .body
            .contains(r#"http-equiv="refresh" content="0; url=/dashboard/endpoints""#),
        "{}",
        opened.body
    );
    assert_eq!(opened.headers["referrer-policy"], "no-referrer");
    let cookie = opened.set_cookie("hookrelay_session").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));

    let page = p.get("/dashboard/endpoints").await;
    page.assert_page(StatusCode::OK);
    assert!(page.body.contains("customer-hook"));
    assert!(!page.body.contains("platform-hook"));
    assert!(page.body.contains("New endpoint"), "not read-only");
    assert!(!page.body.contains("Switch workspace"));
    // Another workspace's endpoint is not found, like an unknown one.
    let own = p
        .get(&format!(
            "/dashboard/endpoints/{}",
            theirs["id"].as_str().unwrap()
        ))
        .await;
    own.assert_page(StatusCode::OK);
    let foreign = p
        .get(&format!(
            "/dashboard/endpoints/{}",
            ours["id"].as_str().unwrap()
        ))
        .await;
    foreign.assert_page(StatusCode::NOT_FOUND);
    p.get("/dashboard/endpoints/webhook_endpoint_01JNX3Q6W0K8V2C7E5R9T4Y1ZB")
        .await
        .assert_page(StatusCode::NOT_FOUND);
    // No picker for a portal session, nor picking by a forged form.
    p.get("/dashboard/workspaces")
        .await
        .assert_page(StatusCode::NOT_FOUND);
    let pick = p
        .post(
            "/dashboard/workspaces",
            &[("csrf", &page.csrf()), ("workspace", &s.workspace_id)],
        )
        .await;
    pick.assert_page(StatusCode::NOT_FOUND);
    assert!(!p
        .get("/dashboard/endpoints")
        .await
        .body
        .contains("platform-hook"));

    // Second use: gone.
    let again = Browser::new(&s).get(&url).await;
    again.assert_page(StatusCode::GONE);
    assert!(again.body.contains("already been used"), "{}", again.body);
    assert!(again.set_cookie("hookrelay_session").is_none());
    let unknown = Browser::new(&s)
        .get("/dashboard/portal/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    unknown.assert_page(StatusCode::NOT_FOUND);
    Browser::new(&s)
        .get("/dashboard/portal/short")
        .await
        .assert_page(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_read_only_portal_session_shows_no_forms_and_refuses_every_change() {
    let s = TestServer::start().await;
    api_endpoint(&s, KEY, "visible").await;
    let link = portal_link(&s, KEY, json!({"readOnly": true, "expiresInSeconds": 600})).await;
    let mut p = Browser::new(&s);
    p.get(link["url"].as_str().unwrap())
        .await
        .assert_page(StatusCode::OK);
    let page = p.get("/dashboard/endpoints").await;
    page.assert_page(StatusCode::OK);
    assert!(page.body.contains("visible"));
    assert!(page.body.contains("read-only"));
    // Its only form is sign-out.
    assert_eq!(page.body.matches("<form").count(), 1, "{}", page.body);
    assert!(page.body.contains(r#"action="/dashboard/logout""#));
    assert!(!page.body.contains("New endpoint"));

    let refused = p
        .post(
            "/dashboard/endpoints",
            &[
                ("csrf", &page.csrf()),
                ("url", "https://sneaky.example.com"),
                ("name", "sneaky"),
                ("apiVersion", "2026-02-09"),
                ("signatureScheme", "extend"),
            ],
        )
        .await;
    refused.assert_page(StatusCode::FORBIDDEN);
    assert!(refused.body.contains("read-only"), "{}", refused.body);
    assert_eq!(api_endpoint_count(&s, KEY).await, 1);

    let out = p.post("/dashboard/logout", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "read-only may sign out");
    assert!(session_rows(&s).is_empty());
}

#[tokio::test]
async fn portal_session_requests_are_checked() {
    let s = TestServer::start().await;
    for body in [
        json!({"expiresInSeconds": 59}),
        json!({"expiresInSeconds": 86_401}),
        json!({"expiresInSeconds": "soon"}),
        json!({"readOnly": "yes"}),
    ] {
        let (status, v, _) = s
            .request(
                Method::POST,
                "/portal_sessions",
                Some(KEY),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["code"], "invalid_request", "{v}");
        assert!(v["requestId"].is_string());
    }
    let (status, v, _) = s
        .request(
            Method::POST,
            "/portal_sessions",
            Some(KEY),
            Some(json!({"expiresInSeconds": 59})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["message"].as_str().unwrap().contains("60 to 86400"),
        "{v}"
    );
    for secs in [60, 86_400] {
        portal_link(&s, KEY, json!({"expiresInSeconds": secs})).await;
    }
    // An empty body takes the defaults.
    let resp = s
        .http
        .post(format!("{}/portal_sessions", s.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    // The admin key must name a workspace; no key at all is 401.
    let (status, v, _) = s
        .request(
            Method::POST,
            "/portal_sessions",
            Some(ADMIN),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], "workspace_required");
    let (status, _, _) = s
        .request(Method::POST, "/portal_sessions", None, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// --- delivery history, a delivery's page, the event-type catalog ---------

const HOUR: i64 = 3_600_000;
const WAIT: Duration = Duration::from_secs(10);

/// `s` as maud writes text and attribute values.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The deliveries a history page lists, in order (each row links its page).
fn listed(page: &Answer) -> Vec<String> {
    let needle = r#"href="/dashboard/deliveries/"#;
    let mut out = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find(needle) {
        rest = &rest[at + needle.len()..];
        out.push(rest[..rest.find('"').unwrap()].to_owned());
    }
    out
}

/// Where the page's `rel` link goes (`next`: older records, `prev`: newer).
fn rel_link(page: &Answer, rel: &str) -> Option<String> {
    let at = page.body.find(&format!(r#"rel="{rel}""#))?;
    let start = page.body[..at].rfind(r#"href=""#)? + 6;
    let end = start + page.body[start..].find('"')?;
    Some(page.body[start..end].replace("&amp;", "&"))
}

fn ids(ds: &[Value]) -> Vec<String> {
    ds.iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// A time as a `datetime-local` field holds it: UTC, to the second.
fn local(t: Timestamp) -> String {
    t.to_rfc3339()[..19].to_owned()
}

/// Every delivery has had its first attempt recorded.
fn attempted(ds: &[Value]) -> bool {
    ds.iter().all(|d| d["attemptCount"] == 1)
}

#[tokio::test]
async fn the_history_lists_deliveries_and_each_filter_narrows_it() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let s = TestServer::start_with(|c| {
        c.clock = Some(ServerClock(clock.clone()));
        // A failed attempt leaves the delivery pending for a day.
        c.retry_schedule = vec![86_400];
    })
    .await;
    let up = Receiver::start().await;
    let down = Receiver::start_replying(Reply::Status(500)).await;
    let types = ["extract_run.processed", "extract_run.failed"];
    let good = id_of(
        &s.endpoint(&up.url, &types, json!({"name": "receiving"}))
            .await,
    );
    let bad = id_of(
        &s.endpoint(&down.url, &types, json!({"name": "failing"}))
            .await,
    );

    // Two events, then an hour later another and a test event (one attempt,
    // so it fails for good) to the failing endpoint.
    s.publish("extract_run.processed", json!({"n": 1})).await;
    s.publish("extract_run.failed", json!({"n": 2})).await;
    s.wait_deliveries("maxPageSize=100", WAIT, |ds| ds.len() == 4 && attempted(ds))
        .await;
    clock.advance_millis(HOUR);
    let t1 = clock.now();
    s.publish("extract_run.processed", json!({"n": 3})).await;
    let (status, test) = s
        .post(
            &format!("/webhook_endpoints/{bad}/test"),
            json!({"eventType": "extract_run.processed"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    let all = s
        .wait_deliveries("maxPageSize=100", WAIT, |ds| {
            ds.len() == 7 && attempted(ds) && ds.iter().any(|d| d["status"] == "failed")
        })
        .await;

    let (mut b, _) = signed_in(&s, KEY).await;
    let page = b.get("/dashboard/deliveries").await;
    page.assert_page(StatusCode::OK);
    assert_eq!(listed(&page), ids(&all), "newest first, as the API lists");
    assert!(page
        .body
        .contains(r#"href="/dashboard/deliveries" aria-current="page""#));
    assert!(page.body.contains(&format!(
        r#"<a href="/dashboard/endpoints/{bad}">failing</a>"#
    )));
    assert!(page
        .body
        .contains(r#"<span class="badge badge-fail">failed</span>"#));
    assert!(page
        .body
        .contains(r#"<label for="f-since">From (UTC)</label>"#));
    assert!(!page.body.contains("rel=\"next\""), "one page");

    // Each filter, alone and together, lists what the API lists for the
    // same parameters (times in the form are UTC without a zone).
    let since = local(t1);
    let cases: Vec<(String, String, usize)> = vec![
        (format!("webhookEndpointId={bad}"), String::new(), 4),
        (format!("webhookEndpointId={good}"), String::new(), 3),
        ("eventType=extract_run.failed".into(), String::new(), 2),
        ("status=succeeded".into(), String::new(), 3),
        ("status=pending".into(), String::new(), 3),
        ("status=failed".into(), String::new(), 1),
        (format!("since={since}"), format!("since={since}Z"), 3),
        (format!("until={since}"), format!("until={since}Z"), 4),
        (
            format!("webhookEndpointId={bad}&status=pending&since={since}"),
            format!("webhookEndpointId={bad}&status=pending&since={since}Z"),
            1,
        ),
    ];
    for (dash_q, api_q, n) in cases {
        let api_q = if api_q.is_empty() {
            dash_q.clone()
        } else {
            api_q
        };
        let want = ids(&s.deliveries(&format!("{api_q}&maxPageSize=100")).await);
        assert_eq!(want.len(), n, "{api_q}");
        let page = b.get(&format!("/dashboard/deliveries?{dash_q}")).await;
        page.assert_page(StatusCode::OK);
        assert_eq!(listed(&page), want, "{dash_q}");
    }
    // The form shows the filters it was sent.
    let page = b
        .get(&format!(
            "/dashboard/deliveries?webhookEndpointId={bad}&status=failed&since={since}"
        ))
        .await;
    assert!(page.body.contains(&format!(
        r#"<option value="{bad}" selected>failing</option>"#
    )));
    assert!(page
        .body
        .contains(r#"<option value="failed" selected>failed</option>"#));
    assert!(page.body.contains(&format!(r#"value="{}"#, &since[..16])));
    assert!(page
        .body
        .contains(r#"href="/dashboard/deliveries">Clear</a>"#));

    // A time the form cannot read is shown with the form, 400.
    let refused = b.get("/dashboard/deliveries?since=yesterday").await;
    refused.assert_page(StatusCode::BAD_REQUEST);
    assert!(refused.body.contains(r#"role="alert""#), "{}", refused.body);
    assert!(refused.body.contains("From: enter a date and time"));
    assert!(listed(&refused).is_empty());
    b.get("/dashboard/deliveries?status=sideways")
        .await
        .assert_page(StatusCode::BAD_REQUEST);
    // An id that cannot be ours matches nothing.
    let none = b.get("/dashboard/deliveries?webhookEndpointId=nope").await;
    none.assert_page(StatusCode::OK);
    assert!(listed(&none).is_empty());
    assert!(none.body.contains("No deliveries match these filters."));
}

/// Follows `rel` links from `start` until there are none: each page's
/// address and deliveries.
async fn walk_pages(b: &mut Browser, start: &str, rel: &str) -> Vec<(String, Vec<String>)> {
    let mut pages = Vec::new();
    let mut href = Some(start.to_owned());
    while let Some(h) = href {
        let page = b.get(&h).await;
        page.assert_page(StatusCode::OK);
        href = rel_link(&page, rel);
        pages.push((h, listed(&page)));
        assert!(pages.len() <= 20, "runaway pagination");
    }
    pages
}

#[tokio::test]
async fn history_pages_walk_every_delivery_once_both_ways_keeping_the_filters() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    s.endpoint(
        &rx.url,
        &["extract_run.processed", "extract_run.failed"],
        json!({}),
    )
    .await;
    let events: Vec<Value> = (0..60)
        .map(|i| {
            let t = if i % 2 == 0 {
                "extract_run.processed"
            } else {
                "extract_run.failed"
            };
            json!({"eventType": t, "payload": {"i": i}})
        })
        .collect();
    let (status, v) = s.post("/events/batch", json!({ "events": events })).await;
    assert!(status.is_success(), "{v}");
    let want = ids(&s.deliveries("maxPageSize=100").await);
    assert_eq!(want.len(), 60);

    let (mut b, _) = signed_in(&s, KEY).await;
    let older = walk_pages(&mut b, "/dashboard/deliveries", "next").await;
    let sizes: Vec<usize> = older.iter().map(|(_, p)| p.len()).collect();
    assert_eq!(sizes, [25, 25, 10]);
    let walked: Vec<String> = older.iter().flat_map(|(_, p)| p.clone()).collect();
    assert_eq!(walked, want, "every delivery once, newest first");

    // Back from the last page: the same pages, newest last.
    let newer = walk_pages(&mut b, &older[2].0, "prev").await;
    let back: Vec<&Vec<String>> = newer.iter().map(|(_, p)| p).collect();
    assert_eq!(back, [&older[2].1, &older[1].1, &older[0].1]);
    let last = b.get(&older[2].0).await;
    assert!(last
        .body
        .contains(r#"<a href="/dashboard/deliveries">Newest</a>"#));

    // The links carry the filters.
    let failed = ids(&s
        .deliveries("eventType=extract_run.failed&maxPageSize=100")
        .await);
    assert_eq!(failed.len(), 30);
    let start = "/dashboard/deliveries?eventType=extract_run.failed";
    let pages = walk_pages(&mut b, start, "next").await;
    assert_eq!(pages.len(), 2);
    assert!(
        pages[1].0.starts_with(&format!("{start}&after=")),
        "{}",
        pages[1].0
    );
    let walked: Vec<String> = pages.iter().flat_map(|(_, p)| p.clone()).collect();
    assert_eq!(walked, failed);
    let back = walk_pages(&mut b, &pages[1].0, "prev").await;
    assert!(
        back[1].0.starts_with(&format!("{start}&before=")),
        "{}",
        back[1].0
    );
    assert_eq!(back[1].1, pages[0].1);

    b.get("/dashboard/deliveries?after=garbage")
        .await
        .assert_page(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_delivery_page_shows_each_attempt_as_sent_and_answered_and_retry_sends_it_again() {
    let s = TestServer::start().await;
    let rx = Receiver::start_replying(Reply::Body(200, "<b>thanks</b> & more".into())).await;
    let url = format!("{}/hooks?src=test&x=1", rx.url);
    let e = id_of(
        &s.endpoint(
            &url,
            &["extract_run.processed"],
            json!({"name": "receiver"}),
        )
        .await,
    );
    // Sent as text so that the payload's key order and number spelling are
    // what the page must keep.
    let raw = r#"{"eventType":"extract_run.processed","payload":{"z":"<script>alert(1)</script>","a":1.50}}"#;
    let resp = s
        .http
        .post(format!("{}/events", s.url))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let ev: Value = resp.json().await.unwrap();
    let id = id_of(&s.delivery_of(ev["id"].as_str().unwrap()).await);
    let api = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "succeeded")
        .await;
    let got = rx.wait_for(1, WAIT).await;

    let (mut b, _) = signed_in(&s, KEY).await;
    let path = format!("/dashboard/deliveries/{id}");
    let page = b.get(&path).await;
    page.assert_page(StatusCode::OK);
    let body = &page.body;
    assert!(body.contains(ev["id"].as_str().unwrap()));
    assert!(body.contains(&format!(
        r#"<a href="/dashboard/endpoints/{e}">receiver</a>"#
    )));
    assert!(body.contains(r#"<span class="badge badge-ok">succeeded</span>"#));
    assert!(body.contains("<dt>Test event</dt><dd>no</dd>"));
    // The payload, laid out in the order published, escaped.
    assert!(
        body.contains(&escaped(
            "{\n  \"z\": \"<script>alert(1)</script>\",\n  \"a\": 1.50\n}"
        )),
        "{body}"
    );
    assert!(!body.contains("<script>alert"));

    // The attempt: the URL, headers and body the receiver got; its answer.
    assert!(body.contains("Attempt 1"));
    assert!(body.contains(&escaped(&url)));
    let sent = &api["attempts"][0]["request"]["headers"];
    let sent = sent.as_object().expect("request headers");
    for name in [
        "x-extend-request-timestamp",
        "x-extend-request-signature",
        "content-type",
    ] {
        let value = sent[name].as_str().unwrap_or_else(|| panic!("{name}"));
        assert_eq!(got[0].header(name).as_deref(), Some(value), "{name}");
        assert!(
            body.contains(&format!(
                r#"<th scope="row"><code>{name}</code></th><td><code>{}</code></td>"#,
                escaped(value)
            )),
            "{name}: {body}"
        );
    }
    let received = String::from_utf8(got[0].body.to_vec()).unwrap();
    assert!(body.contains(&escaped(&received)), "the body as sent");
    assert!(
        body.contains("&lt;b&gt;thanks&lt;/b&gt; &amp; more"),
        "{body}"
    );
    assert!(body.contains(r#"<span class="badge badge-ok">200</span>"#));

    // Retry: one more attempt, and back to this page.
    let action = format!("{path}/retry");
    assert!(body.contains(&format!(r#"action="{action}""#)));
    let forged = b.post(&action, &[("csrf", "forged")]).await;
    forged.assert_page(StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let retried = b.post(&action, &[("csrf", &csrf)]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert_eq!(retried.location(), path);
    rx.wait_for(2, WAIT).await;
    s.wait_delivery(&id, WAIT, |d| {
        d["attemptCount"] == 2 && d["status"] == "succeeded"
    })
    .await;
    assert_eq!(rx.received().len(), 2, "the forged POST sent nothing");
    let page = b.follow(&retried).await;
    page.assert_page(StatusCode::OK);
    assert!(page.body.contains("Attempts (2)"));
    assert!(page.body.contains("Attempt 2"));
    assert!(page.body.contains("<dt>Sent by hand</dt><dd>yes"));

    for unknown in [
        "/dashboard/deliveries/webhook_delivery_01JNX3Q6W0K8V2C7E5R9T4Y1ZB",
        "/dashboard/deliveries/nope",
    ] {
        b.get(unknown).await.assert_page(StatusCode::NOT_FOUND);
        b.post(&format!("{unknown}/retry"), &[("csrf", &csrf)])
            .await
            .assert_page(StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn another_workspaces_delivery_is_not_found_and_read_only_sessions_cannot_retry() {
    let s = TestServer::start().await;
    let rx = Receiver::start().await;
    let (_, key2) = s.workspace("globex").await;
    s.post_as(
        &key2,
        "/webhook_endpoints",
        json!({
            "url": rx.url, "name": "theirs", "enabledEvents": ["extract_run.processed"],
            "apiVersion": "2026-02-09",
        }),
    )
    .await;
    let ev2 = s
        .post_as(
            &key2,
            "/events",
            json!({"eventType": "extract_run.processed", "payload": {}}),
        )
        .await;
    s.endpoint(&rx.url, &["extract_run.processed"], json!({}))
        .await;
    let ev = s.publish("extract_run.processed", json!({})).await;
    let ours = id_of(&s.delivery_of(ev["id"].as_str().unwrap()).await);
    rx.wait_for(2, WAIT).await;
    let their_delivery = |key: String| {
        let s = &s;
        let ev2 = ev2["id"].as_str().unwrap().to_owned();
        async move {
            let (status, v, _) = s
                .request(
                    Method::GET,
                    &format!("/webhook_deliveries?eventId={ev2}"),
                    Some(&key),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            v["data"][0].clone()
        }
    };
    let theirs = id_of(&their_delivery(key2.clone()).await);
    s.wait_delivery(&ours, WAIT, |d| d["attemptCount"] == 1)
        .await;

    let (mut b, page) = signed_in(&s, KEY).await;
    let csrf = page.csrf();
    let foreign = b.get(&format!("/dashboard/deliveries/{theirs}")).await;
    foreign.assert_page(StatusCode::NOT_FOUND);
    b.post(
        &format!("/dashboard/deliveries/{theirs}/retry"),
        &[("csrf", &csrf)],
    )
    .await
    .assert_page(StatusCode::NOT_FOUND);
    let history = b.get("/dashboard/deliveries").await;
    assert_eq!(listed(&history), std::slice::from_ref(&ours));

    // A read-only portal session sees the delivery but no Retry, and its
    // POST is refused.
    let link = portal_link(&s, KEY, json!({"readOnly": true})).await;
    let mut p = Browser::new(&s);
    p.get(link["url"].as_str().unwrap())
        .await
        .assert_page(StatusCode::OK);
    let page = p.get(&format!("/dashboard/deliveries/{ours}")).await;
    page.assert_page(StatusCode::OK);
    assert!(!page.body.contains("/retry"), "{}", page.body);
    assert!(!page.body.contains(">Retry<"));
    assert_eq!(page.body.matches("<form").count(), 1, "sign-out only");
    let refused = p
        .post(
            &format!("/dashboard/deliveries/{ours}/retry"),
            &[("csrf", &page.csrf())],
        )
        .await;
    refused.assert_page(StatusCode::FORBIDDEN);
    assert!(refused.body.contains("read-only"));
    p.get("/dashboard/deliveries")
        .await
        .assert_page(StatusCode::OK);

    // Nothing was sent again, in either workspace.
    assert_eq!(rx.received().len(), 2);
    assert_eq!(s.delivery(&ours).await["attemptCount"], 1);
    assert_eq!(their_delivery(key2).await["attemptCount"], 1);
}

#[tokio::test]
async fn the_catalog_page_lists_a_versions_types_with_their_examples() {
    let s = TestServer::start().await;
    let (mut b, _) = signed_in(&s, KEY).await;
    let (status, current) = s.get("/event_types").await;
    assert_eq!(status, StatusCode::OK);
    let current_version = current["apiVersion"].as_str().unwrap().to_owned();
    let default = b.get("/dashboard/event-types").await;
    default.assert_page(StatusCode::OK);
    assert!(default
        .body
        .contains(r#"href="/dashboard/event-types" aria-current="page""#));
    assert!(default
        .body
        .contains(r#"<label for="version">API version</label>"#));

    for version in ["2025-04-21", "2026-02-09", current_version.as_str()] {
        let (status, api) = s.get(&format!("/event_types?apiVersion={version}")).await;
        assert_eq!(status, StatusCode::OK, "{api}");
        let page = if version == current_version {
            default.body.clone()
        } else {
            let a = b
                .get(&format!("/dashboard/event-types?apiVersion={version}"))
                .await;
            a.assert_page(StatusCode::OK);
            a.body
        };
        assert!(
            page.contains(&format!(r#"<option value="{version}" selected>"#)),
            "{version}"
        );
        let types = api["data"].as_array().unwrap();
        assert!(!types.is_empty());
        assert_eq!(
            page.matches(r#"class="card event-type""#).count(),
            types.len(),
            "{version}"
        );
        for t in types {
            let name = t["name"].as_str().unwrap();
            assert!(
                page.contains(&format!("<code>{}</code></h2>", escaped(name))),
                "{version}: {name}"
            );
            let description = t["description"].as_str().unwrap();
            if !description.is_empty() {
                assert!(page.contains(&escaped(description)), "{name}");
            }
            let example = serde_json::to_string_pretty(&t["examplePayload"]).unwrap();
            assert!(page.contains(&escaped(&example)), "{version}: {name}");
        }
    }
    b.get("/dashboard/event-types?apiVersion=1999-01-01")
        .await
        .assert_page(StatusCode::BAD_REQUEST);
}

/// The history, a delivery and the catalog in a real browser: filtering
/// through the form, opening a delivery, Retry, and every page fitting a
/// phone's width (screenshots into `HOOKRELAY_SCREENSHOTS` when set).
#[tokio::test]
async fn history_delivery_and_catalog_pages_in_a_browser() {
    use crate::support::browser::{Browser as Chrome, DESKTOP, PHONE};
    let Some(c) = Chrome::start().await else {
        return;
    };
    let s = TestServer::start().await;
    let up = Receiver::start_replying(Reply::Body(200, r#"{"received":true}"#.into())).await;
    let down = Receiver::start_replying(Reply::Status(503)).await;
    let types = ["extract_run.processed", "extract_run.failed"];
    s.endpoint(&up.url, &types, json!({"name": "Receiving endpoint"}))
        .await;
    s.endpoint(&down.url, &types, json!({"name": "Failing endpoint"}))
        .await;
    for i in 0..3 {
        s.publish(
            "extract_run.processed",
            json!({"run": {"id": format!("run_{i}"), "status": "PROCESSED"}}),
        )
        .await;
    }
    s.wait_deliveries("maxPageSize=100", WAIT, |ds| ds.len() == 6 && attempted(ds))
        .await;

    c.open(&format!("{}/dashboard/login", s.url)).await;
    c.fill("key", KEY).await;
    c.submit("form").await;
    c.wait_for_path("/dashboard/endpoints").await;
    c.click_link("Deliveries").await;
    c.wait_for_path("/dashboard/deliveries").await;
    assert_eq!(c.table_rows("table.cards").await.len(), 6);
    c.fill("Endpoint", "Receiving endpoint").await;
    c.fill("Status", "succeeded").await;
    c.click_button("Filter").await;
    c.wait_for_url("a filtered history", |u| {
        u.query().is_some_and(|q| q.contains("status=succeeded"))
    })
    .await;
    let rows = c.table_rows("table.cards").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r[2] == "Receiving endpoint" && r[3] == "succeeded"));
    c.screenshot("dashboard-deliveries").await;
    fits_a_phone(&c, PHONE, DESKTOP).await;

    let first = c
        .js(
            "return document.querySelector('table.cards tbody th a').getAttribute('href')",
            vec![],
        )
        .await;
    let path = first.as_str().unwrap().to_owned();
    c.open(&path).await;
    c.wait_for_text("Attempts (1)").await;
    c.wait_for_text("\"received\":true").await;
    c.screenshot("dashboard-delivery").await;
    fits_a_phone(&c, PHONE, DESKTOP).await;
    c.js(
        "document.getElementById('attempts-title').scrollIntoView()",
        vec![],
    )
    .await;
    c.screenshot("dashboard-delivery-attempts").await;
    c.click_button("Retry").await;
    c.wait_for_path(&path).await;
    eventually(WAIT, || async {
        c.open(&path).await;
        let text = c.text().await;
        if text.contains("Attempts (2)") {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;

    c.click_link("Event types").await;
    c.wait_for_path("/dashboard/event-types").await;
    c.fill("API version", "2025-04-21").await;
    c.click_button("Show").await;
    c.wait_for_url("another version", |u| {
        u.query() == Some("apiVersion=2025-04-21")
    })
    .await;
    c.wait_for_text("in API version 2025-04-21").await;
    c.screenshot("dashboard-event-types").await;
    fits_a_phone(&c, PHONE, DESKTOP).await;
}

/// At `phone` width nothing on the page is wider than the screen.
async fn fits_a_phone(
    c: &crate::support::browser::Browser,
    phone: crate::support::browser::Viewport,
    back: crate::support::browser::Viewport,
) {
    c.set_viewport(phone).await;
    let widths = c
        .js(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await;
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "wider than a phone on {}: {widths}",
        c.path().await
    );
    c.set_viewport(back).await;
}

// --- how fast the history answers with a long history --------------------

/// Fills the database of `settings`, through a store of its own, with `n`
/// finished deliveries of workspace `ws` to `endpoint`, one event each,
/// spread over the last 30 days (a fifth of type `extract_run.failed`, a
/// tenth failed), each with one recorded attempt. Returns their ids,
/// oldest first.
async fn seed_history(settings: &Settings, ws: &str, endpoint: &str, n: usize) -> Vec<String> {
    use hookrelay_core::ids::{DeliveryId, EndpointId, EventId, WorkspaceId};
    use hookrelay_core::model::{Attempt, DeliveryStatus, Event};
    use hookrelay_core::parsed::EventType;
    use hookrelay_store::{Lease, NewDelivery, NewEvent, Outcome, Store};

    let store: Arc<dyn Store> = match &settings.database {
        Database::Sqlite(path) => {
            Arc::new(hookrelay_store::sqlite::SqliteStore::open(path).expect("open SQLite"))
        }
        Database::Postgres(url) => Arc::new(
            hookrelay_store::postgres::PostgresStore::connect(url)
                .await
                .expect("connect PostgreSQL"),
        ),
    };
    let ws = WorkspaceId::from_trusted(ws.to_owned());
    let endpoint = EndpointId::from_trusted(endpoint.to_owned());
    let now = SystemClock.now();
    let step = 30 * 24 * HOUR / n as i64;
    let lease = Lease {
        owner: "seed".into(),
        until: now.plus_millis(HOUR),
    };
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(1000) {
        let (mut events, mut outcomes) = (Vec::new(), Vec::new());
        for i in start..(start + 1000).min(n) {
            let at = Timestamp(now.0 - (n - i) as i64 * step);
            let event_type = if i % 5 == 0 {
                "extract_run.failed"
            } else {
                "extract_run.processed"
            };
            let failed = i % 10 == 3;
            let event = Event {
                id: EventId::at(at.0),
                workspace_id: ws.clone(),
                event_type: EventType::from_trusted(event_type.into()),
                payload: format!(
                    r#"{{"object":"extract_run","id":"ex_{i}","status":"PROCESSED","metadata":{{"customerId":"cust_{}","batch":{i}}}}}"#,
                    i % 97
                ),
                resource: None,
                previous_data: None,
                idempotency_key: None,
                created_at: at,
                delivery_count: 1,
                test: false,
            };
            let d = NewDelivery {
                id: DeliveryId::at(at.0),
                endpoint_id: endpoint.clone(),
                event_type: event_type.into(),
                api_version: "2026-02-09".into(),
            };
            ids.push(d.id.to_string());
            outcomes.push(Outcome {
                delivery_id: d.id.clone(),
                endpoint_id: endpoint.clone(),
                lease_owner: Some("seed".into()),
                attempt: Some(Attempt {
                    attempt_number: 1,
                    started_at: at,
                    duration_ms: 42,
                    request_url: "https://hooks.example.com/in".into(),
                    request_headers: vec![
                        ("content-type".into(), "application/json".into()),
                        ("user-agent".into(), "hookrelay/0.0.0".into()),
                        (
                            "x-extend-request-timestamp".into(),
                            (at.0 / 1000).to_string(),
                        ),
                        ("x-extend-request-signature".into(), "ab".repeat(32)),
                    ],
                    response_status: Some(if failed { 500 } else { 200 }),
                    response_headers: vec![("content-type".into(), "text/plain".into())],
                    response_body: Some(if failed { "boom" } else { "ok" }.into()),
                    error_kind: failed.then_some(hookrelay_core::model::ErrorKind::HttpStatus),
                    error_message: failed.then(|| "HTTP 500".to_owned()),
                }),
                status: if failed {
                    DeliveryStatus::Failed
                } else {
                    DeliveryStatus::Succeeded
                },
                attempt_count: 1,
                next_attempt_at: None,
                endpoint_effect: None,
            });
            events.push(NewEvent {
                event,
                deliveries: vec![d],
            });
        }
        for r in store.publish(events, Some(lease.clone())).await.unwrap() {
            r.expect("seeded event");
        }
        store.record_outcomes(outcomes).await.unwrap();
    }
    store.close().await;
    if let Database::Postgres(url) = &settings.database {
        // Autovacuum analyzes a table this size long before anyone pages
        // through it; right after a bulk load the planner has no
        // statistics yet and may sort a whole workspace for one page.
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect PostgreSQL");
        let conn = tokio::spawn(conn);
        client.batch_execute("ANALYZE").await.expect("ANALYZE");
        drop(client);
        let _ = conn.await;
    }
    ids
}

/// The median and the slowest of `runs` GETs of `path` (after 3 unmeasured
/// ones), in milliseconds, measured by the client over loopback: the
/// server's time plus a little for HTTP.
async fn time_page(b: &mut Browser, path: &str, runs: usize) -> (f64, f64, Answer) {
    for _ in 0..3 {
        b.get(path).await.assert_page(StatusCode::OK);
    }
    let mut took = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let a = b.get(path).await;
        took.push(start.elapsed().as_secs_f64() * 1000.0);
        a.assert_page(StatusCode::OK);
        last = Some(a);
    }
    took.sort_by(f64::total_cmp);
    (took[runs / 2], took[runs - 1], last.unwrap())
}

async fn history_with(backend: Backend) {
    const N: usize = 100_000;
    let Some(s) = TestServer::on(backend, |_| {}).await else {
        return;
    };
    let rx = Receiver::start().await;
    let e = id_of(
        &s.endpoint(&rx.url, &["extract_run.processed"], json!({}))
            .await,
    );
    let ws = s.workspace_id.clone();
    let started = std::time::Instant::now();
    let mut ids = Vec::new();
    let s = s
        .restart_after(|settings| {
            let ids = &mut ids;
            let (ws, e) = (ws.clone(), e.clone());
            async move {
                *ids = seed_history(&settings, &ws, &e, N).await;
            }
        })
        .await;
    eprintln!(
        "{backend:?}: seeded {N} deliveries in {:?}",
        started.elapsed()
    );

    let (mut b, _) = signed_in(&s, KEY).await;
    let middle = &ids[N / 2];
    let day = 24 * HOUR;
    let now = SystemClock.now();
    let range = format!(
        "since={}&until={}",
        local(now.plus_millis(-15 * day)),
        local(now.plus_millis(-14 * day))
    );
    let deep = hookrelay_core::cursor::encode(middle, hookrelay_core::cursor::SortDir::Desc);
    let pages: Vec<(&str, String, bool)> = vec![
        ("history, first page", "/dashboard/deliveries".into(), true),
        (
            "history, one endpoint",
            format!("/dashboard/deliveries?webhookEndpointId={e}"),
            true,
        ),
        (
            "history, a day 15 days back",
            format!("/dashboard/deliveries?{range}"),
            true,
        ),
        (
            "history, a day back, failed",
            format!("/dashboard/deliveries?{range}&status=failed"),
            true,
        ),
        (
            "history, 50,000 records deep",
            format!("/dashboard/deliveries?after={deep}"),
            true,
        ),
        (
            "history, status=failed (1 in 10)",
            "/dashboard/deliveries?status=failed".into(),
            true,
        ),
        (
            "history, no match at all (whole index)",
            "/dashboard/deliveries?status=cancelled".into(),
            false,
        ),
        (
            "a delivery",
            format!("/dashboard/deliveries/{middle}"),
            true,
        ),
    ];
    let mut slow = Vec::new();
    for (what, path, bounded) in &pages {
        let (median, max, page) = time_page(&mut b, path, 21).await;
        let rows = listed(&page).len();
        let shown = if path.starts_with("/dashboard/deliveries?") || path == "/dashboard/deliveries"
        {
            if *bounded {
                assert_eq!(rows, 25, "{what}: a full page");
            }
            format!("{rows} rows")
        } else {
            assert!(page.body.contains("Attempt 1"), "{what}");
            "1 attempt".to_owned()
        };
        eprintln!("{backend:?}: {what:<42} median {median:6.1} ms, max {max:6.1} ms ({shown})");
        if *bounded && median >= 100.0 {
            slow.push(format!("{what}: {median:.1} ms"));
        }
    }
    assert!(slow.is_empty(), "slower than 100 ms: {slow:?}");
}

/// With 100,000 deliveries in history, each history page (filtered or not,
/// deep or not) and a delivery's page answer in under 100 ms (median of 21).
/// A measurement, not run by default: `cargo test --release -p hookrelay
/// --test it -- --ignored --nocapture history_stays_fast` (PostgreSQL too
/// with `HOOKRELAY_TEST_POSTGRES_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: seeds 100,000 deliveries"]
async fn history_stays_fast_with_100k_deliveries_sqlite() {
    history_with(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: seeds 100,000 deliveries"]
async fn history_stays_fast_with_100k_deliveries_postgres() {
    history_with(Backend::Postgres).await;
}
