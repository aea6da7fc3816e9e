//! The dashboard and the customer portal end to end in a real headless
//! Chromium ([`Browser`]), against a real server and a real recording
//! receiver: every step is typed, clicked or submitted through the pages as
//! a person would, and what the pages did is checked through the JSON API
//! and the receiver. Each scenario also saves screenshots of the pages it
//! passes through (desktop and phone, when `HOOKRELAY_SCREENSHOTS` is set;
//! see the browser harness).
//!

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::{verify_extend, Receiver, Reply, TestServer, ADMIN, KEY};

/// How long a test waits for the server to do something in the background
/// (a delivery) before failing; only the failing case waits this long.
const WAIT: Duration = Duration::from_secs(10);

/// The session cookie's name.
const SESSION: &str = "hookrelay_session";

/// An API version and one of its events, for endpoints made in the form.
const VERSION: &str = "2026-02-09";
const EVENT: &str = "extract_run.processed";

/// A browser pointed at `s`, or `None` when the test is skipped.
async fn browser(s: &TestServer) -> Option<Browser> {
    let mut b = Browser::start().await?;
    b.set_base(&s.url);
    Some(b)
}

/// Types `key` into the sign-in form and submits it; waits for `landing`.
async fn sign_in(b: &Browser, key: &str, landing: &str) {
    b.open("/dashboard/login").await;
    b.fill("API key", key).await;
    b.click_button("Sign in").await;
    b.wait_for_path(landing).await;
}

/// Creates an endpoint through the API with `key`.
async fn api_endpoint(s: &TestServer, key: &str, name: &str, url: &str) -> Value {
    s.post_as(
        key,
        "/webhook_endpoints",
        json!({
            "url": url,
            "name": name,
            "enabledEvents": [EVENT],
            "apiVersion": VERSION,
        }),
    )
    .await
}

/// Sends `body` to `path` with the admin key in workspace `ws`.
async fn as_admin(s: &TestServer, ws: &str, method: Method, path: &str, body: Value) -> Value {
    let resp = s
        .http
        .request(method, format!("{}{path}", s.url))
        .bearer_auth(ADMIN)
        .header("x-extend-workspace-id", ws)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let v: Value = resp.json().await.expect("JSON");
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// The endpoints of the workspace `key` belongs to, through the API.
async fn api_endpoints(s: &TestServer, key: &str) -> Vec<Value> {
    let (status, v, _) = s
        .request(Method::GET, "/webhook_endpoints", Some(key), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["data"].as_array().cloned().unwrap_or_default()
}

/// A one-time portal link into the workspace of `key`.
async fn portal_link(s: &TestServer, key: &str, body: Value) -> String {
    let (status, v, _) = s
        .request(Method::POST, "/portal_sessions", Some(key), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["url"].as_str().expect("url").to_owned()
}

/// The whole page's markup.
async fn html(b: &Browser) -> String {
    let v = b
        .js("return document.documentElement.outerHTML", vec![])
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// All the page's text, shown or not (closed `<details>` included).
async fn all_text(b: &Browser) -> String {
    let v = b.js("return document.body.textContent", vec![]).await;
    v.as_str().unwrap_or_default().to_owned()
}

/// What a person could act on: each form's action, and the text of every
/// button.
async fn controls(b: &Browser) -> (Vec<String>, Vec<String>) {
    let v = b
        .js(
            "const buttons = document.querySelectorAll(
                 'button, input[type=submit], input[type=button], input[type=reset], [role=button]');
             return [
               [...document.forms].map(f => f.getAttribute('action') || ''),
               [...buttons].map(b => (b.innerText || b.value || '').trim()),
             ];",
            vec![],
        )
        .await;
    serde_json::from_value(v).expect("forms and buttons")
}

/// Every link's `href` on the page.
async fn links(b: &Browser) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))",
            vec![],
        )
        .await;
    serde_json::from_value(v).expect("hrefs")
}

/// Submits the form holding the control labelled `field`, as pressing
/// Enter in it would (whatever its button is called).
async fn submit_form_of(b: &Browser, field: &str) {
    b.js(
        "const label = [...document.querySelectorAll('label')]
             .find(l => l.textContent.trim() === arguments[0]);
         const control = label.control || label.querySelector('input, select, textarea');
         control.form.requestSubmit();",
        vec![json!(field)],
    )
    .await;
}

