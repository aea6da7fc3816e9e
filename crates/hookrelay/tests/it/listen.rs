//! `hookrelay listen`: the real binary against real servers, forwarding to
//! a real local receiver.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::{
    eventually, kill, spawn_serve, verify_extend, PgSchema, Receiver, Reply, TestServer, KEY,
};

const WAIT: Duration = Duration::from_secs(20);
const EVENT: &str = "extract_run.processed";

/// A running `hookrelay listen` and the lines it prints.
struct Listen {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line seen so far (stdout and stderr).
    seen: Vec<String>,
}

impl Listen {
    fn spawn(api_url: &str, forward_to: &str, extra: &[&str]) -> Listen {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("listen")
            .args(["--api-url", api_url, "--forward-to", forward_to])
            .args(extra)
            .env("HOOKRELAY_API_KEY", KEY)
            .env_remove("HOOKRELAY_API_URL")
            .env_remove("HOOKRELAY_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn hookrelay listen");
        let (tx, lines) = mpsc::unbounded_channel();
        pump(child.stdout.take().expect("stdout"), tx.clone());
        pump(child.stderr.take().expect("stderr"), tx);
        Listen {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line matching `pred` (panics after `WAIT`).
    async fn line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(l) = self.lines.recv().await {
                self.seen.push(l.clone());
                if pred(&l) {
                    return Some(l);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(l)) => l,
            _ => panic!(
                "no such line from hookrelay listen; it printed: {:#?}",
                self.seen
            ),
        }
    }

    /// Waits for `Ready!`; returns the endpoint id and the signing secret.
    async fn ready(&mut self) -> (String, String) {
        let endpoint = self.line(|l| l.starts_with("Endpoint ")).await;
        let id = endpoint.split_whitespace().nth(1).expect("id").to_owned();
        let secret = self.line(|l| l.starts_with("Signing secret: ")).await;
        let secret = secret["Signing secret: ".len()..].to_owned();
        self.line(|l| l.starts_with("Ready!")).await;
        (id, secret)
    }

    /// Ctrl-C; returns the exit status.
    async fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running") as i32;
        assert_eq!(kill(pid, libc::SIGINT), 0);
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("hookrelay listen exits on Ctrl-C")
            .expect("wait")
    }
}

fn pump(
    out: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    tx: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
}

async fn endpoint_status(s: &TestServer, id: &str) -> StatusCode {
    s.get(&format!("/webhook_endpoints/{id}")).await.0
}

#[tokio::test]
async fn listen_forwards_signed_deliveries_reports_local_answers_and_cleans_up_on_exit() {
    let s = TestServer::start_with(|c| c.retry_schedule = vec![1]).await;
    let local = Receiver::start_replying(Reply::Body(200, "handled locally".into())).await;
    let mut cli = Listen::spawn(&s.url, &local.url, &["--events", EVENT]);
    let (endpoint_id, secret) = cli.ready().await;

    // The temporary endpoint is the server's, with only the asked-for
    // event type.
    let (status, e) = s.get(&format!("/webhook_endpoints/{endpoint_id}")).await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["enabledEvents"], json!([EVENT]));
    assert_eq!(e["createdBy"]["type"], "listen");

    // A published event reaches the local receiver, verifiable with the
    // printed secret, and the local answer is the attempt's in history.
    let ev = s.publish(EVENT, json!({"id": "ex_listen_1"})).await;
    let ev_id = ev["id"].as_str().unwrap().to_owned();
    let got = local.wait_for(1, WAIT).await;
    verify_extend(&got[0], &secret).expect("signed with the printed secret");
    assert_eq!(got[0].json()["eventId"], ev_id.as_str());
    assert_eq!(got[0].json()["payload"]["id"], "ex_listen_1");
    let line = cli.line(|l| l.contains(&ev_id)).await;
    assert!(
        line.contains(EVENT) && line.contains("[200]") && line.ends_with(" ms"),
        "{line}"
    );
    let d = s.delivery_of(&ev_id).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| {
            d["status"] == "succeeded"
        })
        .await;
    assert_eq!(d["attempts"][0]["responseStatus"], 200, "{d:#}");
    assert_eq!(d["attempts"][0]["responseBody"], "handled locally", "{d:#}");

    // A local 500 is a failed attempt, retried like any other.
    local.script(vec![Reply::Body(500, "local bug".into())]);
    let ev = s.publish(EVENT, json!({"id": "ex_listen_2"})).await;
    let ev_id = ev["id"].as_str().unwrap().to_owned();
    let line = cli
        .line(|l| l.contains(&ev_id) && l.contains("[500]"))
        .await;
    assert!(line.contains(EVENT), "{line}");
    cli.line(|l| l.contains(&ev_id) && l.contains("[200]"))
        .await;
    let d = s.delivery_of(&ev_id).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| {
            d["status"] == "succeeded"
        })
        .await;
    let statuses: Vec<&Value> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["responseStatus"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(200)], "{d:#}");
    assert_eq!(d["attempts"][0]["responseBody"], "local bug");

    // Ctrl-C: a clean exit, and the temporary endpoint is gone.
    let status = cli.interrupt().await;
    assert!(status.success(), "{status:?}");
    eventually(WAIT, || async {
        match endpoint_status(&s, &endpoint_id).await {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(format!("the listen endpoint still answers {other}")),
        }
    })
    .await;
}

