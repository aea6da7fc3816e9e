//! The browser harness itself ([`crate::support::browser`]): it starts and
//! cleans up after itself, skips or fails as told without a browser, and
//! every helper works on a real page, both hookrelay's and a small form page
//! served here.

use std::path::Path;
use std::process::Command;

use axum::extract::{Form, Query};
use axum::http::header;
use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use serde_json::json;

use crate::support::browser::{png_size, Browser, DESKTOP, PHONE};
use crate::support::TestServer;

/// The form page: a labelled input, a label wrapping a select, a named
/// input, a checkbox, a submit button, a button that adds an element a
/// moment later, a table and a link; it sets an `HttpOnly; SameSite=Strict`
/// cookie.
const FORM_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Harness page</title></head>
<body>
<h1>Harness page</h1>
<form id="f" method="post" action="/submit">
  <label for="who">Your name</label> <input id="who" name="who" required>
  <label>Colour <select name="colour"><option value="r">Red</option><option value="b">Blue</option></select></label>
  <input name="note" placeholder="a note">
  <label><input type="checkbox" name="agree" value="yes"> I agree</label>
  <input type="hidden" name="who" value="not this one">
  <button type="submit">Send it</button>
</form>
<button type="button" onclick="setTimeout(() => {
  const p = document.createElement('p'); p.id = 'late'; p.textContent = 'Revealed later';
  document.body.append(p); }, 300)">Reveal</button>
<table id="t">
  <thead><tr><th>Name</th><th>Status</th></tr></thead>
  <tbody><tr><td>alpha</td><td> enabled </td></tr><tr><td>beta</td><td>disabled</td></tr></tbody>
</table>
<a href="/done?who=link">Skip ahead</a>
</body></html>"#;