/// Presses `keys` one after another on the keyboard.
async fn press(b: &Browser, keys: &[char]) {
    let mut seq = KeyActions::new("keyboard".into());
    for &k in keys {
        seq = seq
            .then(KeyAction::Down { value: k })
            .then(KeyAction::Up { value: k });
    }
    b.client()
        .perform_actions(seq)
        .await
        .unwrap_or_else(|e| panic!("keys {keys:?}: {e}"));
}

/// The focused element: what it is, where, and how its focus is drawn.
async fn focused(b: &Browser) -> Value {
    b.js(
        "const e = document.activeElement;
         const s = getComputedStyle(e);
         const r = e.getBoundingClientRect();
         return {
           tag: e.tagName.toLowerCase(), id: e.id, class: e.className,
           text: (e.innerText || '').trim(),
           focusVisible: e.matches(':focus-visible'),
           outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth),
           top: r.top, bottom: r.bottom, height: r.height,
         };",
        vec![],
    )
    .await
}

/// Asserts the focused element is on screen with a drawn focus ring.
fn assert_focus_ring(f: &Value) {
    assert_eq!(f["focusVisible"], true, "{f}");
    assert_ne!(f["outlineStyle"], "none", "{f}");
    assert!(f["outlineWidth"].as_f64().unwrap() >= 2.0, "{f}");
    assert!(f["top"].as_f64().unwrap() >= 0.0, "on screen: {f}");
    assert!(f["height"].as_f64().unwrap() > 0.0, "{f}");
}

#[tokio::test]
async fn sign_in_with_the_workspace_key_keeps_no_key_in_the_browser() {
    let s = TestServer::start().await;
    // Something to list (no event is published, so nothing is sent).
    api_endpoint(
        &s,
        KEY,
        "Billing",
        "https://billing.example.com/hooks/extend",
    )
    .await;
    let staging = api_endpoint(
        &s,
        KEY,
        "Analytics (staging)",
        "https://staging.analytics.example.com/webhooks/extend/incoming",
    )
    .await;
    s.post(
        &format!("/webhook_endpoints/{}", staging["id"].as_str().unwrap()),
        json!({"status": "disabled"}),
    )
    .await;
    api_endpoint(
        &s,
        KEY,
        "Orders service",
        "https://orders.example.com/webhooks",
    )
    .await;
    let Some(b) = browser(&s).await else { return };

    // Unsigned, the dashboard leads to the sign-in form.
    b.open("/dashboard").await;
    b.wait_for_path("/dashboard/login").await;
    assert_eq!(b.title().await, "Sign in · hookrelay");
    b.screenshot("sign-in").await;

    // A wrong key: refused on the form, no session.
    b.fill("API key", "sk_not_a_key").await;
    b.click_button("Sign in").await;
    b.wait_for_text("That key is not valid").await;
    assert_eq!(b.cookie(SESSION).await, None);
    b.screenshot("sign-in-error").await;

    b.fill("API key", KEY).await;
    b.click_button("Sign in").await;
    b.wait_for_path("/dashboard/endpoints").await;
    let text = b.wait_for_text("Orders service").await;
    assert!(text.contains("Billing") && text.contains("Analytics (staging)"));
    assert!(
        text.contains(&s.workspace_id),
        "the header names the workspace"
    );
    assert_eq!(
        b.table_head("table.cards").await,
        [
            "NAME",
            "URL",
            "STATUS",
            "API VERSION",
            "SIGNATURE PROFILE",
            "CREATED",
            "24 H VOLUME",
            "SUCCESS RATE"
        ]
    );
    let rows = b.table_rows("table.cards").await;
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        ["Orders service", "Analytics (staging)", "Billing"],
        "newest first"
    );
    assert_eq!(rows[1][2], "disabled");
    b.screenshot("endpoints").await;

    // The session cookie: HttpOnly (no script reads it), SameSite=Strict,
    // only under /dashboard, kept no longer than the session lives.
    let cookie = b.cookie(SESSION).await.expect("session cookie");
    assert!(cookie.http_only, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"), "{cookie:?}");
    assert_eq!(cookie.path.as_deref(), Some("/dashboard"));
    assert!(!cookie.secure, "plain http here");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lifetime = s.settings.dashboard_session_lifetime.as_secs() as i64;
    let expires = cookie.expires.expect("an expiry");
    assert!(
        (now..=now + lifetime + 5).contains(&expires),
        "{expires} within {lifetime} s of {now}"
    );
    assert_eq!(b.js("return document.cookie", vec![]).await, json!(""));

    // The key is nowhere: no cookie, not in the page, not in storage.
    let all = b.client().get_all_cookies().await.expect("cookies");
    for c in &all {
        assert!(!c.value().contains(KEY), "{c:?}");
    }
    assert!(!html(&b).await.contains(KEY));
    let stored = b
        .js(
            "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage)",
            vec![],
        )
        .await;
    assert_eq!(stored, json!("{}{}"));

    // Signed in, the sign-in page sends the browser on.
    b.open("/dashboard/login").await;
    b.wait_for_path("/dashboard/endpoints").await;
}