#[tokio::test]
async fn a_local_url_that_is_down_is_a_failed_attempt_with_the_reason() {
    let s = TestServer::start_with(|c| c.retry_schedule = vec![]).await;
    let down = format!("http://127.0.0.1:{}/hook", crate::support::free_port());
    let mut cli = Listen::spawn(&s.url, &down, &["--events", EVENT]);
    cli.ready().await;
    let ev = s.publish(EVENT, json!({"id": "ex_down"})).await;
    let ev_id = ev["id"].as_str().unwrap().to_owned();
    let line = cli.line(|l| l.contains(&ev_id)).await;
    assert!(line.contains("[ERR connection refused"), "{line}");
    let d = s.delivery_of(&ev_id).await;
    let d = s
        .wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| d["status"] == "failed")
        .await;
    assert_eq!(d["attempts"][0]["responseStatus"], 502, "{d:#}");
    let body = d["attempts"][0]["responseBody"]
        .as_str()
        .unwrap_or_default();
    assert!(body.contains("local_unreachable"), "{body}");
}

#[tokio::test]
async fn listen_reconnects_to_the_same_endpoint_when_the_server_restarts() {
    let s = TestServer::start().await;
    let local = Receiver::start().await;
    let mut cli = Listen::spawn(&s.url, &local.url, &["--events", EVENT]);
    let (endpoint_id, secret) = cli.ready().await;

    let s = s.restart_in_place().await;
    cli.line(|l| l.starts_with("Reconnected")).await;
    let ev = s.publish(EVENT, json!({"id": "ex_after_restart"})).await;
    let got = local.wait_for(1, WAIT).await;
    verify_extend(&got[0], &secret).expect("the same secret after the restart");
    assert_eq!(got[0].json()["eventId"], ev["id"]);
    assert_eq!(endpoint_status(&s, &endpoint_id).await, StatusCode::OK);
}

