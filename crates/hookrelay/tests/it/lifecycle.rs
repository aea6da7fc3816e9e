//! Restarts, crashes and graceful shutdown. The process-level tests
//! run the real `hookrelay` binary and signal it.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{
    eventually, free_port, get_ok, kill, post_ok, spawn_serve, Receiver, Reply, ServeProcess,
    TestServer,
};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn pending_deliveries_resume_after_a_restart() {
    let s = TestServer::start().await;
    let r = Receiver::start_replying(Reply::Status(503)).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": [2]}),
    )
    .await;
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    r.wait_for(1, WAIT).await;
    let s = s.restart().await;
    r.set_default(Reply::Status(200));
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = s
        .wait_delivery(&id, WAIT, |d| d["status"] == "succeeded")
        .await;
    assert_eq!(d["attemptCount"], 2);
    assert_eq!(r.received().len(), 2);
}

/// A `hookrelay serve` on the SQLite file in `dir`, answering.
async fn spawn(dir: &std::path::Path) -> ServeProcess {
    let p = spawn_serve(
        &format!("sqlite://{}", dir.join("hookrelay.db").display()),
        &[],
    );
    p.wait_healthy().await;
    p
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    post_ok(http, url, &body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_after_202_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start_replying(Reply::Hang).await;
    let http = reqwest::Client::new();
    let mut p = spawn(dir.path()).await;
    post(
        &http,
        &format!("{}/webhook_endpoints", p.url),
        json!({"url": format!("{}/hook", r.url), "name": "r", "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09", "retrySchedule": [1]}),
    )
    .await;
    let mut accepted = HashSet::new();
    for i in 0..60 {
        let ev = post(
            &http,
            &format!("{}/events", p.url),
            json!({"eventType": "extract_run.processed", "payload": {"n": i}}),
        )
        .await;
        accepted.insert(ev["id"].as_str().unwrap().to_owned());
    }
    p.signal(libc::SIGKILL);
    let _ = p.child.wait().await;
    r.set_default(Reply::Status(200));
    let p2 = spawn(dir.path()).await;
    eventually(WAIT, || async {
        let got: HashSet<String> = r
            .received()
            .iter()
            .filter_map(|g| serde_json::from_slice::<Value>(&g.body).ok())
            .filter_map(|b| b["eventId"].as_str().map(str::to_owned))
            .collect();
        if accepted.is_subset(&got) {
            Ok(())
        } else {
            Err(format!(
                "{} of {} accepted events delivered after the crash",
                accepted.intersection(&got).count(),
                accepted.len()
            ))
        }
    })
    .await;
    drop(p2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_attempts_in_flight_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start_replying(Reply::Delay(Duration::from_millis(1500), 200)).await;
    let http = reqwest::Client::new();
    let mut p = spawn(dir.path()).await;
    post(
        &http,
        &format!("{}/webhook_endpoints", p.url),
        json!({"url": format!("{}/hook", r.url), "name": "r", "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09"}),
    )
    .await;
    for i in 0..3 {
        post(
            &http,
            &format!("{}/events", p.url),
            json!({"eventType": "extract_run.processed", "payload": {"n": i}}),
        )
        .await;
    }
    r.wait_for(3, WAIT).await; // all three are in flight now
    let started = Instant::now();
    p.signal(libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(15), p.child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for the attempts"
    );
    assert!(
        reqwest::get(format!("{}/healthz", p.url)).await.is_err(),
        "no longer accepting"
    );

    // After a restart the history says each was delivered once, and nothing is re-sent.
    let p2 = spawn(dir.path()).await;
    let resp = get_ok(&http, &format!("{}/webhook_deliveries", p2.url)).await;
    let ds = resp["data"].as_array().unwrap();
    assert_eq!(ds.len(), 3);
    for d in ds {
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attemptCount"], 1);
    }
    // Nothing is re-sent: the restarted node has nothing to do, so there
    // is no state to wait for; watching for a while is the test.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn first_start_prints_the_key_and_urls_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let run = || {
        let dir = dir.path().to_owned();
        async move {
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
                .arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .env(
                    "HOOKRELAY_DATABASE_URL",
                    format!("sqlite://{}/db.sqlite", dir.display()),
                )
                .env_remove("HOOKRELAY_API_KEY")
                .env("HOOKRELAY_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            // Read the banner as it is printed; it ends with a blank line
            // after the API key's lines.
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let mut out = String::new();
            let banner = async {
                let mut key_seen = false;
                while let Some(l) = lines.next_line().await.unwrap() {
                    out.push_str(&l);
                    out.push('\n');
                    if l.contains("API key:") {
                        key_seen = true;
                    } else if key_seen && l.trim().is_empty() {
                        return;
                    }
                }
                panic!("the output ended before the banner did: {out}");
            };
            tokio::time::timeout(Duration::from_secs(20), banner)
                .await
                .expect("the banner within 20 s");
            kill(child.id().unwrap() as i32, libc::SIGTERM);
            child.wait().await.unwrap();
            out
        }
    };
    let first = run().await;
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}")),
        "{first}"
    );
    let key = first
        .lines()
        .find_map(|l| l.trim().strip_prefix("API key:"))
        .map(|k| k.trim().to_owned())
        .expect("key printed");
    assert!(key.starts_with("sk_"), "{first}");
    let second = run().await;
    assert!(!second.contains(&key), "the key is shown only once");
}