#[tokio::test]
async fn an_endpoint_created_in_the_form_signs_with_the_secret_it_shows() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;
    b.wait_for_text("No endpoints yet").await;

    let url = format!("{}/hooks/orders", r.url);
    b.click_link("New endpoint").await;
    b.wait_for_url("#new-endpoint", |u| u.fragment() == Some("new-endpoint"))
        .await;
    b.fill("URL", &url).await;
    b.fill("Name", "Orders service").await;
    b.fill("API version", VERSION).await;
    b.check(EVENT, true).await;
    b.fill("Signature profile", "extend").await;
    b.screenshot("endpoint-new").await;
    b.click_button("Create endpoint").await;

    b.wait_for_text("Endpoint created").await;
    let secret = b
        .wait_for("code.secret")
        .await
        .text()
        .await
        .expect("secret text");
    assert!(
        secret.starts_with("wss_"),
        "the extend profile's secret: {secret}"
    );
    b.screenshot("endpoint-created").await;

    // The API finds it, made by the dashboard, as filled in.
    let list = api_endpoints(&s, KEY).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let e = &list[0];
    assert_eq!(e["name"], "Orders service");
    assert_eq!(e["url"], url.as_str());
    assert_eq!(e["apiVersion"], VERSION);
    assert_eq!(e["enabledEvents"], json!([EVENT]));
    assert_eq!(e["signatureScheme"], "extend");
    assert_eq!(e["createdBy"]["type"], "dashboard");
    let id = e["id"].as_str().unwrap().to_owned();

    // The secret shown is the one it signs with: a test event sent through
    // the API reaches the receiver signed with it.
    s.post_as(KEY, &format!("/webhook_endpoints/{id}/test"), json!({}))
        .await;
    let got = r.wait_for(1, WAIT).await;
    assert_eq!(got[0].path_and_query, "/hooks/orders");
    verify_extend(&got[0], &secret).expect("signed with the secret shown");
    let other = format!("wss_{}", "A".repeat(secret.len() - 4));
    assert!(verify_extend(&got[0], &other).is_err(), "and no other");

    // Its page, from the link on this one; the secret is not shown again.
    b.click_link("View endpoint").await;
    b.wait_for_path(&format!("/dashboard/endpoints/{id}")).await;
    let text = b.wait_for_text(&id).await;
    assert!(text.contains(&url) && text.contains(EVENT), "{text}");
    assert!(!html(&b).await.contains(&secret));
    b.screenshot("endpoint-detail").await;

    // And the list links to it.
    b.click_link("← Endpoints").await;
    b.wait_for_path("/dashboard/endpoints").await;
    assert_eq!(b.table_rows("table.cards").await[0][0], "Orders service");
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;

    b.fill("URL", &format!("{}/hooks", r.url)).await;
    b.fill("Name", "forged").await;
    b.check(EVENT, true).await;
    // What a forged cross-site form would lack: the token.
    let removed = b
        .js(
            "const f = document.querySelectorAll('#new-endpoint input[name=csrf]');
             f.forEach(i => i.remove());
             return f.length",
            vec![],
        )
        .await;
    assert_eq!(removed, json!(1));
    b.click_button("Create endpoint").await;

    b.wait_for_text("Not allowed").await;
    assert_eq!(b.title().await, "Not allowed · hookrelay");
    b.screenshot("forbidden").await;
    assert_eq!(api_endpoints(&s, KEY).await, Vec::<Value>::new());
    assert!(r.received().is_empty());

    // The session is untouched, and the page's own form still works.
    b.open("/dashboard/endpoints").await;
    b.fill("URL", &format!("{}/hooks", r.url)).await;
    b.fill("Name", "real").await;
    b.click_button("Create endpoint").await;
    b.wait_for_text("Endpoint created").await;
    assert_eq!(api_endpoints(&s, KEY).await.len(), 1);
}

