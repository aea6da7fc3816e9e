//! Events published to many endpoints. SQLite keeps their deliveries as one
//! fan-out row until a claim (or a write that needs them as rows) writes
//! them out (`src/sqlite/fanout.rs`); through the interface they must be ordinary
//! pending deliveries on every backend: counted, listed, claimed oldest first
//! within the claim's limit and exclusions, cancelled, requeued, and kept by
//! purges.

use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{DeliveryId, EndpointId, WorkspaceId};
use hookrelay_core::model::{DeliveryStatus, Endpoint, Event};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{Backlog, DeliveryFilter, Lease, PageRequest, Published, Store};

use crate::support::*;

/// `n` endpoints of a new workspace.
async fn endpoints(store: &dyn Store, n: i64) -> (WorkspaceId, Vec<Endpoint>) {
    let ws = workspace(store, "acme").await;
    let mut eps = Vec::new();
    for i in 0..n {
        eps.push(add_endpoint(store, &ws, t(-DAY + i)).await);
    }
    (ws, eps)
}

/// Four endpoints, and an unleased event at `T0` to all of them; the
/// delivery ids follow the endpoints' order.
async fn wide(store: &dyn Store) -> (Vec<Endpoint>, Event, Vec<DeliveryId>) {
    let (ws, eps) = endpoints(store, 4).await;
    let refs: Vec<&Endpoint> = eps.iter().collect();
    let (ev, ids) = publish(store, &ws, t(0), &refs).await;
    (eps, ev, ids)
}

fn sorted(mut v: Vec<DeliveryId>) -> Vec<DeliveryId> {
    v.sort();
    v
}

/// The ids a claim at `now` under `l`, skipping `skip`, gets; sorted.
async fn claim_skipping(
    store: &dyn Store,
    now: Timestamp,
    l: &Lease,
    skip: &[EndpointId],
) -> Vec<DeliveryId> {
    let got = store.claim_due(now, l, 1_000, skip).await.unwrap();
    sorted(got.into_iter().map(|d| d.delivery.id).collect())
}

