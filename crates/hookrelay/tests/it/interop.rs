//! Interoperability with reference receiver code, each check a
//! Python script run against an in-process server:
//!
//! - `scripts/interop/extend_sdk_check.py`: Extend's official Python SDK
//!   (`extend-ai`) manages endpoints and subscriptions, and its own verifier
//!   checks every signed delivery.
//! - `scripts/interop/profiles_check.py`: signed-URL payloads through the same
//!   SDK, and the Standard Webhooks (reference `standardwebhooks` library) and
//!   body-HMAC profiles, across a secret rotation.
//!
//! The Python comes from `HOOKRELAY_TEST_PYTHON` (default `python3`) and must
//! be able to import the scripts' dependencies
//! (`scripts/interop/requirements.txt`). Without them a test prints a notice
//! and passes, unless `HOOKRELAY_REQUIRE_INTEROP=1`, which makes it fail.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::support::{TestServer, KEY};

/// The scripts, relative to this crate's manifest directory.
const SDK_SCRIPT: &str = "../../scripts/interop/extend_sdk_check.py";
const PROFILES_SCRIPT: &str = "../../scripts/interop/profiles_check.py";
/// A whole script run, including its own waits for deliveries (20 s each).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// A Python interpreter that can import every module in `modules`, or why
/// there is none.
async fn python_with(modules: &[&str]) -> Result<String, String> {
    let python = std::env::var("HOOKRELAY_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let import = format!("import {}", modules.join(", "));
    let probe = tokio::process::Command::new(&python)
        .args(["-c", &import])
        .stdin(Stdio::null())
        .output()
        .await;
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(format!(
                "`{python} -c \"{import}\"` failed: {}",
                last.trim()
            ))
        }
        Err(e) => Err(format!("cannot run `{python}`: {e}")),
    }
}

/// The Python for `test`, or `None` after printing why the test is skipped.
/// Panics instead when `HOOKRELAY_REQUIRE_INTEROP=1`.
pub(crate) async fn python_for(test: &str, modules: &[&str]) -> Option<String> {
    let why = match python_with(modules).await {
        Ok(python) => return Some(python),
        Err(why) => why,
    };
    let required = std::env::var("HOOKRELAY_REQUIRE_INTEROP").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "HOOKRELAY_REQUIRE_INTEROP=1 but {test} cannot run: {why}\n\
         Install scripts/interop/requirements.txt (pip install -r) and point HOOKRELAY_TEST_PYTHON at that Python."
    );
    eprintln!(
        "\n************************************************************************\n\
         * SKIPPED {test}\n\
         * {why}\n\
         * Set HOOKRELAY_TEST_PYTHON to a Python with scripts/interop/requirements.txt\n\
         * installed to run it; HOOKRELAY_REQUIRE_INTEROP=1 turns this skip into a failure.\n\
         ************************************************************************\n"
    );
    None
}

/// Reads a child's pipe to the end in the background.
pub(crate) fn drain<R>(pipe: Option<R>) -> tokio::task::JoinHandle<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf).await;
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs an interop script against `server` and asserts that it exits 0 with
/// a last JSON line saying `"ok": true`; returns that summary.
async fn run_script(python: &str, script: &str, server: &TestServer) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut child = tokio::process::Command::new(python)
        .arg(&script)
        .env("BASE_URL", &server.url)
        .env("API_KEY", KEY)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(server.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{python} {}`: {e}", script.display()));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    // Waiting asynchronously keeps the in-process server serving the script.
    let status = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await {
        Ok(status) => Some(status.expect("wait for the interop script")),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let stdout = stdout.await.expect("stdout reader");
    let stderr = stderr.await.expect("stderr reader");
    let output = format!("--- script stdout ---\n{stdout}\n--- script stderr ---\n{stderr}");
    let name = script.file_name().unwrap_or_default().to_string_lossy();

    let Some(status) = status else {
        panic!("{name} did not finish within {SCRIPT_TIMEOUT:?}\n{output}");
    };
    let summary = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())
        .unwrap_or(Value::Null);
    assert!(status.success(), "{name} failed ({status})\n{output}");
    assert_eq!(
        summary["ok"],
        Value::Bool(true),
        "the summary of {name} does not say ok\n{output}"
    );
    summary
}

#[tokio::test(flavor = "multi_thread")]
async fn extend_python_sdk_manages_endpoints_and_verifies_deliveries() {
    let test = "extend_python_sdk_manages_endpoints_and_verifies_deliveries";
    let Some(python) = python_for(test, &["extend_ai"]).await else {
        return;
    };
    let server = TestServer::start().await;
    let summary = run_script(&python, SDK_SCRIPT, &server).await;
    let checked = summary["checked_deliveries"].as_u64().unwrap_or(0);
    assert!(checked > 0, "the SDK verified no deliveries: {summary}");
    println!("Extend SDK interop: {summary}");
    server.shutdown().await;
}

/// Signed-URL payloads through Extend's SDK (refused by default,
/// fetched exactly with `allow_signed_url`, legacy rendering for 2025-04-21,
/// no API key needed, altered URLs 403), and the Standard Webhooks and
/// body-HMAC profiles checked with the reference `standardwebhooks` library
/// and a plain HMAC, across a secret rotation with a grace period.
#[tokio::test(flavor = "multi_thread")]
async fn signed_url_payloads_and_wire_profiles_interoperate() {
    let test = "signed_url_payloads_and_wire_profiles_interoperate";
    let Some(python) = python_for(test, &["extend_ai", "standardwebhooks"]).await else {
        return;
    };
    let server = TestServer::start().await;
    let summary = run_script(&python, PROFILES_SCRIPT, &server).await;
    for (field, want) in [
        ("signed_url_deliveries_checked", 4),
        ("standard_webhooks_deliveries_verified", 2),
        ("body_hmac_deliveries_checked", 2),
    ] {
        assert_eq!(
            summary[field].as_u64(),
            Some(want),
            "{field} in the summary: {summary}"
        );
    }
    println!("signed URL and wire profile interop: {summary}");
    server.shutdown().await;
}