#[tokio::test]
async fn a_portal_link_shows_its_workspace_only_and_a_read_only_one_offers_no_changes() {
    let s = TestServer::start().await;
    let (_ws_a, key_a) = s.workspace("Acme Logistics").await;
    let (ws_b, _) = s.workspace("Globex").await;
    api_endpoint(
        &s,
        &key_a,
        "Shipments",
        "https://acme.example.com/hooks/shipments",
    )
    .await;
    let ours = api_endpoint(
        &s,
        &key_a,
        "Invoices",
        "https://acme.example.com/hooks/invoices",
    )
    .await;
    let theirs = as_admin(
        &s,
        &ws_b,
        Method::POST,
        "/webhook_endpoints",
        json!({
            "url": "https://globex.example.com/secret-hook",
            "name": "Globex private hook",
            "enabledEvents": [EVENT],
            "apiVersion": VERSION,
        }),
    )
    .await;
    let theirs_id = theirs["id"].as_str().unwrap();
    let nothing_of_b = |text: &str| {
        for leak in [
            "Globex",
            "globex.example.com",
            "secret-hook",
            ws_b.as_str(),
            theirs_id,
        ] {
            assert!(!text.contains(leak), "{leak} shown:\n{text}");
        }
    };

    let link = portal_link(&s, &key_a, json!({"expiresInSeconds": 900})).await;
    let Some(b) = browser(&s).await else { return };
    assert_eq!(b.client().get_all_cookies().await.unwrap().len(), 0);
    b.open(&link).await;
    b.wait_for_path("/dashboard/endpoints").await;
    let text = b.wait_for_text("Acme Logistics").await;
    assert!(text.contains("Shipments") && text.contains("Invoices"));
    assert!(text.contains("portal"), "marked as a portal session");
    nothing_of_b(&html(&b).await);
    let (_, buttons) = controls(&b).await;
    assert!(
        buttons.contains(&"Create endpoint".to_owned()),
        "{buttons:?}"
    );
    b.screenshot("portal").await;

    // Its own endpoint opens; B's, typed into the address bar, is not found.
    b.click_link("Invoices").await;
    b.wait_for_path(&format!(
        "/dashboard/endpoints/{}",
        ours["id"].as_str().unwrap()
    ))
    .await;
    b.open(&format!("/dashboard/endpoints/{theirs_id}")).await;
    b.wait_for_text("Not found").await;
    assert_eq!(b.title().await, "Not found · hookrelay");
    nothing_of_b(&html(&b).await);
    b.screenshot("not-found").await;

    // No workspace picker, no API keys.
    for path in [
        "/dashboard/workspaces",
        "/dashboard/api_keys",
        "/dashboard/api-keys",
        "/dashboard/keys",
    ] {
        b.open(path).await;
        b.wait_for_text("Not found").await;
        nothing_of_b(&html(&b).await);
    }
    b.open("/dashboard/endpoints").await;
    let hrefs = links(&b).await;
    assert!(
        hrefs
            .iter()
            .all(|h| !h.contains("workspaces") && !h.contains("key")),
        "{hrefs:?}"
    );
    assert!(!b.text().await.contains("Switch workspace"));
    // The JSON API takes no dashboard cookie.
    b.open("/api_keys").await;
    b.wait_for_text("unauthorized").await;

    // Used once: a second visit, from a browser without cookies, is refused.
    // (WebDriver deletes the cookies the current page would send, so from
    // a page under the session cookie's path.)
    b.open("/dashboard/endpoints").await;
    b.client().delete_all_cookies().await.unwrap();
    assert_eq!(b.client().get_all_cookies().await.unwrap().len(), 0);
    b.open(&link).await;
    b.wait_for_text("already been used").await;
    assert_eq!(b.cookie(SESSION).await, None);

    // A read-only link: the same pages, nothing to press but sign-out (and
    // the activity chart's window picker, a GET that changes nothing).
    let read_only = portal_link(
        &s,
        &key_a,
        json!({"readOnly": true, "expiresInSeconds": 600}),
    )
    .await;
    b.open(&read_only).await;
    b.wait_for_path("/dashboard/endpoints").await;
    let text = b.wait_for_text("read-only").await;
    assert!(text.contains("Shipments"), "{text}");
    assert!(!text.contains("New endpoint"), "{text}");
    let (forms, buttons) = controls(&b).await;
    assert_eq!(forms, ["/dashboard/logout", "/dashboard/endpoints"]);
    assert_eq!(buttons, ["Sign out", "Show"]);
    b.screenshot("portal-read-only").await;
    b.click_link("Invoices").await;
    b.wait_for_text(ours["id"].as_str().unwrap()).await;
    let (forms, buttons) = controls(&b).await;
    let page = format!("/dashboard/endpoints/{}", ours["id"].as_str().unwrap());
    assert_eq!(forms, ["/dashboard/logout", page.as_str()]);
    assert_eq!(buttons, ["Sign out", "Show"]);
    b.click_button("Sign out").await;
    b.wait_for_text("You have signed out").await;
}