pub async fn fanout_deliveries_are_claimed_within_the_limit(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide(&*store).await;
    assert_eq!(
        store.backlog().await.unwrap(),
        Backlog {
            pending: 4,
            oldest_created_at: Some(t(0))
        }
    );
    let l = lease("node-a", t(30 * SEC));
    let mut seen = Vec::new();
    for expected in [3, 1, 0] {
        let got = store.claim_due(t(SEC), &l, 3, &[]).await.unwrap();
        assert_eq!(got.len(), expected);
        if expected == 3 {
            // Part claimed, part not: the event still shows all four.
            let (_, summaries) = store
                .get_event(&ev.workspace_id, &ev.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(summaries.len(), 4);
        }
        for d in got {
            assert_eq!(*d.event, ev);
            assert!(!d.manual);
            let i = ids.iter().position(|id| *id == d.delivery.id).unwrap();
            let x = &d.delivery;
            assert_eq!(x.endpoint_id, eps[i].id);
            assert_eq!(x.event_id, ev.id);
            assert_eq!(
                (x.event_type.as_str(), x.api_version.as_str()),
                (EVENT_TYPE, API_VERSION)
            );
            assert_eq!((x.status, x.attempt_count), (DeliveryStatus::Pending, 0));
            assert_eq!(x.next_attempt_at, Some(t(0)));
            assert_eq!(x.created_at, t(0));
            seen.push(x.id.clone());
        }
    }
    assert_eq!(
        sorted(seen),
        sorted(ids.clone()),
        "each claimed exactly once"
    );
    assert_eq!(
        store.backlog().await.unwrap().pending,
        4,
        "claimed is still pending"
    );
    // Leased: nobody else gets them until the lease ends.
    assert!(claim_ids(&*store, t(29 * SEC), "node-b").await.is_empty());
    assert_eq!(
        claim_ids(&*store, t(30 * SEC + 1), "node-b").await,
        sorted(ids)
    );
}

pub async fn fanout_claims_leave_excluded_endpoints_due(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide(&*store).await;
    let l = lease("node-a", t(30 * SEC));
    let skip = [eps[1].id.clone()];
    assert_eq!(
        claim_skipping(&*store, t(SEC), &l, &skip).await,
        sorted(vec![ids[0].clone(), ids[2].clone(), ids[3].clone()])
    );
    // A second wide event while endpoint 1 is still skipped: the claim that
    // came up short must not make the next one miss it.
    let refs: Vec<&Endpoint> = eps.iter().collect();
    let (_, more) = publish(&*store, &ev.workspace_id, t(500), &refs).await;
    assert_eq!(
        claim_skipping(&*store, t(SEC), &l, &skip).await,
        sorted(vec![more[0].clone(), more[2].clone(), more[3].clone()])
    );
    // A third, written out as rows by a read before the next skipping
    // claim: those rows are due before what that claim remembers.
    let (third, last) = publish(&*store, &ev.workspace_id, t(600), &refs).await;
    assert!(store
        .get_event(&ev.workspace_id, &third.id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        claim_skipping(&*store, t(SEC), &l, &skip).await,
        sorted(vec![last[0].clone(), last[2].clone(), last[3].clone()])
    );
    assert_eq!(
        claim_ids(&*store, t(SEC), "node-a").await,
        sorted(vec![ids[1].clone(), more[1].clone(), last[1].clone()]),
        "the skipped endpoint's deliveries waited, due"
    );
}

pub async fn fanout_claims_take_the_oldest_events_first(store: Arc<dyn Store>) {
    let (ws, eps) = endpoints(&*store, 3).await;
    let refs: Vec<&Endpoint> = eps.iter().collect();
    // Published out of order; claimed by creation time.
    let (late, _) = publish(&*store, &ws, t(200), &refs).await;
    let (early, _) = publish(&*store, &ws, t(100), &refs).await;
    let (_, narrow) = publish(&*store, &ws, t(50), &refs[..1]).await;
    let l = lease("node-a", t(30 * SEC));
    let first = store.claim_due(t(SEC), &l, 4, &[]).await.unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(first[0].delivery.id, narrow[0], "the oldest delivery first");
    assert!(first[1..].iter().all(|d| d.event.id == early.id));
    let rest = store.claim_due(t(SEC), &l, 4, &[]).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|d| d.event.id == late.id));
    // Not due yet: not claimed.
    let (_, future) = publish(&*store, &ws, t(5 * SEC), &refs).await;
    assert!(claim_ids(&*store, t(SEC), "node-b").await.is_empty());
    assert_eq!(
        claim_ids(&*store, t(5 * SEC), "node-b").await,
        sorted(future)
    );
}

pub async fn fanout_deliveries_are_read_as_pending_deliveries(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide(&*store).await;
    let ws = &ev.workspace_id;
    let (got, summaries) = store.get_event(ws, &ev.id).await.unwrap().unwrap();
    assert_eq!(got, ev);
    assert_eq!(got.delivery_count, 4);
    assert_eq!(summaries.len(), 4);
    for s in &summaries {
        assert_eq!((s.status, s.attempt_count), (DeliveryStatus::Pending, 0));
        let i = ids.iter().position(|id| *id == s.delivery_id).unwrap();
        assert_eq!(s.endpoint_id, eps[i].id);
    }
    let page = store
        .list_deliveries(ws, &DeliveryFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        sorted(page.items.iter().map(|d| d.id.clone()).collect()),
        sorted(ids.clone())
    );
    let (d, attempts) = get_delivery(&*store, ws, &ids[2]).await;
    assert_eq!(
        (d.status, d.endpoint_id.clone()),
        (DeliveryStatus::Pending, eps[2].id.clone())
    );
    assert!(attempts.is_empty());
    // Reading them changed nothing: still due, and claimed once each.
    assert_eq!(store.backlog().await.unwrap().pending, 4);
    assert_eq!(claim_ids(&*store, t(SEC), "node-a").await, sorted(ids));
    assert!(claim_ids(&*store, t(SEC), "node-b").await.is_empty());
}

