//! Several `hookrelay serve` processes sharing one PostgreSQL database.
//!
//! Runs when `HOOKRELAY_TEST_POSTGRES_URL` is set (each test in a schema of
//! its own, dropped afterwards); skips otherwise, and fails instead of
//! skipping when `HOOKRELAY_REQUIRE_POSTGRES=1`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{
    eventually, get_ok, post_ok, spawn_serve, PgSchema, Receiver, Reply, ServeProcess, KEY,
};

/// A node on `database_url`, with short leases so a dead node's work is
/// taken over quickly.
fn start_node(database_url: &str) -> ServeProcess {
    spawn_serve(database_url, &[("HOOKRELAY_LEASE_SECONDS", "3")])
}

/// Event `i` of the run, with an idempotency key so a retry elsewhere is safe.
fn event(i: usize) -> Value {
    json!({"eventType": "extract_run.processed", "payload": {"n": i},
           "idempotencyKey": format!("multinode-{i}")})
}

fn event_ids(r: &Receiver) -> Vec<String> {
    r.received()
        .iter()
        .filter_map(|g| serde_json::from_slice::<Value>(&g.body).ok())
        .filter(|b| b["payload"]["probe"].is_null())
        .filter_map(|b| b["eventId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_the_work_and_survive_a_sigkill() {
    const EVENTS: usize = 5_000;
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let db = schema.url();
    // A little latency keeps attempts in flight on every node.
    let r = Receiver::start_replying(Reply::Delay(Duration::from_millis(2), 200)).await;
    let http = reqwest::Client::new();

    // Three nodes starting together on an empty database: one migrates and
    // bootstraps, the others agree on the same workspace.
    let mut nodes = vec![start_node(&db), start_node(&db), start_node(&db)];
    for n in &nodes {
        n.wait_healthy().await;
    }

    // The endpoint is made on node 0; nodes 1 and 2 learn of it by NOTIFY.
    post_ok(
        &http,
        &format!("{}/webhook_endpoints", nodes[0].url),
        &json!({"url": format!("{}/hook", r.url), "name": "r",
                "enabledEvents": ["extract_run.processed"], "apiVersion": "2026-02-09"}),
    )
    .await;
    for n in &nodes {
        // A probe event routed to the endpoint shows the node knows it.
        eventually(Duration::from_secs(10), || async {
            let ev = post_ok(
                &http,
                &format!("{}/events", n.url),
                &json!({"eventType": "extract_run.processed", "payload": {"probe": true}}),
            )
            .await;
            let id = ev["id"].as_str().unwrap();
            let got = get_ok(&http, &format!("{}/events/{id}", n.url)).await;
            if got["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
                Ok(())
            } else {
                Err(format!(
                    "node {} never saw the endpoint made on node 0: {got}",
                    n.url
                ))
            }
        })
        .await;
    }

    // Publish across the three; SIGKILL node 0 halfway, keep going on the others.
    let accepted = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let node0_dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut publishers = Vec::new();
    for w in 0..24 {
        let (http, urls, accepted, next, node0_dead) = (
            http.clone(),
            urls.clone(),
            accepted.clone(),
            next.clone(),
            node0_dead.clone(),
        );
        publishers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= EVENTS {
                    return;
                }
                let mut target = (i + w) % 3;
                if target == 0 && node0_dead.load(Ordering::Relaxed) {
                    target = 1 + i % 2;
                }
                let resp = http
                    .post(format!("{}/events", urls[target]))
                    .bearer_auth(KEY)
                    .json(&event(i))
                    .send()
                    .await;
                match resp {
                    Ok(resp) if resp.status() == 202 => {
                        let body: Value = resp.json().await.unwrap();
                        accepted
                            .lock()
                            .unwrap()
                            .insert(body["id"].as_str().unwrap().to_owned());
                    }
                    // Only a request to the node being killed may fail; it is
                    // published again elsewhere with the same idempotency
                    // key, so it exists once whether or not node 0 had
                    // committed it.
                    Ok(resp) if target == 0 => {
                        panic!("node 0 answered {} before dying", resp.status())
                    }
                    Err(_) if target == 0 => {
                        let resp = http
                            .post(format!("{}/events", urls[1 + i % 2]))
                            .bearer_auth(KEY)
                            .json(&event(i))
                            .send()
                            .await
                            .expect("a live node");
                        assert_eq!(resp.status(), 202);
                        let body: Value = resp.json().await.unwrap();
                        accepted
                            .lock()
                            .unwrap()
                            .insert(body["id"].as_str().unwrap().to_owned());
                    }
                    other => panic!("publishing to a live node failed: {other:?}"),
                }
            }
        }));
    }
    // Kill node 0 once deliveries are flowing through it.
    let kill_at = Instant::now() + Duration::from_secs(30);
    loop {
        if event_ids(&r).len() >= EVENTS / 3 || Instant::now() > kill_at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    nodes[0].signal(libc::SIGKILL);
    node0_dead.store(true, Ordering::Relaxed);
    let _ = nodes[0].child.wait().await;
    for p in publishers {
        p.await.expect("publisher");
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), EVENTS, "every publish was accepted once");

    // Everything accepted arrives, node 0's leased work included once its
    // leases expire.
    eventually(Duration::from_secs(90), || async {
        let got: HashSet<String> = event_ids(&r).into_iter().collect();
        match accepted.difference(&got).count() {
            0 => Ok(()),
            missing => Err(format!(
                "{missing} of {EVENTS} accepted events never reached the receiver"
            )),
        }
    })
    .await;
    // Late redeliveries (of what node 0 sent but never recorded) are done
    // once no delivery is pending: each is recorded after its last send.
    let pending = format!(
        "{}/webhook_deliveries?status=pending&maxPageSize=10",
        nodes[1].url
    );
    eventually(Duration::from_secs(30), || async {
        let page = get_ok(&http, &pending).await;
        match page["data"].as_array().map_or(0, Vec::len) {
            0 => Ok(()),
            n => Err(format!("{n}+ deliveries still pending")),
        }
    })
    .await;
    let ids = event_ids(&r);
    let mut per_event: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *per_event.entry(id.as_str()).or_default() += 1;
    }
    let duplicates = ids.len() - per_event.len();
    let share = duplicates as f64 / EVENTS as f64 * 100.0;
    println!(
        "multi-node: {EVENTS} accepted across 3 nodes, node 0 SIGKILLed mid-delivery; \
         {} unique deliveries, {duplicates} duplicates ({share:.2} %)",
        per_event.len()
    );
    assert!(
        per_event.keys().all(|id| accepted.contains(*id)),
        "nothing unaccepted arrived"
    );
    assert!(
        duplicates * 100 < EVENTS,
        "{duplicates} duplicates is 1 % or more"
    );
    drop(nodes);
    drop(schema);
}