#[tokio::test]
async fn signing_out_ends_the_session_for_good() {
    let s = TestServer::start().await;
    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;
    let old = b.cookie(SESSION).await.expect("session cookie");

    b.click_button("Sign out").await;
    b.wait_for_path("/dashboard/login").await;
    b.wait_for_text("You have signed out").await;
    assert_eq!(b.cookie(SESSION).await, None);
    b.open("/dashboard").await;
    b.wait_for_path("/dashboard/login").await;

    // The old cookie, put back, no longer opens anything.
    // (Through DevTools: chromedriver refuses WebDriver's Add Cookie for
    // this loopback host.)
    let set = b
        .cdp(
            "Network.setCookie",
            json!({
                "name": SESSION,
                "value": old.value,
                "url": format!("{}/dashboard", s.url),
                "path": "/dashboard",
                "httpOnly": true,
                "sameSite": "Strict",
            }),
        )
        .await;
    assert_eq!(set["success"], json!(true), "{set}");
    assert_eq!(b.cookie(SESSION).await.map(|c| c.value), Some(old.value));
    b.open("/dashboard/endpoints").await;
    b.wait_for_path("/dashboard/login").await;
    assert_eq!(b.cookie(SESSION).await, None, "the stale cookie is cleared");
}

#[tokio::test]
async fn the_admin_signs_in_and_picks_a_workspace() {
    let s = TestServer::start().await;
    let (ws, key) = s.workspace("Globex").await;
    api_endpoint(
        &s,
        &key,
        "Globex orders",
        "https://globex.example.com/orders",
    )
    .await;
    api_endpoint(&s, KEY, "Default hook", "https://default.example.com/hook").await;
    s.workspace("Initech").await;
    let Some(b) = browser(&s).await else { return };

    sign_in(&b, ADMIN, "/dashboard/workspaces").await;
    let text = b.wait_for_text("Choose a workspace").await;
    for name in ["default", "Globex", "Initech"] {
        assert!(text.contains(name), "{name} in {text}");
    }
    assert!(text.contains(&ws));
    b.screenshot("workspace-picker").await;
    // Nothing else opens before a workspace is picked.
    b.open("/dashboard/endpoints").await;
    b.wait_for_path("/dashboard/workspaces").await;

    b.wait_for(r#"button[aria-label="Open Globex"]"#)
        .await
        .click()
        .await
        .expect("click Open Globex");
    b.wait_for_path("/dashboard/endpoints").await;
    let text = b.wait_for_text("Globex orders").await;
    assert!(text.contains(&ws), "the header names it");
    assert!(!text.contains("Default hook"), "{text}");

    // Switching back to the picker marks the current one.
    b.click_link("Switch workspace").await;
    b.wait_for_path("/dashboard/workspaces").await;
    let rows = b.table_rows("table").await;
    let globex = rows.iter().find(|r| r[0] == "Globex").expect("Globex row");
    assert_eq!(globex[3], "current");
    b.wait_for(r#"button[aria-label="Open default"]"#)
        .await
        .click()
        .await
        .expect("click Open default");
    b.wait_for_text("Default hook").await;
}

/// Signing in with the keyboard alone: Tab to the skip link (shown when
/// focused), Enter to jump to the content, Tab to the key field, type,
/// Enter; every focused control has a visible focus ring.
#[tokio::test]
async fn sign_in_with_the_keyboard_alone() {
    let s = TestServer::start().await;
    let Some(b) = browser(&s).await else { return };
    b.open("/dashboard/login").await;
    b.wait_for("#key").await;

    press(&b, &[Key::Tab.into()]).await;
    let f = focused(&b).await;
    assert_eq!(f["tag"], "a", "{f}");
    assert_eq!(f["class"], "skip", "{f}");
    assert_eq!(f["text"], "Skip to content", "{f}");
    assert_focus_ring(&f);

    press(&b, &[Key::Enter.into()]).await;
    b.wait_for_url("#main", |u| u.fragment() == Some("main"))
        .await;
    press(&b, &[Key::Tab.into()]).await;
    let f = focused(&b).await;
    assert_eq!(f["id"], "key", "the key field follows the skip: {f}");
    assert_focus_ring(&f);

    let typed: Vec<char> = KEY.chars().collect();
    press(&b, &typed).await;
    press(&b, &[Key::Enter.into()]).await;
    b.wait_for_path("/dashboard/endpoints").await;
    b.wait_for_text("Endpoints").await;

    // On a signed-in page too: the skip link first, then the header's links.
    press(&b, &[Key::Tab.into()]).await;
    let f = focused(&b).await;
    assert_eq!(f["class"], "skip", "{f}");
    assert_focus_ring(&f);
    press(&b, &[Key::Tab.into()]).await;
    let f = focused(&b).await;
    assert_eq!(f["text"], "hookrelay", "the brand link: {f}");
    assert_focus_ring(&f);
}

// The scenarios below are of pages being built: an endpoint's actions, the
// delivery history and a delivery's page, the event catalog. They follow
// the labels those pages are to have.

/// The endpoint's page reveals its signing secret on request.
#[tokio::test]
async fn the_endpoint_page_reveals_the_signing_secret() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let e = api_endpoint(&s, KEY, "Orders service", &format!("{}/hooks", r.url)).await;
    let id = e["id"].as_str().unwrap();
    let secret = e["signingSecret"].as_str().expect("secret at creation");
    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;

    b.open(&format!("/dashboard/endpoints/{id}")).await;
    b.wait_for_text(id).await;
    assert!(!html(&b).await.contains(secret), "hidden until asked");
    b.click_button("Reveal secret").await;
    b.wait_for_text(secret).await;
    b.screenshot("endpoint-secret").await;
}

/// A test event sent from the endpoint's page opens its delivery, with the
/// attempt's request and response; retrying it adds a second attempt.
#[tokio::test]
async fn a_test_event_sent_from_the_endpoint_page_shows_its_attempts_and_retries() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Body(200, "thanks from the receiver".into())).await;
    let url = format!("{}/hooks/orders", r.url);
    let e = api_endpoint(&s, KEY, "Orders service", &url).await;
    let id = e["id"].as_str().unwrap();
    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;

    b.open(&format!("/dashboard/endpoints/{id}")).await;
    b.click_button("Send test event").await;
    let at = b
        .wait_for_url("a delivery's page", |u| {
            u.path().starts_with("/dashboard/deliveries/")
        })
        .await;
    let delivery_id = at.path().rsplit('/').next().unwrap().to_owned();
    r.wait_for(1, WAIT).await;
    let d = s
        .wait_delivery(&delivery_id, WAIT, |d| d["status"] == "succeeded")
        .await;
    assert_eq!(d["test"], true);
    assert_eq!(d["webhookEndpointId"], id);

    // The attempt as recorded: request URL, headers and body; response
    // status and body.
    b.client().refresh().await.expect("reload");
    b.wait_for_text(&delivery_id).await;
    let text = all_text(&b).await;
    let attempt = &d["attempts"][0];
    assert!(text.contains(&url), "request URL: {text}");
    for name in attempt["request"]["headers"].as_object().unwrap().keys() {
        assert!(
            text.to_lowercase().contains(name),
            "request header {name}: {text}"
        );
    }
    assert!(
        text.contains(d["eventId"].as_str().unwrap()),
        "request body: {text}"
    );
    assert!(text.contains("200"), "response status: {text}");
    assert_eq!(
        text.matches("thanks from the receiver").count(),
        1,
        "{text}"
    );
    b.screenshot("delivery").await;

    b.click_button("Retry").await;
    r.wait_for(2, WAIT).await;
    s.wait_delivery(&delivery_id, WAIT, |d| {
        d["attempts"].as_array().map(Vec::len) == Some(2) && d["status"] == "succeeded"
    })
    .await;
    b.wait_for_path(&format!("/dashboard/deliveries/{delivery_id}"))
        .await;
    b.client().refresh().await.expect("reload");
    b.wait_for_text(&delivery_id).await;
    let text = all_text(&b).await;
    assert_eq!(
        text.matches("thanks from the receiver").count(),
        2,
        "both attempts' responses: {text}"
    );
}

