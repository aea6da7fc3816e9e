//! Headless-browser harness for page tests: [`Browser`] is a real Chromium
//! driven over WebDriver (fantoccini → chromedriver), with the helpers that
//! page tests need (open, fill by label, click by text, read text and tables,
//! bounded waits, cookies, viewport, screenshots).
//!
//! ```ignore
//! let Some(mut b) = Browser::start().await else { return };
//! b.set_base(&server.url);
//! b.open("/dashboard").await;
//! b.fill("API key", KEY).await;
//! b.click_button("Sign in").await;
//! b.wait_for_path("/dashboard/endpoints").await;
//! b.screenshot("endpoints").await;
//! ```
//!
//! Each `Browser` has a chromedriver of its own (`--port=0`; the port it
//! reports is read from its output, so no port is picked and then raced
//! for; it is ready in some 20 ms, against Chromium's 0.8 s or so, so
//! sharing one would gain nothing), a Chromium with a fresh profile, and a
//! temp dir holding the profile,
//! `HOME`, the XDG dirs (so crash reports and caches stay inside it) and the
//! driver's log. Dropping it ends the WebDriver session, which makes
//! chromedriver quit Chromium, then kills chromedriver and anything still
//! running with the temp dir in its command line: no process outlives a test.
//!
//! Chromium talks to loopback only: besides the flags that turn off its
//! background services, `--host-resolver-rules` makes every hostname but
//! `localhost` (and the literal `127.0.0.1`) fail to resolve, so pages can
//! reach test servers on loopback and nothing else.
//!
//! Binaries: `HOOKRELAY_CHROMEDRIVER` (default `chromedriver` on `PATH`) and
//! `HOOKRELAY_CHROMIUM` (default Debian's `/usr/lib/chromium/chromium`, the
//! binary behind the `/usr/bin/chromium` launcher script, which would add
//! `/etc/chromium.d`'s flags and API keys; else `chromium` on `PATH`). Without
//! them [`Browser::start`] prints why and returns `None`, and the test passes
//! as skipped, unless `HOOKRELAY_REQUIRE_BROWSER=1` (as in CI), which makes
//! that a failure. On Debian: `apt-get install chromium chromium-driver`.
//!
//! Screenshots: [`Browser::screenshot`] writes `NAME-desktop.png` (1280×800)
//! and `NAME-phone.png` (390×844) into `HOOKRELAY_SCREENSHOTS` when it is set
//! (a relative path is taken from the repository root) and does nothing
//! otherwise. To regenerate `docs/screenshots/` (from the page tests in
//! the `dashboard_browser` module, which the filter `dashboard` selects):
//!
//! ```sh
//! HOOKRELAY_SCREENSHOTS=docs/screenshots HOOKRELAY_REQUIRE_BROWSER=1 cargo test -p hookrelay --test it dashboard
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use axum::http::Method;
use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use url::Url;

use super::eventually;

/// How long a helper waits for the page to reach the state it needs (an
/// element, a URL, some text) before the test fails. Only the failing case
/// waits this long.
pub const WAIT: Duration = Duration::from_secs(10);
/// Bounds chromedriver's start and Chromium's (a new session).
const START: Duration = Duration::from_secs(30);

/// The desktop viewport (also the one a browser starts with).
pub const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1280,
    height: 800,
    mobile: false,
};
/// The phone viewport (an iPhone 12–15's CSS size).
pub const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};

/// A viewport size in CSS pixels (device scale factor 1, so screenshots
/// have exactly this many pixels). `mobile` makes Chromium lay the page out
/// as a phone does (honouring `<meta name="viewport">`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

/// Chromium's flags. Everything but the profile dir, which is per browser.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    // Tests run as root, where Chromium's sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    // No traffic of Chromium's own: updates, sync, safe browsing, metrics,
    // prefetching, reporting.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--dns-prefetch-disable",
    // Direct connections only, whatever proxy the environment names.
    "--no-proxy-server",
    // And should anything still try, no name but localhost resolves. The
    // rules apply to IP literals too, hence the loopback address.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
];