pub async fn fanout_deliveries_are_found_by_id_or_endpoint_alone(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide(&*store).await;
    let refs: Vec<&Endpoint> = eps.iter().collect();
    let (other, more) = publish(&*store, &ev.workspace_id, t(1), &refs).await;
    let (d, _) = get_delivery(&*store, &ev.workspace_id, &ids[3]).await;
    assert_eq!(
        (d.endpoint_id, d.event_id),
        (eps[3].id.clone(), ev.id.clone())
    );
    let by_endpoint = store
        .list_deliveries(
            &ev.workspace_id,
            &DeliveryFilter {
                endpoint_id: Some(eps[1].id.clone()),
                ..DeliveryFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(by_endpoint.items.iter().map(|d| d.id.clone()).collect()),
        sorted(vec![ids[1].clone(), more[1].clone()])
    );
    let (d, _) = get_delivery(&*store, &ev.workspace_id, &more[2]).await;
    assert_eq!(d.event_id, other.id);
    assert_eq!(claim_ids(&*store, t(SEC), "node-a").await.len(), 8);
}

pub async fn fanout_endpoint_deletion_cancels_unclaimed_deliveries(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide(&*store).await;
    let ws = &ev.workspace_id;
    assert!(store.delete_endpoint(ws, &eps[1].id, t(SEC)).await.unwrap());
    assert_eq!(
        get_delivery(&*store, ws, &ids[1]).await.0.status,
        DeliveryStatus::Cancelled
    );
    assert_eq!(
        claim_ids(&*store, t(2 * SEC), "node-a").await,
        sorted(vec![ids[0].clone(), ids[2].clone(), ids[3].clone()])
    );
}

pub async fn fanout_requeue_of_an_unclaimed_delivery_leases_it(store: Arc<dyn Store>) {
    let (_, ev, ids) = wide(&*store).await;
    let got = store
        .requeue_delivery(
            &ev.workspace_id,
            &ids[2],
            t(SEC),
            &lease("node-b", t(31 * SEC)),
        )
        .await
        .unwrap()
        .expect("requeued");
    assert_eq!(got.delivery.id, ids[2]);
    assert_eq!(got.delivery.status, DeliveryStatus::Pending);
    assert_eq!(*got.event, ev);
    assert_eq!(
        claim_skipping(&*store, t(SEC), &lease("node-c", t(MIN)), &[]).await,
        sorted(vec![ids[0].clone(), ids[1].clone(), ids[3].clone()])
    );
    assert!(claim_ids(&*store, t(31 * SEC - 1), "node-d")
        .await
        .is_empty());
    assert_eq!(
        claim_ids(&*store, t(31 * SEC + 1), "node-d").await,
        vec![ids[2].clone()],
        "node-b's lease ran out"
    );
}

pub async fn fanout_purge_keeps_events_with_unclaimed_deliveries(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide(&*store).await;
    let ws = &ev.workspace_id;
    let purged = store.purge(t(30 * DAY), t(31 * DAY)).await.unwrap();
    assert_eq!((purged.events, purged.deliveries), (0, 0));
    assert!(store.get_event(ws, &ev.id).await.unwrap().is_some());
    assert_eq!(
        claim_ids(&*store, t(SEC), "node-a").await,
        sorted(ids.clone())
    );
    for (id, e) in ids.iter().zip(&eps) {
        finish(&*store, id, &e.id, DeliveryStatus::Succeeded, t(2 * SEC)).await;
    }
    let purged = store.purge(t(30 * DAY), t(31 * DAY)).await.unwrap();
    assert_eq!(
        (purged.events, purged.deliveries, purged.attempts),
        (1, 4, 4)
    );
}

/// A publish given a lease answers with what it leased (for the
/// publisher's dispatcher); whatever it did not lease is due at once for any
/// claimer, and what it leased is nobody else's until the lease ends.
pub async fn fanout_publish_with_a_lease_answers_what_it_leased(store: Arc<dyn Store>) {
    let (ws, eps) = endpoints(&*store, 4).await;
    let refs: Vec<&Endpoint> = eps.iter().collect();
    let ne = new_event(event(&ws, t(0)), &refs);
    let ids = sorted(ne.deliveries.iter().map(|d| d.id.clone()).collect());
    let mut out = store
        .publish(vec![ne], Some(lease("node-a", t(30 * SEC))))
        .await
        .expect("publish");
    let published = out.pop().expect("one result").expect("created");
    let Published::Created { leased, .. } = &published else {
        panic!("expected a new event");
    };
    let leased = sorted(leased.iter().map(|d| d.delivery.id.clone()).collect());
    let unleased: Vec<DeliveryId> = ids
        .iter()
        .filter(|i| !leased.contains(i))
        .cloned()
        .collect();
    assert_eq!(published.left_for_claims(), !unleased.is_empty());
    assert_eq!(
        claim_ids(&*store, t(SEC), "node-b").await,
        unleased,
        "unleased: due at once"
    );
    assert_eq!(
        claim_ids(&*store, t(30 * SEC + 1), "node-b").await,
        leased,
        "leased until the lease ends"
    );
}

/// [`wide`], all four claimed at `t(SEC)` by "node-a" until `t(MIN)`.
async fn wide_claimed(store: &dyn Store) -> (Vec<Endpoint>, Event, Vec<DeliveryId>) {
    let (eps, ev, ids) = wide(store).await;
    let a = lease("node-a", t(MIN));
    assert_eq!(
        claim_skipping(store, t(SEC), &a, &[]).await,
        sorted(ids.clone())
    );
    (eps, ev, ids)
}

/// Claimed fan-out deliveries are leased like any other: no one else claims
/// them until the lease ends or is released, a renewal extends it, and an
/// outcome is recorded with its attempt.
pub async fn fanout_claimed_deliveries_are_leased_until_their_outcome(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide_claimed(&*store).await;
    let ws = &ev.workspace_id;
    let b = lease("node-b", t(MIN));
    assert!(
        claim_skipping(&*store, t(2 * SEC), &b, &[])
            .await
            .is_empty(),
        "all four are leased"
    );
    store
        .record_outcomes(vec![
            outcome(
                &ids[0],
                &eps[0].id,
                t(2 * SEC),
                Some(200),
                DeliveryStatus::Succeeded,
                1,
                None,
            ),
            outcome(
                &ids[1],
                &eps[1].id,
                t(2 * SEC),
                Some(500),
                DeliveryStatus::Pending,
                1,
                Some(t(10 * MIN)),
            ),
        ])
        .await
        .unwrap();
    store
        .renew_leases(&ids[3..], &lease("node-a", t(2 * MIN)))
        .await
        .unwrap();
    store.release(&ids[2..3], "node-b").await.unwrap();
    assert!(
        claim_skipping(&*store, t(3 * SEC), &b, &[])
            .await
            .is_empty(),
        "a release by another owner does nothing"
    );
    store.release(&ids[2..3], "node-a").await.unwrap();
    assert_eq!(
        claim_skipping(&*store, t(3 * SEC), &b, &[]).await,
        [ids[2].clone()]
    );

    let c = |until| lease("node-c", until);
    assert_eq!(
        claim_skipping(&*store, t(MIN + SEC), &c(t(HOUR)), &[]).await,
        [ids[2].clone()],
        "node-b's lease is over; ids[3]'s was renewed"
    );
    assert_eq!(
        claim_skipping(&*store, t(2 * MIN + SEC), &c(t(HOUR)), &[]).await,
        [ids[3].clone()]
    );
    assert!(claim_skipping(&*store, t(5 * MIN), &c(t(HOUR)), &[])
        .await
        .is_empty());
    assert_eq!(
        claim_skipping(&*store, t(10 * MIN), &c(t(HOUR)), &[]).await,
        [ids[1].clone()],
        "the retry is due at its time"
    );

    let (d, attempts) = get_delivery(&*store, ws, &ids[0]).await;
    assert_eq!((d.status, d.attempt_count), (DeliveryStatus::Succeeded, 1));
    assert_eq!(d.event_id, ev.id);
    assert_eq!(d.endpoint_id, eps[0].id);
    assert_eq!(d.created_at, ev.created_at);
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].attempt_number, attempts[0].response_status),
        (1, Some(200))
    );
    let (d, attempts) = get_delivery(&*store, ws, &ids[1]).await;
    assert_eq!((d.status, d.attempt_count), (DeliveryStatus::Pending, 1));
    assert_eq!(d.next_attempt_at, Some(t(10 * MIN)));
    assert_eq!(attempts[0].response_status, Some(500));
    assert_eq!(store.backlog().await.unwrap().pending, 3);
}