/// The delivery history narrowed by endpoint, event type and status.
#[tokio::test]
async fn the_delivery_history_filters_by_endpoint_and_status() {
    // No retries: a failed attempt fails its delivery at once.
    let s = TestServer::start_with(|c| c.retry_schedule = vec![]).await;
    let good = Receiver::start().await;
    let bad = Receiver::start_replying(Reply::Status(500)).await;
    let a = api_endpoint(&s, KEY, "Good receiver", &format!("{}/hooks", good.url)).await;
    let f = api_endpoint(&s, KEY, "Failing receiver", &format!("{}/hooks", bad.url)).await;
    let (a_id, f_id) = (a["id"].as_str().unwrap(), f["id"].as_str().unwrap());
    for i in 0..3 {
        s.publish(EVENT, json!({"id": format!("run_{i}")})).await;
    }
    let all = s
        .wait_deliveries("maxPageSize=100", WAIT, |ds| {
            ds.len() == 6 && ds.iter().all(|d| d["status"] != "pending")
        })
        .await;
    let of = |ep: &str, status: &str| -> Vec<String> {
        all.iter()
            .filter(|d| d["webhookEndpointId"] == ep && d["status"] == status)
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of(a_id, "succeeded").len(), 3);
    assert_eq!(of(f_id, "failed").len(), 3);

    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;
    b.click_link("Deliveries").await;
    b.wait_for_path("/dashboard/deliveries").await;
    let text = html(&b).await;
    for id in all.iter().map(|d| d["id"].as_str().unwrap()) {
        assert!(text.contains(id), "{id} listed: {text}");
    }
    b.screenshot("deliveries").await;

    b.fill("Endpoint", f_id).await;
    b.fill("Event type", EVENT).await;
    b.fill("Status", "failed").await;
    submit_form_of(&b, "Status").await;
    b.wait_for_url("the filtered history", |u| {
        u.path() == "/dashboard/deliveries" && u.query().is_some_and(|q| q.contains(f_id))
    })
    .await;
    let text = html(&b).await;
    for id in of(f_id, "failed") {
        assert!(text.contains(&id), "{id} listed: {text}");
    }
    for id in of(a_id, "succeeded") {
        assert!(!text.contains(&id), "{id} filtered out: {text}");
    }
    b.screenshot("deliveries-filtered").await;

    // Nothing matches: the good endpoint has no failures.
    b.fill("Endpoint", a_id).await;
    submit_form_of(&b, "Status").await;
    b.wait_for_url("the refiltered history", |u| {
        u.query().is_some_and(|q| q.contains(a_id))
    })
    .await;
    let text = html(&b).await;
    for d in &all {
        assert!(!text.contains(d["id"].as_str().unwrap()), "{text}");
    }
}

/// The event catalog per API version, with example payloads.
#[tokio::test]
async fn the_event_catalog_lists_each_versions_events_with_examples() {
    let s = TestServer::start().await;
    let (status, catalog) = s.get("/event_types").await;
    assert_eq!(status, StatusCode::OK, "{catalog}");
    let Some(b) = browser(&s).await else { return };
    sign_in(&b, KEY, "/dashboard/endpoints").await;
    b.click_link("Event types").await;
    b.wait_for_path("/dashboard/event-types").await;
    let text = b.wait_for_text(EVENT).await;
    assert!(text.contains(VERSION), "{text}");
    let all = all_text(&b).await;
    assert!(all.contains('{'), "an example payload: {all}");
    b.screenshot("event-types").await;
}
