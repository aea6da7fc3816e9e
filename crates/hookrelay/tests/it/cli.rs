//! The client commands (`login`, `endpoints`, `subscriptions`, `events`,
//! `deliveries`, `event-types`, `trigger`, `completions`): the real binary
//! against a real server on loopback and a real receiver, with a config
//! file of its own in a temp dir (never the user's) and none of the
//! connection variables of the test run. Answers are checked through
//! `--json` and through the server's API; a few through the tables.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::response::IntoResponse;
use hookrelay_core::time::{Clock, SystemClock};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::support::{free_port, verify_extend, Receiver, Reply, TestServer, KEY};

const WAIT: Duration = Duration::from_secs(15);
const PROCESSED: &str = "extract_run.processed";
const FAILED: &str = "extract_run.failed";

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts it succeeded.
    fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    /// Asserts it succeeded; stdout as JSON.
    fn json(&self) -> Value {
        self.ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts it failed with `code` and printed nothing on stdout; stderr.
    fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:#?}");
        assert!(self.stdout.is_empty(), "nothing on stdout: {self:#?}");
        &self.stderr
    }
}

/// The binary with a config file of its own.
struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `$HOOKRELAY_CONFIG` of every run (in a directory that does not exist
    /// until `login` creates it).
    fn config(&self) -> PathBuf {
        self.dir.path().join("hookrelay").join("config.toml")
    }

    /// Runs `hookrelay <args>` with `env` and `stdin`.
    async fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookrelay"));
        cmd.args(args)
            .env_remove("HOOKRELAY_API_URL")
            .env_remove("HOOKRELAY_API_KEY")
            .env_remove("HOOKRELAY_PROFILE")
            .env("HOOKRELAY_CONFIG", self.config())
            .env("XDG_CONFIG_HOME", self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hookrelay");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).await.expect("write stdin");
            drop(pipe);
        }
        let out = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("hookrelay {args:?} did not finish within {WAIT:?}"))
            .expect("hookrelay ran");
        Run {
            code: out.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `hookrelay <args>` without any connection settings.
    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None).await
    }

    /// `hookrelay <args> --api-url <srv> --api-key KEY`: the connection
    /// flags after the verb, where they are global.
    async fn api(&self, srv: &TestServer, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--api-url", &srv.url, "--api-key", KEY]);
        self.run(&all).await
    }

    /// [`Cli::api`] with `--json`: the answer, which must be a success.
    async fn json(&self, srv: &TestServer, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        self.api(srv, &all).await.json()
    }
}

/// A JSON value's string (panics if it is not one).
fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// The ids of a list's items.
fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| s(&i["id"]))
        .collect()
}

/// The catalog's current API version.
async fn current_version(srv: &TestServer) -> String {
    let (status, types) = srv.get("/event_types").await;
    assert_eq!(status, StatusCode::OK, "{types}");
    s(&types["apiVersion"])
}

fn an_hour_ago() -> String {
    SystemClock.now().plus_millis(-3_600_000).to_rfc3339()
}