/// How long the last start took, for the curious (printed by the smoke test).
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    /// Spawning chromedriver until its `/status` says ready.
    pub driver: Duration,
    /// Creating the session: Chromium's start.
    pub session: Duration,
}

/// A cookie as the browser holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieInfo {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None`, as the browser reports it.
    pub same_site: Option<String>,
    /// Unix seconds; `None` for a session cookie.
    pub expires: Option<i64>,
}

/// A headless Chromium for one test. Every helper panics with what it saw
/// when the page does not get where the test expects within [`WAIT`].
pub struct Browser {
    client: Client,
    base: Option<Url>,
    viewport: std::sync::Mutex<Viewport>,
    pub startup: Startup,
    // Dropped after `client`: ends the session and the processes.
    driver: Driver,
}

/// The chromedriver process and the temp dir of one browser; dropping it
/// ends both (see the module doc).
struct Driver {
    child: Child,
    port: u16,
    session: Option<String>,
    dir: tempfile::TempDir,
}

/// Where the binaries are.
struct Binaries {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

impl Browser {
    /// A browser at the [`DESKTOP`] viewport, or `None` after printing why
    /// the calling test is skipped (no chromedriver or Chromium here).
    /// Panics instead when `HOOKRELAY_REQUIRE_BROWSER=1`, and whenever the
    /// binaries are there but do not start.
    pub async fn start() -> Option<Browser> {
        let bins = match Binaries::locate() {
            Ok(bins) => bins,
            Err(why) => {
                skip(&why);
                return None;
            }
        };
        match Browser::launch(&bins).await {
            Ok(b) => Some(b),
            Err(e) => panic!(
                "the browser did not start (chromedriver {}, Chromium {}): {e:#}",
                bins.chromedriver.display(),
                bins.chromium.display()
            ),
        }
    }

    async fn launch(bins: &Binaries) -> anyhow::Result<Browser> {
        let t0 = Instant::now();
        let mut driver = Driver::spawn(&bins.chromedriver)?;
        driver.wait_ready().await?;
        let t1 = Instant::now();

        let profile = driver.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": bins.chromium, "args": args }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{}/", driver.port);
        let client = tokio::time::timeout(START, builder.connect(&url))
            .await
            .map_err(|_| anyhow!("no session within {START:?}{}", driver.log_tail()))?
            .map_err(|e| anyhow!("new session: {e}{}", driver.log_tail()))?;
        driver.session = client.session_id().await.context("session id")?;
        let t2 = Instant::now();

        let b = Browser {
            client,
            base: None,
            viewport: std::sync::Mutex::new(DESKTOP),
            startup: Startup {
                driver: t1 - t0,
                session: t2 - t1,
            },
            driver,
        };
        b.set_viewport(DESKTOP).await;
        Ok(b)
    }

    /// chromedriver's process id.
    pub fn driver_pid(&self) -> u32 {
        self.driver.child.id()
    }

