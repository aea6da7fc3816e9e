//! What only the PostgreSQL backend promises: several nodes sharing one
//! database. Each test opens two `PostgresStore` handles on one schema, as
//! two nodes would, and skips like the rest of the PostgreSQL suite (see
//! `backends.rs`) when no server is configured.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hookrelay_core::ids::DeliveryId;
use hookrelay_core::model::Event;
use hookrelay_store::postgres::PostgresStore;
use hookrelay_store::{Published, Store, StoreChange};
use tokio::sync::broadcast;

use crate::backends::PgSchema;
use crate::support::*;

/// Two nodes on one fresh schema.
async fn two_nodes(schema: &PgSchema) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let a: Arc<dyn Store> = Arc::new(schema.connect().await);
    let b: Arc<dyn Store> = Arc::new(schema.connect().await);
    (a, b)
}

async fn close(stores: &[&Arc<dyn Store>]) {
    for s in stores {
        bounded("close", s.close()).await;
    }
}

/// Waits (at most 10 s) for `want`, passing over other changes.
async fn expect_change(rx: &mut broadcast::Receiver<StoreChange>, want: &StoreChange) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Ok(c) if &c == want => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the change stream closed"),
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "{want:?} was not heard within 10 s");
}

/// The changes already received, without waiting.
fn received(rx: &mut broadcast::Receiver<StoreChange>) -> Vec<StoreChange> {
    let mut out = Vec::new();
    while let Ok(c) = rx.try_recv() {
        out.push(c);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_nodes_claim_concurrently_without_handing_out_twice() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;
    let ws = workspace(&*a, "acme").await;
    let mut eps = Vec::new();
    for i in 0..4 {
        eps.push(add_endpoint(&*a, &ws, t(i)).await);
    }
    let refs: Vec<_> = eps.iter().collect();
    let mut all = Vec::new();
    for i in 0..50 {
        // Published through both nodes.
        let node = if i % 2 == 0 { &a } else { &b };
        all.extend(publish(&**node, &ws, t(SEC + i), &refs).await.1);
    }

    let mut tasks = Vec::new();
    for n in 0..8 {
        let s = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let l = lease(&format!("node-{n}"), t(HOUR));
            let mut mine = Vec::new();
            loop {
                let got = s.claim_due(t(MIN), &l, 7, &[]).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                for d in &got {
                    assert_eq!(d.event.id, d.delivery.event_id);
                }
                mine.extend(got.into_iter().map(|d| d.delivery.id));
            }
        }));
    }
    let mut claimed: Vec<DeliveryId> = Vec::new();
    for task in tasks {
        claimed.extend(bounded("claimers", task).await.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique.len(), claimed.len(), "no delivery handed out twice");
    claimed.sort();
    all.sort();
    assert_eq!(claimed, all, "together they claimed every delivery");
    close(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_expired_lease_is_taken_over_and_not_renewed_by_its_old_owner() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;
    let ws = workspace(&*a, "acme").await;
    let e = add_endpoint(&*a, &ws, t(0)).await;
    let d = publish_to(&*a, &e, t(0)).await;

    let on_a = a
        .claim_due(t(0), &lease("node-a", t(30 * SEC)), 10, &[])
        .await
        .unwrap();
    assert_eq!(on_a.len(), 1);
    assert!(
        claim_ids(&*b, t(29 * SEC), "node-b").await.is_empty(),
        "node-a's lease holds against node-b"
    );

    // node-a stalls; its lease runs out and node-b takes the delivery over.
    let on_b = b
        .claim_due(t(31 * SEC), &lease("node-b", t(61 * SEC)), 10, &[])
        .await
        .unwrap();
    assert_eq!(on_b.len(), 1);
    assert_eq!(on_b[0].delivery.id, d);

    // node-a wakes up: it can neither renew nor release what is now node-b's.
    a.renew_leases(std::slice::from_ref(&d), &lease("node-a", t(HOUR)))
        .await
        .unwrap();
    a.release(std::slice::from_ref(&d), "node-a").await.unwrap();
    assert!(claim_ids(&*a, t(60 * SEC), "node-c").await.is_empty());
    // node-b's own renewal works.
    b.renew_leases(std::slice::from_ref(&d), &lease("node-b", t(2 * MIN)))
        .await
        .unwrap();
    assert!(claim_ids(&*a, t(2 * MIN - 1), "node-c").await.is_empty());
    assert_eq!(claim_ids(&*a, t(2 * MIN + 1), "node-c").await, vec![d]);
    close(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_changes_made_on_one_node_are_heard_on_the_other() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;
    let mut heard = b.changes().expect("PostgreSQL reports changes");
    let ws = workspace(&*a, "acme").await;
    let other = workspace(&*a, "globex").await;

    // Routing: endpoints and subscriptions.
    let e = add_endpoint(&*a, &ws, t(0)).await;
    expect_change(&mut heard, &StoreChange::Routing(ws.clone())).await;
    let mut changed = e.clone();
    changed.name = "renamed".into();
    changed.updated_at = t(SEC);
    assert!(a.update_endpoint(&changed, e.updated_at).await.unwrap());
    expect_change(&mut heard, &StoreChange::Routing(ws.clone())).await;
    let s = add_subscription(&*a, &e, "wf_1", t(SEC)).await;
    expect_change(&mut heard, &StoreChange::Routing(ws.clone())).await;
    assert!(a.delete_subscription(&ws, &s.id).await.unwrap());
    expect_change(&mut heard, &StoreChange::Routing(ws.clone())).await;

    // A publish leased at birth says nothing (its node sends the deliveries
    // itself). Notifications arrive in commit order, so once a later change
    // is heard, anything it said would have been heard before.
    let ne = new_event(event(&ws, t(2 * SEC)), &[&e]);
    let leased = ne.deliveries[0].id.clone();
    publish_new(&*a, ne, Some(lease("node-a", t(HOUR)))).await;
    add_endpoint(&*a, &other, t(3 * SEC)).await;
    expect_change(&mut heard, &StoreChange::Routing(other.clone())).await;
    let early = received(&mut heard);
    assert!(
        !early.contains(&StoreChange::DeliveriesDue),
        "a leased publish made nothing due: {early:?}"
    );

    // Handing the leased delivery back makes it due for everyone.
    a.release(std::slice::from_ref(&leased), "node-a")
        .await
        .unwrap();
    expect_change(&mut heard, &StoreChange::DeliveriesDue).await;
    // So does an unleased publish.
    publish_to(&*a, &e, t(4 * SEC)).await;
    expect_change(&mut heard, &StoreChange::DeliveriesDue).await;
    // And node-a hears its own changes too.
    let mut own = a.changes().expect("PostgreSQL reports changes");
    assert!(a.delete_endpoint(&ws, &e.id, t(5 * SEC)).await.unwrap());
    expect_change(&mut own, &StoreChange::Routing(ws.clone())).await;
    expect_change(&mut heard, &StoreChange::Routing(ws.clone())).await;
    close(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_listener_reconnects_and_asks_for_a_resync() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;
    let mut heard = b.changes().expect("PostgreSQL reports changes");

    // Cut every listening connection of this schema (both nodes').
    let admin = schema.client().await;
    let cut = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN %' AND query LIKE '%' || $1 || '%'",
            &[&schema.name],
        )
        .await
        .unwrap();
    assert_eq!(cut, 2, "one listener per node");
    expect_change(&mut heard, &StoreChange::Resync).await;

    // Listening again: changes flow as before.
    let ws = workspace(&*a, "acme").await;
    add_endpoint(&*a, &ws, t(0)).await;
    expect_change(&mut heard, &StoreChange::Routing(ws)).await;
    close(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_migrating_one_fresh_schema_at_once_both_succeed() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let url = schema.url();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut nodes: Vec<Arc<dyn Store>> = Vec::new();
    for s in starting {
        let store = bounded("connect", s).await.unwrap();
        nodes.push(Arc::new(store.expect("connect and migrate")));
    }
    let admin = schema.client().await;
    let versions: i64 = admin
        .query_one(
            &format!("SELECT count(*) FROM {}.hookrelay_migrations", schema.name),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        hookrelay_store::postgres::MIGRATION_COUNT as i64,
        "each migration applied once"
    );
    // Every node works on the migrated schema.
    let ws = workspace(&*nodes[0], "acme").await;
    for n in &nodes {
        assert!(n.get_workspace(&ws).await.unwrap().is_some());
    }
    for n in &nodes {
        bounded("close", n.close()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_one_idempotency_key_from_two_nodes_creates_one_event() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let (a, b) = two_nodes(&schema).await;
    let ws = workspace(&*a, "acme").await;
    let e = add_endpoint(&*a, &ws, t(0)).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let ev = Event {
            idempotency_key: Some("same".into()),
            ..event(&ws, t(SEC + i))
        };
        let ne = new_event(ev, &[&e]);
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { s.publish(vec![ne], None).await }));
    }
    let mut created = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match bounded("publish", task)
            .await
            .unwrap()
            .unwrap()
            .pop()
            .unwrap()
        {
            Ok(Published::Created { event: ev, .. }) => created.push(ev),
            Ok(Published::Duplicate(ev)) => duplicates.push(ev),
            Err(e) => panic!("a racing duplicate must not fail: {e}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one event is created");
    assert_eq!(duplicates.len(), 23);
    assert!(duplicates.iter().all(|d| *d == *created[0]));
    for node in [&a, &b] {
        let page = node
            .list_events(&ws, &Default::default(), &Default::default())
            .await
            .unwrap();
        assert_eq!(page.items, vec![(*created[0]).clone()]);
    }
    assert_eq!(claim(&*b, t(MIN), "node-b").await.len(), 1, "one delivery");
    close(&[&a, &b]).await;
}

/// PostgreSQL text cannot hold NUL: a receiver's body with one is kept with
/// U+FFFD in its place instead of failing the whole batch of outcomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nul_in_an_attempt_is_replaced_not_fatal() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(schema.connect().await);
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let (a, b) = (
        publish_to(&*store, &e, t(0)).await,
        publish_to(&*store, &e, t(1)).await,
    );
    let mut odd = outcome(
        &a,
        &e.id,
        t(SEC),
        Some(500),
        hookrelay_core::model::DeliveryStatus::Failed,
        1,
        None,
    );
    let attempt = odd.attempt.as_mut().unwrap();
    attempt.response_body = Some("bin\0ary".into());
    attempt.error_message = Some("nul\0".into());
    let plain = outcome(
        &b,
        &e.id,
        t(SEC),
        Some(200),
        hookrelay_core::model::DeliveryStatus::Succeeded,
        1,
        None,
    );
    store.record_outcomes(vec![odd, plain]).await.unwrap();
    let (_, attempts) = get_delivery(&*store, &ws, &a).await;
    assert_eq!(attempts[0].response_body.as_deref(), Some("bin\u{FFFD}ary"));
    assert_eq!(attempts[0].error_message.as_deref(), Some("nul\u{FFFD}"));
    assert_eq!(get_delivery(&*store, &ws, &b).await.1.len(), 1);
    store.close().await;
}

/// A search_path naming no existing schema is refused at connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connect_to_a_missing_schema_fails_to_open() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let url = schema
        .url()
        .replace(&schema.name, &format!("{}_missing", schema.name));
    match PostgresStore::connect(&url).await {
        Err(hookrelay_store::StoreError::Open(_)) => {}
        other => panic!("expected an Open error, got {other:?}"),
    }
}