#[tokio::test]
async fn endpoints_verbs_create_list_get_update_enable_disable_rotate_test_and_delete() {
    let srv = TestServer::start().await;
    let r = Receiver::start().await;
    let cli = Cli::new();
    let current = current_version(&srv).await;
    let hook = format!("{}/hook", r.url);

    // Create with every option.
    let created = cli
        .json(
            &srv,
            &[
                "endpoints",
                "create",
                "--url",
                &hook,
                "--events",
                &format!("{PROCESSED},{FAILED}"),
                "--name",
                "CLI endpoint",
                "--api-version",
                &current,
                "--signature-scheme",
                "extend",
                "--header",
                "X-Tenant: acme",
            ],
        )
        .await;
    let id = s(&created["id"]);
    assert!(id.starts_with("webhook_endpoint_"), "{created:#}");
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["url"], hook.as_str());
    assert_eq!(created["name"], "CLI endpoint");
    assert_eq!(created["enabledEvents"], json!([PROCESSED, FAILED]));
    assert_eq!(created["signatureScheme"], "extend");
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["advancedOptions"]["headers"]["X-Tenant"], "acme");
    let first_secret = s(&created["signingSecret"]);
    assert!(first_secret.starts_with("wss_"), "{created:#}");
    let (status, stored) = srv.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["name"], "CLI endpoint");
    assert_eq!(stored["url"], hook.as_str());

    // Create with the defaults: named after the URL, no events, the
    // current version; --disabled; another signature scheme.
    let other_url = format!("{}/other", r.url);
    let plain = cli
        .json(
            &srv,
            &[
                "endpoints",
                "create",
                "--url",
                &other_url,
                "--disabled",
                "--signature-scheme",
                "standard-webhooks",
            ],
        )
        .await;
    let plain_id = s(&plain["id"]);
    assert_eq!(plain["name"], other_url.as_str(), "{plain:#}");
    assert_eq!(plain["enabledEvents"], json!([]), "{plain:#}");
    assert_eq!(plain["apiVersion"], current.as_str(), "{plain:#}");
    assert_eq!(plain["status"], "disabled", "{plain:#}");
    assert!(
        s(&plain["signingSecret"]).starts_with("whsec_"),
        "{plain:#}"
    );

    // The table of a created endpoint shows its id, URL and the secret.
    let third_url = format!("{}/third", r.url);
    let table = cli
        .api(&srv, &["endpoints", "create", "--url", &third_url])
        .await;
    table.ok();
    let (_, all) = srv.get("/webhook_endpoints?maxPageSize=100").await;
    let third = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == third_url.as_str())
        .unwrap_or_else(|| panic!("the third endpoint was created: {all:#}"))
        .clone();
    let third_id = s(&third["id"]);
    assert!(table.stdout.contains(&third_id), "{table:#?}");
    assert!(table.stdout.contains(&third_url), "{table:#?}");
    assert!(table.stdout.contains("wss_"), "the secret: {table:#?}");

    // list: a page, a filter, page by page, every page; and the table.
    let list = cli.json(&srv, &["endpoints", "list"]).await;
    assert_eq!(list["object"], "list", "{list:#}");
    let mut listed = ids(&list);
    listed.sort();
    let mut want = vec![id.clone(), plain_id.clone(), third_id.clone()];
    want.sort();
    assert_eq!(listed, want);
    let disabled = cli
        .json(&srv, &["endpoints", "list", "--status", "disabled"])
        .await;
    assert_eq!(ids(&disabled), [plain_id.as_str()]);
    let enabled = cli
        .json(&srv, &["endpoints", "list", "--status", "enabled"])
        .await;
    assert_eq!(ids(&enabled).len(), 2, "{enabled:#}");
    let page1 = cli.json(&srv, &["endpoints", "list", "--limit", "2"]).await;
    assert_eq!(ids(&page1).len(), 2, "{page1:#}");
    let token = s(&page1["nextPageToken"]);
    let page2 = cli
        .json(
            &srv,
            &["endpoints", "list", "--limit", "2", "--page-token", &token],
        )
        .await;
    assert_eq!(ids(&page2).len(), 1, "{page2:#}");
    assert!(!ids(&page1).contains(&ids(&page2)[0]));
    let every = cli
        .json(&srv, &["endpoints", "list", "--limit", "1", "--all"])
        .await;
    let mut every_ids = ids(&every);
    every_ids.sort();
    assert_eq!(every_ids, want, "{every:#}");
    assert_eq!(every["nextPageToken"], Value::Null, "{every:#}");
    let table = cli.api(&srv, &["endpoints", "list"]).await;
    table.ok();
    for (i, u) in [
        (&id, &hook),
        (&plain_id, &other_url),
        (&third_id, &third_url),
    ] {
        assert!(
            table.stdout.contains(i.as_str()) && table.stdout.contains(u.as_str()),
            "{table:#?}"
        );
    }

    // get
    let got = cli.json(&srv, &["endpoints", "get", &id]).await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["enabledEvents"], json!([PROCESSED, FAILED]));
    let table = cli.api(&srv, &["endpoints", "get", &id]).await;
    table.ok();
    assert!(
        table.stdout.contains(&id) && table.stdout.contains(&hook),
        "{table:#?}"
    );

    // update: URL, name, events, header; and another endpoint's version.
    let moved = format!("{}/moved", r.url);
    let updated = cli
        .json(
            &srv,
            &[
                "endpoints",
                "update",
                &id,
                "--url",
                &moved,
                "--name",
                "renamed",
                "--events",
                PROCESSED,
                "--header",
                "X-Tenant: beta",
            ],
        )
        .await;
    assert_eq!(updated["url"], moved.as_str(), "{updated:#}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["enabledEvents"], json!([PROCESSED]));
    assert_eq!(updated["advancedOptions"]["headers"]["X-Tenant"], "beta");
    let (_, stored) = srv.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(stored["url"], moved.as_str(), "{stored:#}");
    assert_eq!(stored["name"], "renamed");
    // An endpoint's API version is fixed at creation: `update` has no
    // such option, and a new endpoint takes the version and its names.
    let run = cli
        .api(
            &srv,
            &[
                "endpoints",
                "update",
                &plain_id,
                "--api-version",
                "2025-04-21",
            ],
        )
        .await;
    run.failed(2);
    let legacy = cli
        .json(
            &srv,
            &[
                "endpoints",
                "create",
                "--url",
                &other_url,
                "--api-version",
                "2025-04-21",
                "--events",
                "processor_run.processed",
            ],
        )
        .await;
    assert_eq!(legacy["apiVersion"], "2025-04-21", "{legacy:#}");
    assert_eq!(legacy["enabledEvents"], json!(["processor_run.processed"]));

    // disable, enable
    let off = cli.json(&srv, &["endpoints", "disable", &id]).await;
    assert_eq!(off["status"], "disabled", "{off:#}");
    let (_, stored) = srv.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(stored["status"], "disabled");
    let on = cli.json(&srv, &["endpoints", "enable", &id]).await;
    assert_eq!(on["status"], "enabled", "{on:#}");
    let (_, stored) = srv.get(&format!("/webhook_endpoints/{id}")).await;
    assert_eq!(stored["status"], "enabled");

    // rotate-secret: a new secret, the old one kept for the grace.
    let rotated = cli
        .json(&srv, &["endpoints", "rotate-secret", &id, "--grace", "60"])
        .await;
    let new_secret = s(&rotated["signingSecret"]);
    assert!(new_secret.starts_with("wss_"), "{rotated:#}");
    assert_ne!(new_secret, first_secret);
    assert!(
        rotated["previousSecretExpiresAt"].is_string(),
        "{rotated:#}"
    );

    // test: a test delivery of the asked-for type, with the custom header,
    // at the new URL; still signed with the old secret, which (on the
    // extend profile) signs until the grace of the rotation ends.
    let test = cli
        .json(&srv, &["endpoints", "test", &id, "--event-type", PROCESSED])
        .await;
    assert_eq!(test["object"], "webhook_delivery", "{test:#}");
    assert_eq!(test["test"], true);
    assert_eq!(test["eventType"], PROCESSED);
    assert_eq!(test["webhookEndpointId"], id.as_str());
    let got = r.wait_for(1, WAIT).await;
    assert_eq!(got[0].path_and_query, "/moved");
    assert_eq!(got[0].header("x-tenant").as_deref(), Some("beta"));
    verify_extend(&got[0], &first_secret).expect("the old secret signs during the grace");
    assert!(verify_extend(&got[0], &new_secret).is_err());
    srv.wait_delivery(&s(&test["id"]), WAIT, |d| d["status"] == "succeeded")
        .await;

    // delete, in JSON and as a table.
    let deleted = cli.json(&srv, &["endpoints", "delete", &id]).await;
    assert_eq!(deleted, json!({"id": id}));
    assert_eq!(
        srv.get(&format!("/webhook_endpoints/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let table = cli.api(&srv, &["endpoints", "delete", &third_id]).await;
    table.ok();
    assert!(table.stdout.contains(&third_id), "{table:#?}");
    assert_eq!(
        srv.get(&format!("/webhook_endpoints/{third_id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn subscriptions_verbs_route_events_of_their_resource() {
    let srv = TestServer::start().await;
    let r = Receiver::start().await;
    let cli = Cli::new();
    let ep = srv
        .endpoint(&format!("{}/sub", r.url), &[], json!({}))
        .await;
    let ep_id = s(&ep["id"]);

    let sub = cli
        .json(
            &srv,
            &[
                "subscriptions",
                "create",
                "--endpoint",
                &ep_id,
                "--resource",
                "extractor:ex_cli_1",
                "--events",
                &format!("{PROCESSED},{FAILED}"),
            ],
        )
        .await;
    let sub_id = s(&sub["id"]);
    assert_eq!(sub["object"], "webhook_subscription", "{sub:#}");
    assert_eq!(sub["webhookEndpointId"], ep_id.as_str());
    assert_eq!(sub["resourceType"], "extractor");
    assert_eq!(sub["resourceId"], "ex_cli_1");
    assert_eq!(sub["enabledEvents"], json!([PROCESSED, FAILED]));
    let wf = cli
        .json(
            &srv,
            &[
                "subscriptions",
                "create",
                "--endpoint",
                &ep_id,
                "--resource",
                "workflow:wf_cli_1",
                "--events",
                "workflow_run.completed",
            ],
        )
        .await;
    let wf_id = s(&wf["id"]);
    let (_, stored) = srv
        .get(&format!("/webhook_subscriptions?webhookEndpointId={ep_id}"))
        .await;
    assert_eq!(stored["data"].as_array().unwrap().len(), 2, "{stored:#}");

    // list: by endpoint, by resource, every page; and the table.
    let by_endpoint = cli
        .json(&srv, &["subscriptions", "list", "--endpoint", &ep_id])
        .await;
    let mut got = ids(&by_endpoint);
    got.sort();
    let mut want = vec![sub_id.clone(), wf_id.clone()];
    want.sort();
    assert_eq!(got, want);
    let by_resource = cli
        .json(
            &srv,
            &["subscriptions", "list", "--resource-id", "wf_cli_1"],
        )
        .await;
    assert_eq!(ids(&by_resource), [wf_id.as_str()]);
    let page = cli
        .json(&srv, &["subscriptions", "list", "--limit", "1"])
        .await;
    assert_eq!(ids(&page).len(), 1);
    let next = cli
        .json(
            &srv,
            &[
                "subscriptions",
                "list",
                "--limit",
                "1",
                "--page-token",
                &s(&page["nextPageToken"]),
            ],
        )
        .await;
    assert_eq!(ids(&next).len(), 1);
    assert_ne!(ids(&next), ids(&page));
    let every = cli
        .json(&srv, &["subscriptions", "list", "--limit", "1", "--all"])
        .await;
    assert_eq!(ids(&every).len(), 2, "{every:#}");
    let table = cli.api(&srv, &["subscriptions", "list"]).await;
    table.ok();
    assert!(
        table.stdout.contains(&sub_id) && table.stdout.contains("ex_cli_1"),
        "{table:#?}"
    );

    // An event about the subscribed resource reaches the endpoint; one
    // about another resource does not.
    let hit = cli
        .json(
            &srv,
            &[
                "events",
                "send",
                "--type",
                PROCESSED,
                "--data",
                r#"{"id":"exr_sub_1"}"#,
                "--resource",
                "extractor:ex_cli_1",
            ],
        )
        .await;
    assert_eq!(hit["deliveryCount"], 1, "{hit:#}");
    let miss = cli
        .json(
            &srv,
            &[
                "events",
                "send",
                "--type",
                PROCESSED,
                "--data",
                r#"{"id":"exr_sub_2"}"#,
                "--resource",
                "extractor:ex_cli_2",
            ],
        )
        .await;
    assert_eq!(miss["deliveryCount"], 0, "{miss:#}");
    let got = r.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["eventId"], hit["id"]);

    // delete
    let deleted = cli.json(&srv, &["subscriptions", "delete", &sub_id]).await;
    assert_eq!(deleted, json!({"id": sub_id}));
    let (_, stored) = srv
        .get(&format!("/webhook_subscriptions?webhookEndpointId={ep_id}"))
        .await;
    assert_eq!(ids(&stored), [wf_id], "{stored:#}");
    srv.wait_settled(WAIT).await;
}

#[tokio::test]
async fn events_deliveries_event_types_and_recover_verbs() {
    let srv = TestServer::start_with(|c| c.retry_schedule = vec![]).await;
    let r = Receiver::start().await;
    let cli = Cli::new();
    let ep = srv
        .endpoint(&format!("{}/ev", r.url), &[PROCESSED], json!({}))
        .await;
    let ep_id = s(&ep["id"]);

    // events send --data JSON with an idempotency key: the first delivery
    // is answered 500 and fails (no retries on this server).
    r.script(vec![Reply::Status(500)]);
    let send_a = [
        "events",
        "send",
        "--type",
        PROCESSED,
        "--data",
        r#"{"id":"exr_cli_a","status":"PROCESSED"}"#,
        "--idempotency-key",
        "cli-key-1",
    ];
    let a = cli.json(&srv, &send_a).await;
    assert_eq!(a["object"], "event", "{a:#}");
    assert_eq!(a["eventType"], PROCESSED);
    assert_eq!(a["deliveryCount"], 1);
    let a_id = s(&a["id"]);
    assert!(a_id.starts_with("evt_"), "{a:#}");
    let again = cli.json(&srv, &send_a).await;
    assert_eq!(again["id"], a_id.as_str(), "the idempotency key was sent");
    let a_delivery = s(&srv.delivery_of(&a_id).await["id"]);
    srv.wait_delivery(&a_delivery, WAIT, |d| d["status"] == "failed")
        .await;

    // events send --data @file, and its table.
    let file = cli.dir.path().join("payload.json");
    std::fs::write(&file, r#"{"id":"exr_cli_b","from":"a file"}"#).unwrap();
    let b = cli
        .api(
            &srv,
            &[
                "events",
                "send",
                "--type",
                PROCESSED,
                "--data",
                &format!("@{}", file.display()),
            ],
        )
        .await;
    b.ok();
    let (_, stored) = srv.get("/events?maxPageSize=10").await;
    let b_id = ids(&stored)
        .into_iter()
        .find(|i| *i != a_id)
        .unwrap_or_else(|| panic!("the second event is stored: {stored:#}"));
    assert!(b.stdout.contains(&b_id), "the table shows the id: {b:#?}");
    let (_, b_event) = srv.get(&format!("/events/{b_id}")).await;
    assert_eq!(
        b_event["payload"],
        json!({"id": "exr_cli_b", "from": "a file"})
    );
    let b_delivery = s(&srv.delivery_of(&b_id).await["id"]);
    srv.wait_delivery(&b_delivery, WAIT, |d| d["status"] == "succeeded")
        .await;

    // events list, get.
    let list = cli
        .json(&srv, &["events", "list", "--type", PROCESSED])
        .await;
    assert_eq!(ids(&list), [b_id.as_str(), a_id.as_str()], "newest first");
    let none = cli.json(&srv, &["events", "list", "--type", FAILED]).await;
    assert_eq!(ids(&none), Vec::<String>::new());
    let since = an_hour_ago();
    let window = cli
        .json(
            &srv,
            &["events", "list", "--since", &since, "--limit", "1", "--all"],
        )
        .await;
    assert_eq!(ids(&window).len(), 2, "{window:#}");
    let before = cli.json(&srv, &["events", "list", "--until", &since]).await;
    assert_eq!(ids(&before), Vec::<String>::new());
    // A time may also be an age before now.
    let recent = cli.json(&srv, &["events", "list", "--since", "1h"]).await;
    assert_eq!(ids(&recent).len(), 2, "{recent:#}");
    let older = cli.json(&srv, &["events", "list", "--until", "1h"]).await;
    assert_eq!(ids(&older), Vec::<String>::new());
    let table = cli.api(&srv, &["events", "list"]).await;
    table.ok();
    assert!(
        table.stdout.contains(&a_id) && table.stdout.contains(&b_id),
        "{table:#?}"
    );
    let event = cli.json(&srv, &["events", "get", &a_id]).await;
    assert_eq!(event["id"], a_id.as_str());
    assert_eq!(event["payload"]["id"], "exr_cli_a", "{event:#}");
    assert_eq!(event["idempotencyKey"], "cli-key-1");

    // deliveries list with each filter, get, and the table.
    let by_endpoint = cli
        .json(&srv, &["deliveries", "list", "--endpoint", &ep_id])
        .await;
    assert_eq!(
        ids(&by_endpoint),
        [b_delivery.as_str(), a_delivery.as_str()]
    );
    let failed = cli
        .json(&srv, &["deliveries", "list", "--status", "failed"])
        .await;
    assert_eq!(ids(&failed), [a_delivery.as_str()]);
    let of_event = cli
        .json(&srv, &["deliveries", "list", "--event", &b_id])
        .await;
    assert_eq!(ids(&of_event), [b_delivery.as_str()]);
    let of_type = cli
        .json(
            &srv,
            &[
                "deliveries",
                "list",
                "--type",
                PROCESSED,
                "--since",
                &since,
                "--limit",
                "1",
                "--all",
            ],
        )
        .await;
    assert_eq!(ids(&of_type).len(), 2, "{of_type:#}");
    let old = cli
        .json(&srv, &["deliveries", "list", "--until", &since])
        .await;
    assert_eq!(ids(&old), Vec::<String>::new());
    let page = cli
        .json(&srv, &["deliveries", "list", "--limit", "1"])
        .await;
    let rest = cli
        .json(
            &srv,
            &[
                "deliveries",
                "list",
                "--limit",
                "1",
                "--page-token",
                &s(&page["nextPageToken"]),
            ],
        )
        .await;
    assert_eq!(ids(&rest), [a_delivery.as_str()]);
    let detail = cli.json(&srv, &["deliveries", "get", &a_delivery]).await;
    assert_eq!(detail["status"], "failed", "{detail:#}");
    assert_eq!(detail["attempts"][0]["responseStatus"], 500, "{detail:#}");
    let table = cli.api(&srv, &["deliveries", "get", &a_delivery]).await;
    table.ok();
    assert!(
        table.stdout.contains(&a_delivery) && table.stdout.contains("failed"),
        "{table:#?}"
    );
    let table = cli.api(&srv, &["deliveries", "list"]).await;
    table.ok();
    assert!(table.stdout.contains(&a_delivery), "{table:#?}");

    // deliveries retry: the failed delivery goes again and succeeds.
    let retried = cli.json(&srv, &["deliveries", "retry", &a_delivery]).await;
    assert_eq!(retried["id"], a_delivery.as_str(), "{retried:#}");
    assert_eq!(retried["status"], "pending");
    let d = srv
        .wait_delivery(&a_delivery, WAIT, |d| d["status"] == "succeeded")
        .await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 2, "{d:#}");

    // endpoints recover: a new failure is requeued, and succeeds.
    r.script(vec![Reply::Status(500)]);
    let c = srv.publish(PROCESSED, json!({"id": "exr_cli_c"})).await;
    let c_delivery = s(&srv.delivery_of(&s(&c["id"])).await["id"]);
    srv.wait_delivery(&c_delivery, WAIT, |d| d["status"] == "failed")
        .await;
    let recover = cli
        .api(
            &srv,
            &["endpoints", "recover", &ep_id, "--since", &since, "--json"],
        )
        .await;
    let recovered = recover.json();
    assert!(
        !recover.stderr.contains('\r'),
        "no progress bar: {recover:#?}"
    );
    assert_eq!(recovered["object"], "recovery", "{recovered:#}");
    assert_eq!(recovered["webhookEndpointId"], ep_id.as_str());
    assert_eq!(recovered["requeued"], 1, "{recovered:#}");
    srv.wait_delivery(&c_delivery, WAIT, |d| d["status"] == "succeeded")
        .await;
    assert_eq!(
        r.received().len(),
        5,
        "a failed, b, a retried, c failed, c recovered"
    );

    // event-types list, current and an older version.
    let types = cli.json(&srv, &["event-types", "list"]).await;
    let names: Vec<String> = types["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(&t["name"]))
        .collect();
    assert!(names.iter().any(|n| n == PROCESSED), "{names:?}");
    let legacy = cli
        .json(
            &srv,
            &["event-types", "list", "--api-version", "2025-04-21"],
        )
        .await;
    assert_eq!(legacy["apiVersion"], "2025-04-21", "{legacy:#}");
    assert!(
        legacy["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "processor_run.processed"),
        "{legacy:#}"
    );
    let table = cli.api(&srv, &["event-types", "list"]).await;
    table.ok();
    assert!(table.stdout.contains(PROCESSED), "{table:#?}");
}

#[tokio::test]
async fn trigger_publishes_the_catalog_example_with_a_fresh_id_each_time() {
    let srv = TestServer::start().await;
    let r = Receiver::start().await;
    let cli = Cli::new();
    srv.endpoint(&format!("{}/t", r.url), &[PROCESSED, FAILED], json!({}))
        .await;
    let (_, catalog) = srv.get("/event_types").await;
    let example = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == PROCESSED)
        .map(|t| t["examplePayload"].clone())
        .expect("the catalog has the example");
    let example_id = s(&example["id"]);
    let extractor_id = s(&example["extractor"]["id"]);
    let prefix = &example_id[..example_id.find('_').unwrap() + 1];

    let first = cli.json(&srv, &["trigger", PROCESSED]).await;
    let second = cli.json(&srv, &["trigger", PROCESSED]).await;
    for ev in [&first, &second] {
        assert_eq!(ev["object"], "event", "{ev:#}");
        assert_eq!(ev["eventType"], PROCESSED);
        assert_eq!(ev["deliveryCount"], 1, "{ev:#}");
    }
    assert_ne!(first["id"], second["id"]);

    // Both delivered; each payload is the example with an id of its own.
    let got = r.wait_for(2, WAIT).await;
    let mut payload_ids = Vec::new();
    for ev in [&first, &second] {
        let body = got
            .iter()
            .map(|g| g.json())
            .find(|b| b["eventId"] == ev["id"])
            .unwrap_or_else(|| panic!("{} was delivered", ev["id"]));
        let payload = &body["payload"];
        let pid = s(&payload["id"]);
        assert!(pid.starts_with(prefix), "{pid} keeps the prefix {prefix}");
        assert_ne!(pid, example_id, "a fresh id");
        let mut rest = payload.clone();
        let mut want = example.clone();
        rest["id"] = Value::Null;
        want["id"] = Value::Null;
        assert_eq!(rest, want, "otherwise the catalog's example");
        payload_ids.push(pid);

        // The resource comes from the payload.
        let (_, stored) = srv.get(&format!("/events/{}", s(&ev["id"]))).await;
        assert_eq!(
            stored["resource"],
            json!({"type": "extractor", "id": extractor_id}),
            "{stored:#}"
        );
    }
    assert_ne!(payload_ids[0], payload_ids[1]);

    // Overrides (JSON where they parse, strings otherwise) and an explicit
    // resource.
    let ev = cli
        .json(
            &srv,
            &[
                "trigger",
                FAILED,
                "--override",
                "failureReason=TIMEOUT",
                "--override",
                "metadata.customerId=cust_9",
                "--override",
                "metadata.attempt=3",
                "--override",
                "reviewed=true",
                "--resource",
                "extractor:ex_mine",
            ],
        )
        .await;
    let (_, stored) = srv.get(&format!("/events/{}", s(&ev["id"]))).await;
    let p = &stored["payload"];
    assert_eq!(p["failureReason"], "TIMEOUT", "{p:#}");
    assert_eq!(p["metadata"]["customerId"], "cust_9");
    assert_eq!(p["metadata"]["attempt"], 3);
    assert_eq!(p["reviewed"], true);
    assert_eq!(p["status"], "FAILED", "the rest is the example");
    assert_eq!(
        stored["resource"],
        json!({"type": "extractor", "id": "ex_mine"})
    );

    // The table names the event.
    let table = cli.api(&srv, &["trigger", PROCESSED]).await;
    table.ok();
    assert!(
        table
            .stdout
            .contains(&format!("Triggered {PROCESSED} evt_")),
        "{table:#?}"
    );
    r.wait_for(4, WAIT).await;
    srv.wait_settled(WAIT).await;
}

#[tokio::test]
async fn login_writes_a_private_profile_that_later_commands_use() {
    let srv = TestServer::start().await;
    let cli = Cli::new();
    let (_, key_b) = srv.workspace("second").await;
    let ep_a = s(&srv.endpoint("http://127.0.0.1:9/a", &[], json!({})).await["id"]);
    let ep_b = s(&srv
        .post_as(
            &key_b,
            "/webhook_endpoints",
            json!({"url": "http://127.0.0.1:9/b", "name": "b", "enabledEvents": [], "apiVersion": "2026-02-09"}),
        )
        .await["id"]);
    let config = cli.config();

    // A key the server refuses is not saved.
    let bad = cli
        .run(&[
            "login",
            "--name",
            "bad",
            "--api-url",
            &srv.url,
            "--api-key",
            "sk_test_not_a_key_of_this_server_00",
        ])
        .await;
    let err = bad.failed(1);
    assert!(err.contains("HTTP 401"), "{bad:#?}");
    assert!(!config.exists(), "nothing written");

    // The key on stdin; the first profile becomes the default.
    let login = cli
        .run_with(
            &["login", "--name", "local", "--api-url", &srv.url],
            &[],
            Some(&format!("{KEY}\n")),
        )
        .await;
    login.ok();
    assert!(
        login.stdout.starts_with(&format!(
            "Saved profile local for {} in {}",
            srv.url,
            config.display()
        )),
        "{login:#?}"
    );
    assert!(!login.stdout.contains(KEY), "the key is not printed");
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(config.parent().unwrap()), 0o700);
    let file: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(file["default"].as_str(), Some("local"), "{file}");
    assert_eq!(
        file["profiles"]["local"]["api_url"].as_str(),
        Some(srv.url.as_str())
    );
    assert_eq!(file["profiles"]["local"]["api_key"].as_str(), Some(KEY));

    // A second profile from the flag: not the default.
    cli.run(&[
        "login",
        "--name",
        "second",
        "--api-url",
        &srv.url,
        "--api-key",
        &key_b,
    ])
    .await
    .ok();
    assert_eq!(mode(&config), 0o600);

    // No connection flags: the default profile; --profile NAME or
    // HOOKRELAY_PROFILE: that one; a flag or HOOKRELAY_API_KEY beats the
    // profile's key, and the flag beats the variable.
    let list = |args: &'static [&'static str], env: Vec<(&'static str, String)>| {
        let cli = &cli;
        async move {
            let mut all = vec!["endpoints", "list", "--json"];
            all.extend(args);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ids(&cli.run_with(&all, &env, None).await.json())
        }
    };
    assert_eq!(list(&[], vec![]).await, [ep_a.as_str()]);
    assert_eq!(
        list(&["--profile", "second"], vec![]).await,
        [ep_b.as_str()]
    );
    assert_eq!(
        list(&[], vec![("HOOKRELAY_PROFILE", "second".into())]).await,
        [ep_b.as_str()]
    );
    assert_eq!(
        list(&[], vec![("HOOKRELAY_API_KEY", key_b.clone())]).await,
        [ep_b.as_str()]
    );
    let flag_key = format!("--api-key={KEY}");
    let mut with_flag = vec!["endpoints", "list", "--json", "--profile", "second"];
    with_flag.push(&flag_key);
    let run = cli
        .run_with(&with_flag, &[("HOOKRELAY_API_KEY", key_b.as_str())], None)
        .await;
    assert_eq!(ids(&run.json()), [ep_a.as_str()]);

    // --default makes a profile the default.
    cli.run(&[
        "login",
        "--name",
        "second",
        "--api-url",
        &srv.url,
        "--api-key",
        &key_b,
        "--default",
    ])
    .await
    .ok();
    assert_eq!(list(&[], vec![]).await, [ep_b.as_str()]);
    assert_eq!(list(&["--profile", "local"], vec![]).await, [ep_a.as_str()]);

    // A profile that is not in the file is an error that names it.
    let run = cli
        .run(&["endpoints", "list", "--profile", "nowhere"])
        .await;
    let err = run.failed(1);
    assert!(
        err.starts_with("error: ") && err.contains("nowhere"),
        "{run:#?}"
    );
}

#[tokio::test]
async fn errors_print_the_api_message_and_exit_non_zero() {
    let srv = TestServer::start().await;
    let cli = Cli::new();

    // Not found: the API's message, code, status and request id.
    let run = cli
        .api(&srv, &["endpoints", "get", "webhook_endpoint_nope"])
        .await;
    let err = run.failed(1);
    let (_, api) = srv.get("/webhook_endpoints/webhook_endpoint_nope").await;
    let message = s(&api["message"]);
    assert!(
        err.starts_with(&format!("error: {message} (not_found, HTTP 404, request ")),
        "{run:#?}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {run:#?}");

    // An invalid input: the API's own words.
    let run = cli
        .api(
            &srv,
            &["events", "send", "--type", "nope.nothing", "--data", "{}"],
        )
        .await;
    let err = run.failed(1);
    let (status, api) = srv
        .post(
            "/events",
            json!({"eventType": "nope.nothing", "payload": {}}),
        )
        .await;
    assert!(
        err.contains(&format!(
            "{} ({}, HTTP {}",
            s(&api["message"]),
            s(&api["code"]),
            status.as_u16()
        )),
        "{run:#?} vs {api:#}"
    );
    let run = cli
        .api(&srv, &["endpoints", "create", "--url", "not a url"])
        .await;
    let err = run.failed(1);
    assert!(
        err.starts_with("error: ") && err.contains("HTTP 4"),
        "{run:#?}"
    );
    let (_, list) = srv.get("/webhook_endpoints").await;
    assert_eq!(list["data"], json!([]), "nothing created: {list:#}");

    // A key the server refuses.
    let run = cli
        .run(&[
            "endpoints",
            "list",
            "--api-url",
            &srv.url,
            "--api-key",
            "sk_test_not_a_key_of_this_server_00",
        ])
        .await;
    let err = run.failed(1);
    assert!(
        err.starts_with("error: ") && err.contains("HTTP 401"),
        "{run:#?}"
    );

    // No key anywhere.
    let run = cli.run(&["endpoints", "list", "--api-url", &srv.url]).await;
    let err = run.failed(1);
    assert!(
        err.starts_with("error: ") && err.contains("no API key"),
        "{run:#?}"
    );

    // No server there.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let run = cli
        .run(&["endpoints", "list", "--api-url", &nowhere, "--api-key", KEY])
        .await;
    let err = run.failed(1);
    assert!(err.starts_with("error: "), "{run:#?}");

    // Bad usage is clap's exit status 2.
    let run = cli.api(&srv, &["endpoints", "create"]).await;
    let err = run.failed(2);
    assert!(err.contains("--url"), "{run:#?}");
    let run = cli.api(&srv, &["endpoints", "frobnicate"]).await;
    run.failed(2);
    let run = cli
        .api(&srv, &["deliveries", "list", "--status", "lost"])
        .await;
    run.failed(2);
}

#[tokio::test]
async fn completions_print_a_script_for_each_shell() {
    let cli = Cli::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef hookrelay"),
        ("fish", "complete -c hookrelay"),
    ] {
        let run = cli.run(&["completions", shell]).await;
        run.ok();
        assert!(run.stdout.contains(marker), "{shell}: {run:#?}");
        for word in [
            "endpoints",
            "subscriptions",
            "deliveries",
            "trigger",
            "login",
        ] {
            assert!(run.stdout.contains(word), "{shell} completes {word}");
        }
    }
    cli.run(&["completions", "tcsh"]).await.failed(2);
}

/// A loopback proxy in front of a server that records the path and body of
/// each request it passes on: what the CLI sent.
struct Tap {
    url: String,
    seen: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl Tap {
    async fn start(upstream: &str) -> Tap {
        let seen: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let http = reqwest::Client::new();
        let (record, upstream) = (seen.clone(), upstream.to_owned());
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: Bytes| {
                let (record, http, upstream) = (record.clone(), http.clone(), upstream.clone());
                async move {
                    record
                        .lock()
                        .unwrap()
                        .push((uri.path().to_owned(), body.clone()));
                    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
                    let mut req = http.request(method, format!("{upstream}{uri}"));
                    for (k, v) in &headers {
                        if k != "host" && k != "content-length" {
                            req = req.header(k.as_str(), v.as_bytes());
                        }
                    }
                    let resp = req.body(body).send().await.expect("the server answers");
                    let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
                    let bytes = resp.bytes().await.expect("the answer");
                    (
                        status,
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        bytes,
                    )
                        .into_response()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Tap { url, seen }
    }

    /// How many events each `POST /events/batch` carried, in order.
    fn batches(&self) -> Vec<usize> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(path, _)| path == "/events/batch")
            .map(|(_, body)| {
                let v: Value = serde_json::from_slice(body).expect("a JSON batch");
                v["events"].as_array().expect("events").len()
            })
            .collect()
    }
}

#[tokio::test]
async fn events_send_file_publishes_every_line_in_batches_of_1000_without_a_bar_when_piped() {
    let srv = TestServer::start().await;
    let cli = Cli::new();
    let tap = Tap::start(&srv.url).await;
    let file = cli.dir.path().join("events.jsonl");
    let lines: Vec<String> = (0..1500)
        .map(|i| {
            json!({"eventType": FAILED, "payload": {"id": format!("exr_bulk_{i}")}}).to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let run = cli
        .run(&[
            "events",
            "send",
            "--file",
            &file.to_string_lossy(),
            "--api-url",
            &tap.url,
            "--api-key",
            KEY,
        ])
        .await;
    run.ok();
    assert!(
        run.stdout.contains("Published 1500 of 1500 events"),
        "says how many: {run:#?}"
    );
    for bar in ["\r", "\u{1b}[", "=>", "[="] {
        assert!(
            !run.stderr.contains(bar),
            "no progress bar when piped: {run:#?}"
        );
    }
    assert_eq!(tap.batches(), [1000, 500]);

    // All of them are stored, each once.
    let every = cli
        .json(
            &srv,
            &[
                "events", "list", "--type", FAILED, "--limit", "1000", "--all",
            ],
        )
        .await;
    let mut got = ids(&every);
    assert_eq!(got.len(), 1500);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 1500, "distinct events");
    let (_, page) = srv
        .get(&format!("/events?eventType={FAILED}&maxPageSize=1000"))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1000);
    let (_, rest) = srv
        .get(&format!(
            "/events?eventType={FAILED}&maxPageSize=1000&nextPageToken={}",
            s(&page["nextPageToken"])
        ))
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 500);
    assert_eq!(rest["nextPageToken"], Value::Null);

    // One JSON array with a rejected item: the others are published, the
    // per-item results printed, and the exit status says not all went.
    let mixed = cli.dir.path().join("mixed.json");
    std::fs::write(
        &mixed,
        json!([
            {"eventType": PROCESSED, "payload": {"id": "exr_ok_1"}},
            {"eventType": "nope.nothing", "payload": {}},
            {"eventType": PROCESSED, "payload": {"id": "exr_ok_2"}},
        ])
        .to_string(),
    )
    .unwrap();
    let run = cli
        .api(
            &srv,
            &[
                "events",
                "send",
                "--file",
                &mixed.to_string_lossy(),
                "--json",
            ],
        )
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    let out: Value = serde_json::from_str(&run.stdout).expect("JSON results");
    assert_eq!(out["object"], "list", "{out:#}");
    let data = out["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{out:#}");
    assert_eq!(data[0]["object"], "event");
    assert_eq!(data[1]["error"]["code"], "unknown_event_type");
    assert_eq!(data[2]["object"], "event");
    assert!(
        run.stderr.contains("error: 1 of 3 events were rejected"),
        "says how many failed: {run:#?}"
    );
    let (_, stored) = srv.get(&format!("/events?eventType={PROCESSED}")).await;
    assert_eq!(ids(&stored).len(), 2, "{stored:#}");
}

/// The same bulk send and a recovery on a terminal (a pseudo-terminal from
/// util-linux `script`) draw progress bars that the piped runs above do
/// not.
#[tokio::test]
async fn a_terminal_gets_progress_bars_for_bulk_send_and_recover() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: no `script` (util-linux) to give the CLI a terminal");
        return;
    }
    let srv = TestServer::start().await;
    let cli = Cli::new();
    let file = cli.dir.path().join("events.jsonl");
    let lines: Vec<String> = (0..1200)
        .map(|i| {
            json!({"eventType": PROCESSED, "payload": {"id": format!("exr_tty_{i}")}}).to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let endpoint = cli
        .json(
            &srv,
            &["endpoints", "create", "--url", "http://127.0.0.1:9/none"],
        )
        .await;
    let on_a_terminal = |args: String| {
        let cli = &cli;
        let srv = &srv;
        async move {
            let out = Command::new("script")
                .args([
                    "-qec",
                    &format!("{} {args}", env!("CARGO_BIN_EXE_hookrelay")),
                    "/dev/null",
                ])
                .env_remove("HOOKRELAY_PROFILE")
                .env("HOOKRELAY_CONFIG", cli.config())
                .env("HOOKRELAY_API_URL", &srv.url)
                .env("HOOKRELAY_API_KEY", KEY)
                .stdin(Stdio::null())
                .output()
                .await
                .expect("script runs");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let sent = on_a_terminal(format!("events send --file {}", file.display())).await;
    assert!(sent.contains("Publishing ["), "a bar: {sent:?}");
    assert!(sent.contains("1200/1200"), "it reaches the end: {sent:?}");
    assert!(sent.contains("Published 1200 of 1200 events"), "{sent:?}");

    let recovered = on_a_terminal(format!(
        "endpoints recover {} --since 3h",
        s(&endpoint["id"])
    ))
    .await;
    assert!(recovered.contains("Recovering ["), "a bar: {recovered:?}");
    assert!(
        recovered.contains("Re-queued 0 failed deliveries"),
        "{recovered:?}"
    );

    // `--json` on a terminal is for scripts too: no bar.
    let json = on_a_terminal(format!(
        "endpoints recover {} --since 3h --json",
        s(&endpoint["id"])
    ))
    .await;
    assert!(
        !json.contains("Recovering ["),
        "no bar with --json: {json:?}"
    );
}

/// A broken config file is an error only for the commands that need it:
/// a script that passes the server and the key does not read it.
#[tokio::test]
async fn a_broken_config_file_matters_only_when_it_is_needed() {
    let srv = TestServer::start().await;
    let cli = Cli::new();
    std::fs::create_dir_all(cli.config().parent().unwrap()).unwrap();
    std::fs::write(cli.config(), "default = [not toml").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cli.config(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let list = cli.json(&srv, &["endpoints", "list"]).await;
    assert_eq!(list["data"], json!([]), "{list:#}");
    let run = cli
        .run_with(&["endpoints", "list"], &[("HOOKRELAY_API_KEY", KEY)], None)
        .await;
    let err = run.failed(1);
    assert!(
        err.starts_with("error: reading ") && err.contains("config.toml"),
        "names the file: {run:#?}"
    );
}