    /// The browser's temp dir (profile, `HOME`, driver log).
    pub fn dir(&self) -> &Path {
        self.driver.dir.path()
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where relative URLs given to [`Browser::open`] point (a test server's
    /// URL).
    pub fn set_base(&mut self, url: &str) {
        self.base = Some(Url::parse(url).unwrap_or_else(|e| panic!("base URL {url}: {e}")));
    }

    /// Navigates to `url`: absolute, or relative to the base URL (else to
    /// the current page). Returns once the page has loaded.
    pub async fn open(&self, url: &str) {
        let target = match Url::parse(url) {
            Ok(u) => u,
            Err(_) => {
                let base = match &self.base {
                    Some(b) => b.clone(),
                    None => self.url().await,
                };
                base.join(url)
                    .unwrap_or_else(|e| panic!("{url} relative to {base}: {e}"))
            }
        };
        self.client
            .goto(target.as_str())
            .await
            .unwrap_or_else(|e| panic!("open {target}: {e}"));
    }

    /// The current URL.
    pub async fn url(&self) -> Url {
        self.client.current_url().await.expect("current URL")
    }

    /// The current URL's path.
    pub async fn path(&self) -> String {
        self.url().await.path().to_owned()
    }

    /// The page title.
    pub async fn title(&self) -> String {
        self.client.title().await.expect("title")
    }

    /// The text of the page as a user sees it (`document.body.innerText`).
    pub async fn text(&self) -> String {
        let v = self
            .js(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The one element matching the CSS `selector`, once there is one.
    pub async fn wait_for(&self, selector: &str) -> Element {
        self.one(
            &format!("element `{selector}`"),
            Locator::Css(selector),
            false,
        )
        .await
    }

    /// Whether an element matches `selector` now (no waiting).
    pub async fn exists(&self, selector: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(selector))
            .await
            .expect("find")
            .is_empty()
    }

    /// Waits until the page's text contains `text`; returns the text.
    pub async fn wait_for_text(&self, text: &str) -> String {
        eventually(WAIT, || async {
            let page = self.text().await;
            if page.contains(text) {
                Ok(page)
            } else {
                Err(format!("no `{text}` on {} in:\n{page}", self.url().await))
            }
        })
        .await
    }

    /// Waits until the current URL's path is `path`; returns the URL.
    pub async fn wait_for_path(&self, path: &str) -> Url {
        self.wait_for_url(&format!("path {path}"), |u| u.path() == path)
            .await
    }

    /// Waits until `pred` holds of the current URL (`what` describes it for
    /// the failure message); returns the URL.
    pub async fn wait_for_url(&self, what: &str, pred: impl Fn(&Url) -> bool) -> Url {
        eventually(WAIT, || async {
            let u = self.url().await;
            if pred(&u) {
                Ok(u)
            } else {
                Err(format!("URL {u} is not at {what}"))
            }
        })
        .await
    }

    /// Types `value` into the form control labelled `field` (a `<label>`'s
    /// text, by `for=` or by nesting) or named `field`, replacing what it
    /// held; for a `<select>`, picks the option with that text (or value).
    pub async fn fill(&self, field: &str, value: &str) {
        let el = self.field(field).await;
        let tag = el.tag_name().await.expect("tag name").to_ascii_lowercase();
        if tag == "select" {
            if el.select_by_label(value).await.is_err() {
                el.select_by_value(value)
                    .await
                    .unwrap_or_else(|e| panic!("select {value:?} in {field:?}: {e}"));
            }
            return;
        }
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {field:?}: {e}"));
        el.send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {field:?}: {e}"));
    }

    /// Ticks (`true`) or unticks the checkbox labelled or named `field`.
    pub async fn check(&self, field: &str, on: bool) {
        let el = self.field(field).await;
        if el.is_selected().await.expect("checked") != on {
            el.click()
                .await
                .unwrap_or_else(|e| panic!("click {field:?}: {e}"));
        }
    }

    /// The current value of the control labelled or named `field`.
    pub async fn value(&self, field: &str) -> String {
        let el = self.field(field).await;
        el.prop("value").await.expect("value").unwrap_or_default()
    }

    /// The one visible control labelled or named `field`.
    async fn field(&self, field: &str) -> Element {
        let k = xpath_literal(field);
        let control = "*[self::input or self::textarea or self::select][not(@type='hidden')]";
        let label = format!("label[normalize-space(.)={k} or normalize-space(text())={k}]");
        let xpath = format!(
            "//{control}[@name={k}] | //{control}[@id=//{label}/@for] | //{label}//{control}"
        );
        self.one(
            &format!("field labelled or named {field:?}"),
            Locator::XPath(&xpath),
            true,
        )
        .await
    }

    /// Clicks the one visible button whose text (or an `<input>` button's
    /// value) is `text`.
    pub async fn click_button(&self, text: &str) {
        let k = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={k}] \
             | //input[@type='submit' or @type='button' or @type='reset'][@value={k}] \
             | //*[@role='button'][normalize-space(.)={k}]"
        );
        let el = self
            .one(&format!("button {text:?}"), Locator::XPath(&xpath), true)
            .await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click button {text:?}: {e}"));
    }

    /// Clicks the one visible link whose text is `text`.
    pub async fn click_link(&self, text: &str) {
        let xpath = format!("//a[normalize-space(.)={}]", xpath_literal(text));
        let el = self
            .one(&format!("link {text:?}"), Locator::XPath(&xpath), true)
            .await;
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click link {text:?}: {e}"));
    }

    /// Submits the form matching `selector` as pressing Enter in it would:
    /// constraint validation first, then the submit event, then the request.
    pub async fn submit(&self, selector: &str) {
        let form = self.wait_for(selector).await;
        let arg = serde_json::to_value(&form).expect("element as JSON");
        self.js("arguments[0].requestSubmit()", vec![arg]).await;
    }

    /// The body rows of the table matching `selector`, each the trimmed text
    /// of its cells (`<thead>` rows left out; see [`Browser::table_head`]).
    pub async fn table_rows(&self, selector: &str) -> Vec<Vec<String>> {
        self.wait_for(selector).await;
        let v = self
            .js(
                "const t = document.querySelector(arguments[0]);
                 const rows = [...t.rows].filter(r => r.parentElement.tagName !== 'THEAD');
                 return rows.map(r => [...r.cells].map(c => c.innerText.trim()));",
                vec![json!(selector)],
            )
            .await;
        serde_json::from_value(v).expect("rows of strings")
    }

    /// The header cells of the table matching `selector` (its `<thead>`).
    pub async fn table_head(&self, selector: &str) -> Vec<String> {
        self.wait_for(selector).await;
        let v = self
            .js(
                "const t = document.querySelector(arguments[0]);
                 const r = t.tHead && t.tHead.rows[0];
                 return r ? [...r.cells].map(c => c.innerText.trim()) : [];",
                vec![json!(selector)],
            )
            .await;
        serde_json::from_value(v).expect("header strings")
    }

    /// The cookie `name` of the current page's site, with the attributes the
    /// browser keeps (`HttpOnly` cookies included: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<CookieInfo> {
        let all = self.client.get_all_cookies().await.expect("cookies");
        all.into_iter()
            .find(|c| c.name() == name)
            .map(|c| CookieInfo {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                path: c.path().map(str::to_owned),
                domain: c.domain().map(str::to_owned),
                secure: c.secure().unwrap_or(false),
                http_only: c.http_only().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
                expires: c.expires_datetime().map(|t| t.unix_timestamp()),
            })
    }