#[tokio::test]
async fn an_endpoint_whose_cli_vanished_is_removed_after_the_grace_period() {
    let s = TestServer::start_with(|c| c.listen_grace = Duration::from_secs(1)).await;
    let local = Receiver::start().await;
    let mut kept = Listen::spawn(&s.url, &local.url, &[]);
    let (kept_id, _) = kept.ready().await;
    let (_, e) = s.get(&format!("/webhook_endpoints/{kept_id}")).await;
    assert!(
        e["enabledEvents"].as_array().is_some_and(|a| a.len() > 1),
        "every event type by default: {e}"
    );
    let mut gone = Listen::spawn(&s.url, &local.url, &[]);
    let (gone_id, _) = gone.ready().await;

    // SIGKILL: no goodbye; the sweeper removes it after the grace.
    gone.child.start_kill().expect("kill");
    gone.child.wait().await.expect("wait");
    eventually(WAIT, || async {
        match endpoint_status(&s, &gone_id).await {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(format!("the abandoned endpoint still answers {other}")),
        }
    })
    .await;
    // By then the older, still connected one has outlived the grace too,
    // kept alive by its node.
    assert_eq!(endpoint_status(&s, &kept_id).await, StatusCode::OK);
    kept.child.start_kill().expect("kill");
    kept.child.wait().await.expect("wait");
    eventually(WAIT, || async {
        match endpoint_status(&s, &kept_id).await {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(format!("the abandoned endpoint still answers {other}")),
        }
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_deleted_under_a_connected_cli_is_replaced_by_a_new_one() {
    let s = TestServer::start_with(|c| c.listen_grace = Duration::from_secs(1)).await;
    let local = Receiver::start().await;
    let mut cli = Listen::spawn(&s.url, &local.url, &["--events", EVENT]);
    let (first, first_secret) = cli.ready().await;
    let (status, _) = s.delete(&format!("/webhook_endpoints/{first}")).await;
    assert_eq!(status, StatusCode::OK);

    // The server notices at its next keep-alive and tells the CLI, which
    // starts over with a new endpoint and says so.
    cli.line(|l| l.starts_with("The temporary endpoint was removed"))
        .await;
    let (second, second_secret) = cli.ready().await;
    assert_ne!(second, first);
    assert_ne!(second_secret, first_secret);
    let ev = s.publish(EVENT, json!({"id": "ex_after_delete"})).await;
    let got = local.wait_for(1, WAIT).await;
    verify_extend(&got[0], &second_secret).expect("signed with the new secret");
    assert_eq!(got[0].json()["eventId"], ev["id"]);
    assert!(cli.interrupt().await.success());
}

#[tokio::test]
async fn revoking_the_key_ends_the_session_and_removes_its_endpoint() {
    let s = TestServer::start_with(|c| c.listen_grace = Duration::from_secs(1)).await;
    let (_, key) = s.post("/api_keys", json!({"name": "laptop"})).await;
    let plaintext = key["key"].as_str().expect("key").to_owned();
    let local = Receiver::start().await;
    let mut cli = Listen::spawn(&s.url, &local.url, &["--api-key", &plaintext]);
    let (endpoint_id, _) = cli.ready().await;
    let (status, _) = s
        .delete(&format!("/api_keys/{}", key["id"].as_str().expect("id")))
        .await;
    assert_eq!(status, StatusCode::OK);

    cli.line(|l| l.contains("revoked")).await;
    let exit = tokio::time::timeout(WAIT, cli.child.wait())
        .await
        .expect("hookrelay listen exits")
        .expect("wait");
    assert!(!exit.success(), "a revoked key is an error");
    eventually(WAIT, || async {
        match endpoint_status(&s, &endpoint_id).await {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(format!("the revoked key's endpoint still answers {other}")),
        }
    })
    .await;
}

/// A client that stops answering (it never reads, so never pongs) is
/// dropped by the server after three ping intervals, even with its TCP
/// connection still open; the CLI, which answers, is kept.
#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_dropped() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let s = TestServer::start_with(|c| {
        c.listen_grace = Duration::from_secs(1);
        c.listen_ping = Duration::from_millis(200);
    })
    .await;
    let local = Receiver::start().await;
    let mut cli = Listen::spawn(&s.url, &local.url, &[]);
    let (kept_id, _) = cli.ready().await;

    let mut request = format!("{}/listen", s.url.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {KEY}").parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(s.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut mute, _) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    let ready = match mute.next().await {
        Some(Ok(m)) => serde_json::from_str::<Value>(m.to_text().unwrap()).unwrap(),
        other => panic!("no ready frame: {other:?}"),
    };
    assert_eq!(ready["pingIntervalMs"], 200, "{ready}");
    let mute_id = ready["endpointId"].as_str().unwrap().to_owned();

    // From here `mute` is held open but never read.
    eventually(WAIT, || async {
        match endpoint_status(&s, &mute_id).await {
            StatusCode::NOT_FOUND => Ok(()),
            other => Err(format!(
                "the silent connection's endpoint still answers {other}"
            )),
        }
    })
    .await;
    assert_eq!(endpoint_status(&s, &kept_id).await, StatusCode::OK);
    assert!(cli.interrupt().await.success());
    drop(mute);
}