/// A read of claimed fan-out deliveries shows them pending, and they stay
/// leased to their claimer: its renewals, releases and outcomes still act
/// on them, and an endpoint deleted meanwhile keeps its delivery cancelled.
pub async fn fanout_claimed_deliveries_read_while_leased_stay_leased(store: Arc<dyn Store>) {
    let (eps, ev, ids) = wide_claimed(&*store).await;
    let ws = &ev.workspace_id;
    let (_, summaries) = store.get_event(ws, &ev.id).await.unwrap().unwrap();
    assert_eq!(summaries.len(), 4);
    assert!(summaries
        .iter()
        .all(|s| s.status == DeliveryStatus::Pending));
    assert!(
        claim_skipping(&*store, t(2 * SEC), &lease("node-b", t(MIN)), &[])
            .await
            .is_empty(),
        "a read takes no lease away"
    );
    assert!(store
        .delete_endpoint(ws, &eps[3].id, t(2 * SEC))
        .await
        .unwrap());
    store
        .record_outcomes(vec![
            outcome(
                &ids[0],
                &eps[0].id,
                t(3 * SEC),
                Some(200),
                DeliveryStatus::Succeeded,
                1,
                None,
            ),
            outcome(
                &ids[3],
                &eps[3].id,
                t(3 * SEC),
                Some(200),
                DeliveryStatus::Succeeded,
                1,
                None,
            ),
        ])
        .await
        .unwrap();
    store
        .renew_leases(&ids[1..2], &lease("node-a", t(2 * MIN)))
        .await
        .unwrap();
    let c = lease("node-c", t(HOUR));
    assert_eq!(
        claim_skipping(&*store, t(MIN + SEC), &c, &[]).await,
        [ids[2].clone()],
        "ids[1]'s lease was renewed"
    );
    store.release(&ids[1..2], "node-a").await.unwrap();
    assert_eq!(
        claim_skipping(&*store, t(MIN + 2 * SEC), &c, &[]).await,
        [ids[1].clone()]
    );
    let (d, attempts) = get_delivery(&*store, ws, &ids[0]).await;
    assert_eq!((d.status, attempts.len()), (DeliveryStatus::Succeeded, 1));
    let (d, _) = get_delivery(&*store, ws, &ids[3]).await;
    assert_eq!(
        d.status,
        DeliveryStatus::Cancelled,
        "its endpoint was deleted"
    );
}