    /// Sets the viewport (the page's layout size, `innerWidth` ×
    /// `innerHeight`) exactly, through the DevTools protocol: a headless
    /// window's size is not its viewport's.
    pub async fn set_viewport(&self, v: Viewport) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": v.width,
                "height": v.height,
                "deviceScaleFactor": 1,
                "mobile": v.mobile,
            }),
        )
        .await;
        *self.viewport.lock().unwrap() = v;
    }

    /// The viewport last set.
    pub fn viewport(&self) -> Viewport {
        *self.viewport.lock().unwrap()
    }

    /// A PNG of the viewport as it is now.
    pub async fn png(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }

    /// Checks that the page fits [`DESKTOP`] and [`PHONE`] widths without
    /// scrolling sideways and, with `HOOKRELAY_SCREENSHOTS` set (see the
    /// module doc), saves a screenshot at each size there. Returns the files
    /// written.
    pub async fn screenshot(&self, name: &str) -> Vec<PathBuf> {
        self.check_widths(screenshot_dir().as_deref(), name).await
    }

    /// The width check of [`Browser::screenshot`] alone, for a page whose
    /// screenshot another test takes.
    pub async fn fits(&self, name: &str) {
        self.check_widths(None, name).await;
    }

    /// [`Browser::screenshot`] into `dir`: `NAME-desktop.png` and
    /// `NAME-phone.png`, each exactly its viewport's size; the viewport is
    /// set back afterwards.
    pub async fn screenshot_into(&self, dir: &Path, name: &str) -> Vec<PathBuf> {
        self.check_widths(Some(dir), name).await
    }

    async fn check_widths(&self, dir: Option<&Path>, name: &str) -> Vec<PathBuf> {
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        let before = self.viewport();
        let mut written = Vec::new();
        for v in [DESKTOP, PHONE] {
            self.set_viewport(v).await;
            let wide = self.wider_than_viewport().await;
            assert!(
                wide.is_empty(),
                "page {name} scrolls sideways at {} ({}px): too wide: {wide:?}",
                v.name,
                v.width
            );
            let Some(dir) = dir else { continue };
            let png = self.png().await;
            assert_eq!(
                png_size(&png),
                Some((v.width, v.height)),
                "screenshot {name} at {}",
                v.name
            );
            let path = dir.join(format!("{name}-{}.png", v.name));
            std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            written.push(path);
        }
        self.set_viewport(before).await;
        written
    }

    /// When the document is wider than the viewport, what makes it so: the
    /// innermost elements reaching past its right edge (not clipped by a
    /// scrolling box), each with its ancestors' tag, class and width; or,
    /// when no box sticks out, the boxes whose content overflows them.
    /// Nothing when the page fits.
    pub async fn wider_than_viewport(&self) -> Vec<String> {
        let found = self
            .js(
                "const root = document.documentElement;
                 if (root.scrollWidth <= root.clientWidth) return [];
                 const edge = root.clientWidth;
                 const name = e => `${e.tagName.toLowerCase()}.${e.className}`;
                 const past = e => e.getBoundingClientRect().right > edge + 0.5;
                 const clipped = e => {
                   for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                     if (getComputedStyle(a).overflowX !== 'visible') return true;
                   }
                   return false;
                 };
                 const all = [...document.body.querySelectorAll('*')];
                 const out = e => past(e) && !clipped(e);
                 const found = all.filter(e => out(e) && ![...e.children].some(out));
                 if (found.length === 0) {
                   const spilling = all
                     .filter(e => e.scrollWidth > edge && getComputedStyle(e).overflowX === 'visible')
                     .map(e => `${name(e)} (${e.scrollWidth}px of content)`);
                   return [`the document is ${root.scrollWidth}px wide: ${spilling.slice(-3).join(', ')}`];
                 }
                 return found.slice(0, 3).map(e => {
                   const path = [];
                   for (let a = e; a && a !== document.body; a = a.parentElement) {
                     path.push(`${name(a)} ${Math.round(a.getBoundingClientRect().width)}px`);
                   }
                   return path.join(' < ');
                 });",
                vec![],
            )
            .await;
        serde_json::from_value(found).expect("a list of strings")
    }

    /// Sends a DevTools protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// The one element `locator` finds (only displayed ones if `visible`),
    /// once there is exactly one.
    async fn one(&self, what: &str, locator: Locator<'_>, visible: bool) -> Element {
        eventually(WAIT, || async {
            let mut found = self.client.find_all(locator).await.expect("find");
            if visible {
                let mut shown = Vec::new();
                for el in found {
                    if el.is_displayed().await.unwrap_or(false) {
                        shown.push(el);
                    }
                }
                found = shown;
            }
            match found.len() {
                1 => Ok(found.pop().unwrap()),
                n => Err(format!(
                    "{n} {}{what} on {}; page text:\n{}",
                    if visible { "visible " } else { "" },
                    self.url().await,
                    self.text().await
                )),
            }
        })
        .await
    }
}