/// After a rotation the relay takes the previous secret for the grace
/// period only.
#[tokio::test]
async fn the_relay_takes_a_rotated_out_secret_only_during_its_grace() {
    let s = TestServer::start().await;
    let local = Receiver::start().await;
    let mut cli = Listen::spawn(&s.url, &local.url, &[]);
    let (endpoint_id, old_secret) = cli.ready().await;
    let (status, rotated) = s
        .post(
            &format!("/webhook_endpoints/{endpoint_id}/rotate_secret"),
            json!({"graceSeconds": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let relay_with_old_secret = || async {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let body = r#"{"eventId":"evt_old","eventType":"extract_run.processed","payload":{}}"#;
        s.http
            .post(format!("{}/_listen/{endpoint_id}", s.url))
            .header("x-extend-request-timestamp", now.to_string())
            .header(
                "x-extend-request-signature",
                hookrelay_webhooks::signing::extend_signature(&old_secret, now, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        relay_with_old_secret().await,
        StatusCode::OK,
        "within the grace"
    );
    eventually(WAIT, || async {
        match relay_with_old_secret().await {
            StatusCode::UNAUTHORIZED => Ok(()),
            other => Err(format!("the expired secret still gets {other}")),
        }
    })
    .await;
    assert!(cli.interrupt().await.success());
}

#[tokio::test]
async fn the_listen_route_wants_a_websocket_and_a_key_and_the_relay_a_signature() {
    let s = TestServer::start().await;
    let (status, body, _) = s
        .request(reqwest::Method::GET, "/listen", Some(KEY), None)
        .await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED, "{body}");
    assert_eq!(body["code"], "websocket_required");

    // A wrong key is refused before any endpoint exists.
    let local = Receiver::start().await;
    let out = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(["listen", "--api-url", &s.url, "--forward-to", &local.url])
        .env("HOOKRELAY_API_KEY", "sk_test_wrong_key_000000000000000")
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401"), "{err}");
    let (_, list) = s.get("/webhook_endpoints").await;
    assert_eq!(list["data"], json!([]), "{list}");

    // The relay route takes only deliveries signed for its endpoint.
    let mut cli = Listen::spawn(&s.url, &local.url, &[]);
    let (endpoint_id, _) = cli.ready().await;
    // A current, well-formed signature made with another secret.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = r#"{"eventId":"evt_forged","eventType":"extract_run.processed","payload":{}}"#;
    let signature = hookrelay_webhooks::signing::extend_signature(
        "wss_not_this_endpoints_secret",
        now,
        body.as_bytes(),
    );
    let forged = s
        .http
        .post(format!("{}/_listen/{endpoint_id}", s.url))
        .header("x-extend-request-timestamp", now.to_string())
        .header("x-extend-request-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let forged: Value = forged.json().await.unwrap();
    assert_eq!(forged["code"], "invalid_signature", "{forged}");
    assert!(local.received().is_empty());
    // And a listen endpoint's URL is not the client's to change.
    let (status, body) = s
        .post(
            &format!("/webhook_endpoints/{endpoint_id}"),
            json!({"url": "http://127.0.0.1:1/elsewhere"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "listen_endpoint");
}

/// Two nodes on one PostgreSQL database: the CLI holds its connection to
/// node A while the event is published on node B, and whichever node
/// claims the delivery relays it to A.
#[tokio::test]
async fn listen_works_across_nodes_on_postgres() {
    let Some(schema) = PgSchema::create().await else {
        eprintln!("skipped: no PostgreSQL (set HOOKRELAY_TEST_POSTGRES_URL)");
        return;
    };
    let a = spawn_serve(&schema.url(), &[]);
    let b = spawn_serve(&schema.url(), &[]);
    a.wait_healthy().await;
    b.wait_healthy().await;
    let local = Receiver::start().await;
    let mut cli = Listen::spawn(&a.url, &local.url, &["--events", EVENT]);
    let (_, secret) = cli.ready().await;
    let node_b = TestServer::remote(&b.url);
    // Node B learns of the endpoint through the database's notifications:
    // publish until its fan-out includes it.
    let first = eventually(WAIT, || async {
        let ev = node_b.publish(EVENT, json!({"id": "ex_pg_0"})).await;
        match ev["deliveryCount"].as_u64() {
            Some(1) => Ok(ev),
            _ => Err(format!(
                "node B does not know the listen endpoint yet: {ev}"
            )),
        }
    })
    .await;
    let mut ids = vec![first["id"].as_str().unwrap().to_owned()];
    for i in 1..4 {
        let ev = node_b
            .publish(EVENT, json!({"id": format!("ex_pg_{i}")}))
            .await;
        ids.push(ev["id"].as_str().unwrap().to_owned());
    }
    let got = local.wait_for(4, WAIT).await;
    for r in &got {
        verify_extend(r, &secret).expect("signed with the printed secret");
    }
    let mut seen: Vec<String> = got
        .iter()
        .map(|r| r.json()["eventId"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    let status = cli.interrupt().await;
    assert!(status.success(), "{status:?}");
}
