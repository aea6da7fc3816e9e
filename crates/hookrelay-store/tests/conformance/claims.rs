//! Fair claims: which workspaces have due work, and claims that take no more
//! of a workspace or an endpoint than the dispatcher has room for, never
//! reading another workspace's rows; outcomes recorded only by the node that
//! still holds the lease.

use std::collections::HashMap;
use std::sync::Arc;

use hookrelay_core::ids::{DeliveryId, EndpointId, WorkspaceId};
use hookrelay_core::model::DeliveryStatus;
use hookrelay_store::{Claim, DueDelivery, Store};

use crate::support::*;

fn claim_of(now: i64, owner: &str, workspaces: &[(&WorkspaceId, u32)]) -> Claim {
    Claim {
        now: t(now),
        lease: lease(owner, t(now + 30 * SEC)),
        workspaces: workspaces.iter().map(|(w, n)| ((*w).clone(), *n)).collect(),
        endpoints: HashMap::new(),
        default_room: None,
    }
}

fn ids(got: &[DueDelivery]) -> Vec<DeliveryId> {
    let mut v: Vec<DeliveryId> = got.iter().map(|d| d.delivery.id.clone()).collect();
    v.sort();
    v
}

fn of_endpoint(got: &[DueDelivery], e: &EndpointId) -> usize {
    got.iter().filter(|d| &d.delivery.endpoint_id == e).count()
}

fn sorted(mut v: Vec<WorkspaceId>) -> Vec<WorkspaceId> {
    v.sort();
    v
}