/// `HOOKRELAY_SCREENSHOTS`, a relative path taken from the repository root.
fn screenshot_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("HOOKRELAY_SCREENSHOTS").filter(|d| !d.is_empty())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Some(root.join(dir))
}

/// A PNG's width and height (its IHDR chunk).
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}

/// `s` as an XPath 1.0 string literal (which has no escapes).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// Prints why the calling test is skipped, or panics when
/// `HOOKRELAY_REQUIRE_BROWSER=1`.
fn skip(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    let required = std::env::var("HOOKRELAY_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "HOOKRELAY_REQUIRE_BROWSER=1 but {test} cannot run: {why}\n\
         Install Chromium and its driver (Debian: apt-get install chromium chromium-driver) \
         or point HOOKRELAY_CHROMIUM / HOOKRELAY_CHROMEDRIVER at them."
    );
    // Straight to stderr, not `eprintln!`, which the test harness captures
    // and shows only for failing tests: a skip should be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n************************************************************************\n\
         * SKIPPED {test}\n\
         * {why}\n\
         * Install chromium and chromium-driver (or set HOOKRELAY_CHROMIUM and\n\
         * HOOKRELAY_CHROMEDRIVER) to run it; HOOKRELAY_REQUIRE_BROWSER=1 turns\n\
         * this skip into a failure.\n\
         ************************************************************************"
    );
}