/// Lists mix deliveries that are rows with deliveries still in fan-out rows
/// (some of those partly written out by a claim), in id order, page by
/// page, with nothing missing or listed twice, filtered or not.
pub async fn fanout_and_row_deliveries_page_together(store: Arc<dyn Store>) {
    let (ws, eps) = endpoints(&*store, 4).await;
    let single = add_endpoint(&*store, &ws, t(-DAY + 10)).await;
    let refs: Vec<&Endpoint> = eps.iter().collect();
    let mut all = Vec::new();
    let mut of_first = Vec::new();
    for i in 0..5 {
        all.push(publish_to(&*store, &single, t(i * 10)).await);
        let (_, ids) = publish(&*store, &ws, t(i * 10 + 5), &refs).await;
        of_first.push(ids[0].clone());
        all.extend(ids);
    }
    // A claim writes some entries out as rows, leased.
    let l = lease("node-a", t(MIN));
    assert_eq!(store.claim_due(t(SEC), &l, 3, &[]).await.unwrap().len(), 3);
    let all: Vec<String> = all.iter().map(|d| d.to_string()).collect();
    let of_first: Vec<String> = of_first.iter().map(|d| d.to_string()).collect();
    for dir in [SortDir::Asc, SortDir::Desc] {
        for limit in [1, 2, 3, 7, 100] {
            let got = walk(
                dir,
                limit,
                |d: &hookrelay_core::model::Delivery| d.id.to_string(),
                |page| {
                    let store = store.clone();
                    let ws = ws.clone();
                    async move {
                        store
                            .list_deliveries(&ws, &DeliveryFilter::default(), &page)
                            .await
                    }
                },
            )
            .await;
            assert_complete_order(&got, &all, dir);
            let filter = DeliveryFilter {
                endpoint_id: Some(eps[0].id.clone()),
                ..DeliveryFilter::default()
            };
            let got = walk(
                dir,
                limit,
                |d: &hookrelay_core::model::Delivery| d.id.to_string(),
                |page| {
                    let store = store.clone();
                    let ws = ws.clone();
                    let filter = filter.clone();
                    async move { store.list_deliveries(&ws, &filter, &page).await }
                },
            )
            .await;
            assert_complete_order(&got, &of_first, dir);
        }
    }
}