/// Serves [`FORM_PAGE`] on loopback; its form posts to `/submit`, which
/// redirects (303) to `/done` with the fields in the query.
async fn form_site() -> String {
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [(
                        header::SET_COOKIE,
                        "sid=s3cr3t; Path=/; HttpOnly; SameSite=Strict",
                    )],
                    Html(FORM_PAGE),
                )
            }),
        )
        .route(
            "/submit",
            post(|Form(fields): Form<Vec<(String, String)>>| async move {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                Redirect::to(&format!("/done?{query}"))
            }),
        )
        .route(
            "/done",
            get(|Query(q): Query<Vec<(String, String)>>| async move {
                let items: String = q
                    .iter()
                    .map(|(k, v)| format!("<li>{}={}</li>", escape(k), escape(v)))
                    .collect();
                let who = q
                    .iter()
                    .find(|(k, _)| k == "who")
                    .map_or("nobody", |(_, v)| v.as_str());
                Html(format!(
                    "<!doctype html><title>Done</title><p>Hello {}</p><ul>{items}</ul>",
                    escape(who)
                ))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Every helper against hookrelay's own pages and the form page.
#[tokio::test]
async fn every_helper_on_real_pages() {
    let Some(mut b) = Browser::start().await else {
        return;
    };
    eprintln!(
        "browser startup: chromedriver ready in {:?}, Chromium session in {:?}",
        b.startup.driver, b.startup.session
    );

    // hookrelay's pages, by path relative to the test server.
    let server = TestServer::start().await;
    b.set_base(&server.url);
    b.open("/healthz").await;
    assert_eq!(b.path().await, "/healthz");
    let health: serde_json::Value = serde_json::from_str(&b.text().await).expect("JSON text");
    assert_eq!(health["status"], "ok", "{health}");
    b.open("/openapi.json").await;
    b.wait_for_text("\"openapi\"").await;

    // The form page (an absolute URL).
    let site = form_site().await;
    b.open(&site).await;
    assert_eq!(b.title().await, "Harness page");
    assert!(b.text().await.contains("Harness page"));

    // The cookie: HttpOnly (so not in document.cookie), SameSite=Strict.
    let sid = b.cookie("sid").await.expect("sid cookie");
    assert_eq!(sid.value, "s3cr3t");
    assert!(sid.http_only, "{sid:?}");
    assert_eq!(sid.same_site.as_deref(), Some("Strict"), "{sid:?}");
    assert_eq!(sid.path.as_deref(), Some("/"));
    assert!(!sid.secure);
    assert_eq!(sid.expires, None, "a session cookie");
    assert_eq!(b.js("return document.cookie", vec![]).await, json!(""));
    assert_eq!(b.cookie("absent").await, None);

    // Tables.
    assert_eq!(b.table_head("#t").await, ["Name", "Status"]);
    assert_eq!(
        b.table_rows("#t").await,
        [["alpha", "enabled"], ["beta", "disabled"]]
    );

    // A bounded wait for an element that appears after a click.
    assert!(!b.exists("#late").await);
    b.click_button("Reveal").await;
    let late = b.wait_for("#late").await;
    assert_eq!(late.text().await.unwrap(), "Revealed later");

    // Fill by label (for=, and nesting a select) and by name; a checkbox;
    // the hidden input of the same name is not a candidate.
    b.fill("Your name", "Ada O'Brien \"AL\"").await;
    b.fill("Colour", "Blue").await;
    b.fill("note", "first").await;
    b.fill("note", "second").await;
    b.check("I agree", true).await;
    assert_eq!(b.value("who").await, "Ada O'Brien \"AL\"");
    assert_eq!(b.value("note").await, "second");
    assert_eq!(b.value("Colour").await, "b");
    b.click_button("Send it").await;
    let done = b.wait_for_path("/done").await;
    let text = b.wait_for_text("Hello Ada O'Brien \"AL\"").await;
    assert!(text.contains("colour=b"), "{text}");
    assert!(text.contains("note=second"), "{text}");
    assert!(text.contains("agree=yes"), "{text}");
    assert!(
        text.contains("who=not this one"),
        "the hidden field is submitted too: {text}"
    );
    assert_eq!(done.path(), "/done");

    // Submitting a form without a button; relative URLs now resolve against
    // the base, so the form page is opened by its absolute URL.
    b.open(&site).await;
    b.fill("Your name", "Grace").await;
    b.submit("#f").await;
    b.wait_for_path("/done").await;
    b.wait_for_text("Hello Grace").await;

    // A link, and a wait on the URL's query.
    b.open(&site).await;
    b.click_link("Skip ahead").await;
    b.wait_for_url("?who=link", |u| u.query() == Some("who=link"))
        .await;
    b.wait_for_text("Hello link").await;

    // Viewports are exact, and so are screenshots.
    b.open(&site).await;
    b.set_viewport(PHONE).await;
    let inner = b
        .js("return [window.innerWidth, window.innerHeight]", vec![])
        .await;
    assert_eq!(inner, json!([390, 844]));
    assert_eq!(png_size(&b.png().await), Some((390, 844)));
    b.set_viewport(DESKTOP).await;
    let inner = b
        .js("return [window.innerWidth, window.innerHeight]", vec![])
        .await;
    assert_eq!(inner, json!([1280, 800]));

    // A page wider than the phone is caught, naming what sticks out.
    assert_eq!(b.wider_than_viewport().await, Vec::<String>::new());
    b.js(
        "const d = document.createElement('div');
         d.className = 'too-wide'; d.style.width = '2000px'; d.textContent = 'x';
         document.body.append(d);",
        vec![],
    )
    .await;
    let wide = b.wider_than_viewport().await;
    assert!(
        wide.iter().any(|w| w.starts_with("div.too-wide 2000px")),
        "{wide:?}"
    );
    b.open(&site).await;

    let shots = tempfile::tempdir().unwrap();
    let files = b.screenshot_into(shots.path(), "harness").await;
    let sizes: Vec<_> = files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            (name, png_size(&std::fs::read(f).unwrap()))
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("harness-desktop.png".to_owned(), Some((1280, 800))),
            ("harness-phone.png".to_owned(), Some((390, 844))),
        ]
    );
    assert_eq!(b.viewport(), DESKTOP, "set back after the screenshots");
}

/// A browser ends its processes when dropped: chromedriver is reaped and
/// nothing runs with the browser's temp dir in its command line.
#[tokio::test]
async fn starts_and_stops() {
    let Some(b) = Browser::start().await else {
        return;
    };
    eprintln!(
        "browser startup: chromedriver ready in {:?}, Chromium session in {:?}",
        b.startup.driver, b.startup.session
    );
    let driver = b.driver_pid();
    let dir = b.dir().to_owned();
    assert!(!running_mentioning(&dir).is_empty(), "Chromium is running");
    drop(b);
    assert!(
        !Path::new(&format!("/proc/{driver}")).exists(),
        "chromedriver {driver} reaped"
    );
    assert_eq!(running_mentioning(&dir), Vec::<String>::new());
    assert!(!dir.exists(), "temp dir removed");
}

/// Live (not zombie) processes whose command line contains `dir`.
fn running_mentioning(dir: &Path) -> Vec<String> {
    let marker = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&marker) {
            found.push(cmdline);
        }
    }
    found
}

/// Without a chromedriver, [`Browser::start`] skips the test with a notice,
/// or fails it under `HOOKRELAY_REQUIRE_BROWSER=1`: runs `starts_and_stops`
/// in a child process of this test binary both ways.
#[test]
fn missing_browser_skips_or_fails() {
    let run = |require: bool| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["browser::starts_and_stops", "--exact", "--nocapture"])
            .env("HOOKRELAY_CHROMEDRIVER", "/nonexistent")
            .env_remove("HOOKRELAY_REQUIRE_BROWSER");
        if require {
            cmd.env("HOOKRELAY_REQUIRE_BROWSER", "1");
        }
        let out = cmd.output().expect("run the test binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };

    let (ok, text) = run(false);
    assert!(ok, "skipped, so passed: {text}");
    assert!(text.contains("SKIPPED browser::starts_and_stops"), "{text}");
    assert!(
        text.contains("HOOKRELAY_CHROMEDRIVER=/nonexistent is not an executable file"),
        "{text}"
    );
    assert!(text.contains("1 passed"), "{text}");

    let (ok, text) = run(true);
    assert!(!ok, "required, so failed: {text}");
    assert!(
        text.contains("HOOKRELAY_REQUIRE_BROWSER=1 but browser::starts_and_stops cannot run"),
        "{text}"
    );
}