impl Binaries {
    fn locate() -> Result<Binaries, String> {
        let chromedriver = binary("HOOKRELAY_CHROMEDRIVER", &[], &["chromedriver"])?;
        let chromium = binary(
            "HOOKRELAY_CHROMIUM",
            &["/usr/lib/chromium/chromium"],
            &["chromium", "chromium-browser", "google-chrome"],
        )?;
        Ok(Binaries {
            chromedriver,
            chromium,
        })
    }
}

/// The executable `var` names, else the first of `paths` that exists, else
/// the first of `names` on `PATH`.
fn binary(var: &str, paths: &[&str], names: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!("{var}={} is not an executable file", p.display()))
        };
    }
    let on_path = std::env::var_os("PATH").unwrap_or_default();
    paths
        .iter()
        .map(PathBuf::from)
        .chain(
            names
                .iter()
                .flat_map(|n| std::env::split_paths(&on_path).map(move |d| d.join(n))),
        )
        .find(|p| is_executable(p))
        .ok_or_else(|| format!("no {} on PATH and {var} is not set", names.join(" or ")))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Driver {
    /// Starts chromedriver on a port of the system's choosing, its output
    /// and Chromium's going to a log file in a fresh temp dir.
    fn spawn(chromedriver: &Path) -> anyhow::Result<Driver> {
        let dir = tempfile::Builder::new()
            .prefix("hookrelay-browser-")
            .tempdir()
            .context("temp dir")?;
        for sub in ["home", "config", "cache"] {
            std::fs::create_dir(dir.path().join(sub))?;
        }
        let log = std::fs::File::create(dir.path().join("driver.log"))?;
        let child = Command::new(chromedriver)
            .arg("--port=0")
            .env("HOME", dir.path().join("home"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", chromedriver.display()))?;
        Ok(Driver {
            child,
            port: 0,
            session: None,
            dir,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("driver.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("\nchromedriver's output:\n{tail}")
    }

    /// Waits for chromedriver to report its port and then for its `/status`
    /// to say it is ready for a session.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        const PORT_LINE: &str = "was started successfully on port ";
        let deadline = Instant::now() + START;
        let poll = Duration::from_millis(5);
        while self.port == 0 {
            if let Some(status) = self.child.try_wait()? {
                bail!("chromedriver exited: {status}{}", self.log_tail());
            }
            if let Some(rest) = self.log().split(PORT_LINE).nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                self.port = digits.parse().context("chromedriver's port")?;
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver reported no port{}", self.log_tail());
            }
            tokio::time::sleep(poll).await;
        }
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let http = reqwest::Client::new();
        loop {
            let ready = match http.get(&status).send().await {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if ready.as_ref().and_then(|v| v["value"]["ready"].as_bool()) == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{status} not ready: {ready:?}{}", self.log_tail());
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// `DELETE /session/{id}`: chromedriver quits Chromium and answers when
    /// it is gone. Blocking, as it runs in `drop`; bounded by socket timeouts.
    fn end_session(&self, id: &str) -> std::io::Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            s,
            "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        // chromedriver keeps the connection open, so read exactly the
        // answer: the head, then Content-Length bytes.
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            let Some(head_end) = text.find("\r\n\r\n") else {
                continue;
            };
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if answer.len() >= head_end + 4 + length {
                return Ok(());
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = self.end_session(&id);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Should Chromium have outlived its driver (a session that did not
        // end), its processes still name this dir in their command lines.
        kill_processes_mentioning(self.dir.path());
    }
}

/// SIGKILLs every process whose command line contains `marker`.
fn kill_processes_mentioning(marker: &Path) {
    let marker = marker.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(&marker) {
            super::kill(pid, libc::SIGKILL);
        }
    }
}