pub async fn due_workspaces_lists_those_with_deliveries_due(store: Arc<dyn Store>) {
    let a = workspace(&*store, "a").await;
    let b = workspace(&*store, "b").await;
    let c = workspace(&*store, "c").await;
    let d = workspace(&*store, "d").await;
    let ea = add_endpoint(&*store, &a, t(-DAY)).await;
    let eb = add_endpoint(&*store, &b, t(-DAY)).await;
    publish_to(&*store, &ea, t(0)).await;
    // Due only in an hour.
    publish_to(&*store, &eb, t(HOUR)).await;
    // An event to several endpoints (one fan-out row on SQLite).
    let mut many = Vec::new();
    for i in 0..4 {
        many.push(add_endpoint(&*store, &d, t(-DAY + i)).await);
    }
    let refs: Vec<_> = many.iter().collect();
    publish(&*store, &d, t(0), &refs).await;
    let _ = c;

    let due = store.due_workspaces(t(SEC), None, 100).await.unwrap();
    assert_eq!(due, sorted(vec![a.clone(), d.clone()]));
    let later = store.due_workspaces(t(HOUR), None, 100).await.unwrap();
    assert_eq!(later, sorted(vec![a.clone(), b.clone(), d.clone()]));
    // In pages, after a cursor.
    let first = store.due_workspaces(t(HOUR), None, 1).await.unwrap();
    assert_eq!(first, vec![later[0].clone()]);
    let rest = store
        .due_workspaces(t(HOUR), Some(&later[0]), 100)
        .await
        .unwrap();
    assert_eq!(rest, later[1..].to_vec());

    // Leased deliveries are not due; a lease that ran out is.
    let got = store
        .claim(&claim_of(SEC, "node-a", &[(&a, 10), (&d, 10)]))
        .await
        .unwrap();
    assert_eq!(got.len(), 5);
    assert!(store
        .due_workspaces(t(2 * SEC), None, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.due_workspaces(t(MIN), None, 100).await.unwrap(),
        sorted(vec![a, d])
    );
}

pub async fn claim_takes_at_most_each_workspaces_number(store: Arc<dyn Store>) {
    let a = workspace(&*store, "a").await;
    let b = workspace(&*store, "b").await;
    let ea = add_endpoint(&*store, &a, t(-DAY)).await;
    let eb = add_endpoint(&*store, &b, t(-DAY)).await;
    let mut a_ids = Vec::new();
    for i in 0..5 {
        a_ids.push(publish_to(&*store, &ea, t(i)).await);
        publish_to(&*store, &eb, t(i)).await;
    }
    let got = store
        .claim(&claim_of(SEC, "node-a", &[(&a, 2), (&b, 3)]))
        .await
        .unwrap();
    assert_eq!(of_endpoint(&got, &ea.id), 2);
    assert_eq!(of_endpoint(&got, &eb.id), 3);
    // Each workspace's oldest first.
    let taken_a: Vec<_> = got
        .iter()
        .filter(|d| d.delivery.endpoint_id == ea.id)
        .map(|d| d.delivery.id.clone())
        .collect();
    assert_eq!(taken_a, a_ids[..2].to_vec());
    // A workspace not named gives nothing, however much it has due.
    let got = store
        .claim(&claim_of(SEC, "node-a", &[(&b, 100)]))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(of_endpoint(&got, &eb.id), 2);
    let rest = store
        .claim(&claim_of(SEC, "node-a", &[(&a, 100)]))
        .await
        .unwrap();
    assert_eq!(ids(&rest), a_ids[2..].to_vec());
}

pub async fn claim_gives_an_endpoint_no_more_than_its_room(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let small = add_endpoint(&*store, &ws, t(-DAY)).await;
    let other = add_endpoint(&*store, &ws, t(-DAY + 1)).await;
    for i in 0..5 {
        publish_to(&*store, &small, t(i)).await;
        publish_to(&*store, &other, t(i)).await;
    }
    let mut c = claim_of(SEC, "node-a", &[(&ws, 100)]);
    c.endpoints.insert(small.id.clone(), 2);
    let got = store.claim(&c).await.unwrap();
    assert_eq!(of_endpoint(&got, &small.id), 2, "its room");
    assert_eq!(of_endpoint(&got, &other.id), 5, "no limit of its own");

    // Room 0: none of it, and the rest stays due for later.
    c.endpoints.insert(small.id.clone(), 0);
    assert!(store.claim(&c).await.unwrap().is_empty());
    c.endpoints.clear();
    let got = store.claim(&c).await.unwrap();
    assert_eq!(of_endpoint(&got, &small.id), 3);
}

/// An event to several endpoints (a fan-out row on SQLite) obeys the rooms
/// too, and what an endpoint had no room for stays due.
pub async fn claim_of_a_wide_event_obeys_the_rooms(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut eps = Vec::new();
    for i in 0..4 {
        eps.push(add_endpoint(&*store, &ws, t(-DAY + i)).await);
    }
    let refs: Vec<_> = eps.iter().collect();
    for i in 0..3 {
        publish(&*store, &ws, t(i), &refs).await;
    }
    let mut c = claim_of(SEC, "node-a", &[(&ws, 100)]);
    c.endpoints.insert(eps[0].id.clone(), 0);
    c.endpoints.insert(eps[1].id.clone(), 1);
    let got = store.claim(&c).await.unwrap();
    assert_eq!(of_endpoint(&got, &eps[0].id), 0);
    assert_eq!(of_endpoint(&got, &eps[1].id), 1);
    assert_eq!(of_endpoint(&got, &eps[2].id), 3);
    assert_eq!(of_endpoint(&got, &eps[3].id), 3);
    let rest = store
        .claim(&claim_of(SEC, "node-b", &[(&ws, 100)]))
        .await
        .unwrap();
    assert_eq!(of_endpoint(&rest, &eps[0].id), 3);
    assert_eq!(of_endpoint(&rest, &eps[1].id), 2);
    assert_eq!(rest.len(), 5);
}

/// A node whose lease ran out and was taken over by another cannot record
/// its attempt over the new owner's work; the new owner can.
pub async fn outcomes_are_recorded_only_by_the_lease_owner(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(-DAY)).await;
    let d = publish_to(&*store, &e, t(0)).await;
    assert_eq!(claim_ids(&*store, t(0), "node-a").await, vec![d.clone()]);
    // node-a's 30 s lease runs out; node-b takes the delivery over.
    assert_eq!(
        claim_ids(&*store, t(31 * SEC), "node-b").await,
        vec![d.clone()]
    );
    let mut late = outcome(
        &d,
        &e.id,
        t(32 * SEC),
        Some(200),
        DeliveryStatus::Succeeded,
        1,
        None,
    );
    late.lease_owner = Some("node-a".into());
    store.record_outcomes(vec![late]).await.unwrap();
    let (got, attempts) = get_delivery(&*store, &ws, &d).await;
    assert_eq!(
        got.status,
        DeliveryStatus::Pending,
        "node-a no longer owns it"
    );
    assert!(attempts.is_empty());

    let mut owned = outcome(
        &d,
        &e.id,
        t(33 * SEC),
        Some(200),
        DeliveryStatus::Succeeded,
        1,
        None,
    );
    owned.lease_owner = Some("node-b".into());
    store.record_outcomes(vec![owned]).await.unwrap();
    let (got, attempts) = get_delivery(&*store, &ws, &d).await;
    assert_eq!(got.status, DeliveryStatus::Succeeded);
    assert_eq!(attempts.len(), 1);
}

/// Endpoints the dispatcher names nothing of get the claim's default room.
pub async fn claim_gives_unnamed_endpoints_the_default_room(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(-DAY)).await;
    let e2 = add_endpoint(&*store, &ws, t(-DAY + 1)).await;
    let mut eps = Vec::new();
    for i in 0..3 {
        eps.push(add_endpoint(&*store, &ws, t(-DAY + 10 + i)).await);
    }
    let refs: Vec<_> = eps.iter().collect();
    for i in 0..5 {
        publish_to(&*store, &e1, t(i)).await;
        publish_to(&*store, &e2, t(i)).await;
        // A wide event (a fan-out row on SQLite) too.
        publish(&*store, &ws, t(i), &refs).await;
    }
    let mut c = claim_of(SEC, "node-a", &[(&ws, 100)]);
    c.endpoints.insert(e1.id.clone(), 4);
    c.default_room = Some(2);
    let got = store.claim(&c).await.unwrap();
    assert_eq!(of_endpoint(&got, &e1.id), 4, "named: its own room");
    assert_eq!(of_endpoint(&got, &e2.id), 2, "unnamed: the default");
    for e in &eps {
        assert_eq!(of_endpoint(&got, &e.id), 2, "in fan-out rows too");
    }
}
