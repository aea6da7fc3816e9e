//! Per-workspace quotas on endpoints and subscriptions: what counts, what
//! does not, and that concurrent creates never overshoot.

use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::WorkspaceId;
use hookrelay_store::{EndpointFilter, PageRequest, Store, StoreError, SubscriptionFilter};

use crate::support::*;

fn all() -> PageRequest {
    PageRequest {
        limit: 1000,
        after: None,
        dir: SortDir::Asc,
    }
}

fn is_quota(r: &hookrelay_store::Result<impl std::fmt::Debug>, what: &str, limit: u32) -> bool {
    matches!(r, Err(StoreError::QuotaExceeded { what: w, limit: l }) if *w == what && *l == limit)
}

async fn live_endpoints(store: &dyn Store, ws: &WorkspaceId) -> usize {
    store
        .list_endpoints(ws, &EndpointFilter::default(), &all())
        .await
        .unwrap()
        .items
        .len()
}

async fn subscriptions(store: &dyn Store, ws: &WorkspaceId) -> usize {
    store
        .list_subscriptions(ws, &SubscriptionFilter::default(), &all())
        .await
        .unwrap()
        .items
        .len()
}

pub async fn endpoint_quota_counts_live_endpoints_of_its_workspace(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "other").await;
    let first = endpoint(&ws, t(0));
    store.insert_endpoint(&first, Some(2)).await.unwrap();
    store
        .insert_endpoint(&endpoint(&ws, t(1)), Some(2))
        .await
        .unwrap();

    let third = endpoint(&ws, t(2));
    let r = store.insert_endpoint(&third, Some(2)).await;
    assert!(is_quota(&r, "endpoints", 2), "got {r:?}");
    assert_eq!(store.get_endpoint(&ws, &third.id).await.unwrap(), None);
    assert_eq!(live_endpoints(&*store, &ws).await, 2);

    // Another workspace has a quota of its own.
    store
        .insert_endpoint(&endpoint(&other, t(3)), Some(2))
        .await
        .unwrap();
    // A deleted endpoint does not count.
    assert!(store.delete_endpoint(&ws, &first.id, t(4)).await.unwrap());
    store.insert_endpoint(&third, Some(2)).await.unwrap();
    assert_eq!(live_endpoints(&*store, &ws).await, 2);
    // Without a quota, nothing is counted.
    store
        .insert_endpoint(&endpoint(&ws, t(5)), None)
        .await
        .unwrap();
    assert_eq!(live_endpoints(&*store, &ws).await, 3);
    // A quota of 0 refuses every new endpoint.
    let r = store
        .insert_endpoint(&endpoint(&other, t(6)), Some(0))
        .await;
    assert!(is_quota(&r, "endpoints", 0), "got {r:?}");
}

pub async fn subscription_quota_counts_new_subscriptions_only(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "other").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let a = subscription(&e1, "wf_1", t(SEC));
    store.upsert_subscription(&a, Some(2)).await.unwrap();
    let b = subscription(&e2, "wf_1", t(2 * SEC));
    store.upsert_subscription(&b, Some(2)).await.unwrap();

    // At the quota, the same endpoint and resource is an update: allowed.
    let mut again = subscription(&e1, "wf_1", t(3 * SEC));
    again.enabled_events = vec!["workflow_run.failed".to_owned()];
    let (stored, created) = store.upsert_subscription(&again, Some(2)).await.unwrap();
    assert!(!created);
    assert_eq!(stored.id, a.id);
    assert_eq!(stored.enabled_events, again.enabled_events);

    // A new one is refused, and nothing is stored.
    let c = subscription(&e1, "wf_2", t(4 * SEC));
    let r = store.upsert_subscription(&c, Some(2)).await;
    assert!(is_quota(&r, "subscriptions", 2), "got {r:?}");
    assert_eq!(store.get_subscription(&ws, &c.id).await.unwrap(), None);
    assert_eq!(subscriptions(&*store, &ws).await, 2);

    // Another workspace counts its own.
    let o = add_endpoint(&*store, &other, t(5)).await;
    store
        .upsert_subscription(&subscription(&o, "wf_1", t(5 * SEC)), Some(2))
        .await
        .unwrap();

    // Deleting a subscription, or the endpoint holding one, makes room.
    assert!(store.delete_subscription(&ws, &a.id).await.unwrap());
    store.upsert_subscription(&c, Some(2)).await.unwrap();
    let d = subscription(&e1, "wf_3", t(6 * SEC));
    let r = store.upsert_subscription(&d, Some(2)).await;
    assert!(is_quota(&r, "subscriptions", 2), "got {r:?}");
    assert!(store
        .delete_endpoint(&ws, &e2.id, t(7 * SEC))
        .await
        .unwrap());
    store.upsert_subscription(&d, Some(2)).await.unwrap();
    assert_eq!(subscriptions(&*store, &ws).await, 2);
}

pub async fn concurrent_endpoint_inserts_never_exceed_the_quota(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    add_endpoint(&*store, &ws, t(0)).await;
    let mut tasks = Vec::new();
    for i in 1..=24 {
        let (s, e) = (store.clone(), endpoint(&ws, t(i)));
        tasks.push(tokio::spawn(
            async move { s.insert_endpoint(&e, Some(6)).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        let r = bounded("insert_endpoint", task).await.unwrap();
        match r {
            Ok(()) => created += 1,
            Err(StoreError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(created, 5, "one existed, the quota is 6");
    assert_eq!(live_endpoints(&*store, &ws).await, 6);
}

pub async fn concurrent_subscription_upserts_never_exceed_the_quota(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut tasks = Vec::new();
    for i in 1..=24 {
        // Every fourth one repeats a resource: an update if its twin won.
        let resource = format!("wf_{}", if i % 4 == 0 { i - 1 } else { i });
        let (s, sub) = (store.clone(), subscription(&e, &resource, t(i)));
        tasks.push(tokio::spawn(async move {
            s.upsert_subscription(&sub, Some(7)).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match bounded("upsert_subscription", task).await.unwrap() {
            Ok((_, true)) => created += 1,
            Ok((_, false)) | Err(StoreError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(created, 7);
    assert_eq!(subscriptions(&*store, &ws).await, 7);
}
