//! Delivery history and what people do with it: manual retry (requeue),
//! endpoint recovery, reading a delivery with its attempts, and listing
//! deliveries with filters and pagination.

use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{DeliveryId, EndpointId, WorkspaceId};
use hookrelay_core::model::{Delivery, DeliveryStatus, Endpoint, Event};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{DeliveryFilter, Outcome, PageRequest, Store};

use crate::support::*;

fn sorted(mut v: Vec<DeliveryId>) -> Vec<DeliveryId> {
    v.sort();
    v
}

/// A delivery to `e` created at `at` and left with `status` (one attempt
/// for succeeded/failed; cancelled without an attempt).
async fn delivery_with_status(
    store: &dyn Store,
    e: &Endpoint,
    at: Timestamp,
    status: DeliveryStatus,
) -> DeliveryId {
    let d = publish_to(store, e, at).await;
    match status {
        DeliveryStatus::Pending => {
            // One failed attempt, retry far in the future.
            store
                .record_outcomes(vec![outcome(
                    &d,
                    &e.id,
                    at,
                    Some(500),
                    DeliveryStatus::Pending,
                    1,
                    Some(at.plus_millis(100 * DAY)),
                )])
                .await
                .unwrap();
        }
        DeliveryStatus::Cancelled => {
            store
                .record_outcomes(vec![Outcome {
                    delivery_id: d.clone(),
                    endpoint_id: e.id.clone(),
                    lease_owner: None,
                    attempt: None,
                    status: DeliveryStatus::Cancelled,
                    attempt_count: 0,
                    next_attempt_at: None,
                    endpoint_effect: None,
                }])
                .await
                .unwrap();
        }
        s => finish(store, &d, &e.id, s, at).await,
    }
    d
}

pub async fn requeue_succeeded_delivery_is_pending_manual_and_leased(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    for status in [DeliveryStatus::Succeeded, DeliveryStatus::Failed] {
        let d = delivery_with_status(&*store, &e, t(SEC), status).await;
        assert!(!get_delivery(&*store, &ws, &d).await.0.manual);
        let now = t(HOUR);
        let l = lease("api-node", now.plus_millis(30 * SEC));
        let due = store
            .requeue_delivery(&ws, &d, now, &l)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(due.delivery.id, d);
        assert_eq!(due.delivery.status, DeliveryStatus::Pending);
        assert_eq!(due.delivery.attempt_count, 1, "history is kept");
        assert!(due.manual, "a manual attempt outside the schedule");
        assert!(due.delivery.manual);
        assert_eq!(due.event.id, due.delivery.event_id);
        let read = get_delivery(&*store, &ws, &d).await.0;
        assert_eq!(read.status, DeliveryStatus::Pending);
        assert!(read.manual, "history tells it was sent by hand");

        // Leased to the caller, who sends it now; nobody else takes it...
        assert!(claim_ids(&*store, now, "node-b").await.is_empty());
        // ...unless the caller dies and the lease runs out: still manual.
        let again = claim(&*store, now.plus_millis(31 * SEC), "node-b").await;
        assert_eq!(again.len(), 1);
        assert!(again[0].manual);

        store
            .record_outcomes(vec![outcome(
                &d,
                &e.id,
                now.plus_millis(32 * SEC),
                Some(200),
                DeliveryStatus::Succeeded,
                2,
                None,
            )])
            .await
            .unwrap();
        let (got, attempts) = get_delivery(&*store, &ws, &d).await;
        assert_eq!(got.status, DeliveryStatus::Succeeded);
        assert!(got.manual, "still after its attempt");
        assert_eq!(attempts.len(), 2);
    }
}

pub async fn requeue_pending_delivery_is_leased_and_due_now(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    // Pending, next attempt 100 days away.
    let d = delivery_with_status(&*store, &e, t(0), DeliveryStatus::Pending).await;
    let now = t(MIN);
    let due = store
        .requeue_delivery(&ws, &d, now, &lease("api-node", now.plus_millis(30 * SEC)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(due.delivery.status, DeliveryStatus::Pending);
    assert!(
        claim_ids(&*store, now, "node-b").await.is_empty(),
        "leased to the caller"
    );
    // Handed back unattempted, it is due now, not in 100 days.
    store
        .release(std::slice::from_ref(&d), "api-node")
        .await
        .unwrap();
    assert_eq!(claim_ids(&*store, now, "node-b").await, vec![d]);
}

pub async fn requeue_continues_attempt_numbering(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let d = publish_to(&*store, &e, t(0)).await;
    store
        .record_outcomes(vec![outcome(
            &d,
            &e.id,
            t(0),
            Some(500),
            DeliveryStatus::Pending,
            1,
            Some(t(5 * SEC)),
        )])
        .await
        .unwrap();
    store
        .record_outcomes(vec![outcome(
            &d,
            &e.id,
            t(5 * SEC),
            Some(200),
            DeliveryStatus::Succeeded,
            2,
            None,
        )])
        .await
        .unwrap();
    let now = t(HOUR);
    store
        .requeue_delivery(&ws, &d, now, &lease("api-node", now.plus_millis(30 * SEC)))
        .await
        .unwrap()
        .unwrap();
    store
        .record_outcomes(vec![outcome(
            &d,
            &e.id,
            now,
            Some(500),
            DeliveryStatus::Failed,
            3,
            None,
        )])
        .await
        .unwrap();

    let (got, attempts) = get_delivery(&*store, &ws, &d).await;
    assert_eq!(got.status, DeliveryStatus::Failed);
    assert_eq!(got.attempt_count, 3);
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt_number).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    let started: Vec<Timestamp> = attempts.iter().map(|a| a.started_at).collect();
    assert_eq!(started, vec![t(0), t(5 * SEC), now]);
}

pub async fn requeue_unknown_or_foreign_delivery_is_none(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let d = delivery_with_status(&*store, &e, t(0), DeliveryStatus::Succeeded).await;
    let l = lease("api-node", t(HOUR));

    assert!(store
        .requeue_delivery(&other, &d, t(MIN), &l)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .requeue_delivery(&ws, &DeliveryId::at(T0.0), t(MIN), &l)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        get_delivery(&*store, &ws, &d).await.0.status,
        DeliveryStatus::Succeeded
    );
    assert!(claim_ids(&*store, t(DAY), "node-b").await.is_empty());
}

pub async fn recover_endpoint_requeues_only_failed_in_window(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let neighbour = add_endpoint(&*store, &ws, t(1)).await;
    let (since, until, now) = (t(HOUR), t(3 * HOUR), t(5 * HOUR));

    let before = delivery_with_status(&*store, &e, t(0), DeliveryStatus::Failed).await;
    let at_since = delivery_with_status(&*store, &e, since, DeliveryStatus::Failed).await;
    let inside = delivery_with_status(&*store, &e, t(2 * HOUR), DeliveryStatus::Failed).await;
    let at_until = delivery_with_status(&*store, &e, until, DeliveryStatus::Failed).await;
    let ok = delivery_with_status(&*store, &e, t(2 * HOUR + 1), DeliveryStatus::Succeeded).await;
    let open = delivery_with_status(&*store, &e, t(2 * HOUR + 2), DeliveryStatus::Pending).await;
    let cancelled =
        delivery_with_status(&*store, &e, t(2 * HOUR + 3), DeliveryStatus::Cancelled).await;
    let elsewhere =
        delivery_with_status(&*store, &neighbour, t(2 * HOUR), DeliveryStatus::Failed).await;
    assert!(claim_ids(&*store, now, "node-a").await.is_empty());

    let n = store
        .recover_endpoint(&ws, &e.id, since, until, now)
        .await
        .unwrap();
    assert_eq!(n, 2, "failed deliveries created in [since, until)");

    let recovered = vec![at_since.clone(), inside.clone()];
    for id in &recovered {
        let (d, attempts) = get_delivery(&*store, &ws, id).await;
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(attempts.len(), 1, "history is kept");
    }
    for (id, status) in [
        (&before, DeliveryStatus::Failed),
        (&at_until, DeliveryStatus::Failed),
        (&ok, DeliveryStatus::Succeeded),
        (&open, DeliveryStatus::Pending),
        (&cancelled, DeliveryStatus::Cancelled),
        (&elsewhere, DeliveryStatus::Failed),
    ] {
        assert_eq!(get_delivery(&*store, &ws, id).await.0.status, status);
    }

    // Unleased and due now, as manual attempts; nothing else became due.
    let due = claim(&*store, now, "node-a").await;
    assert_eq!(
        sorted(due.iter().map(|d| d.delivery.id.clone()).collect()),
        sorted(recovered)
    );
    assert!(due.iter().all(|d| d.manual));

    // Nothing failed is left in the window.
    assert_eq!(
        store
            .recover_endpoint(&ws, &e.id, since, until, now)
            .await
            .unwrap(),
        0
    );
}

pub async fn recover_endpoint_of_other_workspace_does_nothing(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let d = delivery_with_status(&*store, &e, t(HOUR), DeliveryStatus::Failed).await;

    let n = store
        .recover_endpoint(&other, &e.id, t(0), t(DAY), t(DAY))
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        get_delivery(&*store, &ws, &d).await.0.status,
        DeliveryStatus::Failed
    );
    assert!(claim_ids(&*store, t(DAY), "node-a").await.is_empty());
}

pub async fn get_delivery_with_attempts_and_workspace_scope(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let (ev, ids) = publish(&*store, &ws, t(SEC), &[&e]).await;
    let d = &ids[0];
    for (n, at) in [t(SEC), t(6 * SEC), t(66 * SEC)].into_iter().enumerate() {
        store
            .record_outcomes(vec![outcome(
                d,
                &e.id,
                at,
                Some(500),
                DeliveryStatus::Pending,
                n as u32 + 1,
                Some(at.plus_millis(MIN)),
            )])
            .await
            .unwrap();
    }

    let (got, attempts) = get_delivery(&*store, &ws, d).await;
    assert_eq!(
        got,
        Delivery {
            id: d.clone(),
            workspace_id: ws.clone(),
            event_id: ev.id.clone(),
            endpoint_id: e.id.clone(),
            event_type: EVENT_TYPE.into(),
            api_version: API_VERSION.into(),
            status: DeliveryStatus::Pending,
            attempt_count: 3,
            next_attempt_at: Some(t(66 * SEC + MIN)),
            created_at: t(SEC),
            test: false,
            manual: false,
        }
    );
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt_number).collect();
    assert_eq!(numbers, vec![1, 2, 3], "oldest first");

    assert_eq!(store.get_delivery(&other, d).await.unwrap(), None);
    assert_eq!(
        store
            .get_delivery(&ws, &DeliveryId::at(T0.0))
            .await
            .unwrap(),
        None
    );
}

struct Fixture {
    ws: WorkspaceId,
    e1: EndpointId,
    e2: EndpointId,
    ev1: Event,
    ev1_e1: DeliveryId,
    ev1_e2: DeliveryId,
    ev2_e1: DeliveryId,
    ev3_e2: DeliveryId,
}

async fn history_fixture(store: &dyn Store) -> Fixture {
    let ws = workspace(store, "acme").await;
    let other = workspace(store, "globex").await;
    let e1 = add_endpoint(store, &ws, t(0)).await;
    let e2 = add_endpoint(store, &ws, t(1)).await;
    let foreign = add_endpoint(store, &other, t(2)).await;

    let (ev1, ids) = publish(store, &ws, t(0), &[&e1, &e2]).await;
    let (ev1_e1, ev1_e2) = (ids[0].clone(), ids[1].clone());
    let ev2 = Event {
        event_type: hookrelay_core::parsed::EventType::from_trusted(
            "classify_run.processed".into(),
        ),
        ..event(&ws, t(HOUR))
    };
    let ne = new_event(ev2, &[&e1]);
    let ev2_e1 = ne.deliveries[0].id.clone();
    publish_new(store, ne, None).await;
    let (_, ids) = publish(store, &ws, t(2 * HOUR), &[&e2]).await;
    let ev3_e2 = ids[0].clone();
    publish(store, &other, t(HOUR), &[&foreign]).await;

    finish(store, &ev1_e1, &e1.id, DeliveryStatus::Succeeded, t(SEC)).await;
    finish(store, &ev1_e2, &e2.id, DeliveryStatus::Failed, t(SEC)).await;
    Fixture {
        ws,
        e1: e1.id,
        e2: e2.id,
        ev1,
        ev1_e1,
        ev1_e2,
        ev2_e1,
        ev3_e2,
    }
}

pub async fn list_deliveries_filters(store: Arc<dyn Store>) {
    let f = history_fixture(&*store).await;
    let list = |filter: DeliveryFilter| {
        let (s, ws) = (store.clone(), f.ws.clone());
        async move {
            let page = PageRequest {
                limit: 100,
                ..PageRequest::default()
            };
            let got = s.list_deliveries(&ws, &filter, &page).await.unwrap();
            assert!(got.next.is_none());
            sorted(got.items.into_iter().map(|d| d.id).collect())
        }
    };
    let want = |ids: &[&DeliveryId]| sorted(ids.iter().map(|&i| i.clone()).collect());
    let none = DeliveryFilter::default;

    assert_eq!(
        list(none()).await,
        want(&[&f.ev1_e1, &f.ev1_e2, &f.ev2_e1, &f.ev3_e2])
    );
    assert_eq!(
        list(DeliveryFilter {
            endpoint_id: Some(f.e1.clone()),
            ..none()
        })
        .await,
        want(&[&f.ev1_e1, &f.ev2_e1])
    );
    assert_eq!(
        list(DeliveryFilter {
            event_id: Some(f.ev1.id.clone()),
            ..none()
        })
        .await,
        want(&[&f.ev1_e1, &f.ev1_e2])
    );
    assert_eq!(
        list(DeliveryFilter {
            event_type: Some("classify_run.processed".into()),
            ..none()
        })
        .await,
        want(&[&f.ev2_e1])
    );
    for (status, ids) in [
        (DeliveryStatus::Succeeded, vec![&f.ev1_e1]),
        (DeliveryStatus::Failed, vec![&f.ev1_e2]),
        (DeliveryStatus::Pending, vec![&f.ev2_e1, &f.ev3_e2]),
        (DeliveryStatus::Cancelled, vec![]),
    ] {
        assert_eq!(
            list(DeliveryFilter {
                status: Some(status),
                ..none()
            })
            .await,
            want(&ids),
            "status {status}"
        );
    }
    assert_eq!(
        list(DeliveryFilter {
            since: Some(t(30 * MIN)),
            ..none()
        })
        .await,
        want(&[&f.ev2_e1, &f.ev3_e2])
    );
    assert_eq!(
        list(DeliveryFilter {
            since: Some(t(HOUR)),
            ..none()
        })
        .await,
        want(&[&f.ev2_e1, &f.ev3_e2]),
        "`since` is inclusive"
    );
    assert_eq!(
        list(DeliveryFilter {
            until: Some(t(90 * MIN)),
            ..none()
        })
        .await,
        want(&[&f.ev1_e1, &f.ev1_e2, &f.ev2_e1])
    );
    assert_eq!(
        list(DeliveryFilter {
            endpoint_id: Some(f.e2.clone()),
            status: Some(DeliveryStatus::Pending),
            since: Some(t(30 * MIN)),
            until: Some(t(3 * HOUR)),
            ..none()
        })
        .await,
        want(&[&f.ev3_e2])
    );
}

pub async fn list_deliveries_paginates_both_ways(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let foreign = add_endpoint(&*store, &other, t(2)).await;
    let (mut all, mut of_e1) = (Vec::new(), Vec::new());
    for i in 0..7 {
        // Distinct milliseconds so the order is fully determined.
        let d1 = publish_to(&*store, &e1, t(i * SEC)).await;
        let d2 = publish_to(&*store, &e2, t(i * SEC + 500)).await;
        publish_to(&*store, &foreign, t(i * SEC + 1)).await;
        of_e1.push(d1.to_string());
        all.push(d1.to_string());
        all.push(d2.to_string());
    }
    for dir in [SortDir::Asc, SortDir::Desc] {
        for limit in [1, 3, 5] {
            let got = walk(
                dir,
                limit,
                |d: &Delivery| d.id.to_string(),
                |p| {
                    let (s, ws) = (store.clone(), ws.clone());
                    async move { s.list_deliveries(&ws, &DeliveryFilter::default(), &p).await }
                },
            )
            .await;
            assert_complete_order(&got, &all, dir);
        }
        let filter = DeliveryFilter {
            endpoint_id: Some(e1.id.clone()),
            ..DeliveryFilter::default()
        };
        let got = walk(
            dir,
            3,
            |d: &Delivery| d.id.to_string(),
            |p| {
                let (s, ws, filter) = (store.clone(), ws.clone(), filter.clone());
                async move { s.list_deliveries(&ws, &filter, &p).await }
            },
        )
        .await;
        assert_complete_order(&got, &of_e1, dir);
    }
}

/// A time range reads as a range of ids: `since` inclusive and `until`
/// exclusive to the millisecond, pages inside it complete in both
/// directions, with other filters, and with deliveries still waiting in a
/// wide fan-out.
pub async fn list_deliveries_time_range_pages_both_ways(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let e3 = add_endpoint(&*store, &ws, t(2)).await;
    let foreign = add_endpoint(&*store, &other, t(3)).await;
    let (since, until) = (t(3 * SEC), t(8 * SEC));
    let (mut inside, mut inside_e1) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let at = t(i * SEC);
        let d = publish_to(&*store, &e1, at).await;
        publish_to(&*store, &foreign, at).await;
        // To three endpoints: one fan-out row on SQLite until claimed.
        let (_, wide) = publish(&*store, &ws, at.plus_millis(500), &[&e1, &e2, &e3]).await;
        if (3..8).contains(&i) {
            inside.push(d.to_string());
            inside_e1.push(d.to_string());
            inside_e1.push(wide[0].to_string());
            inside.extend(wide.iter().map(ToString::to_string));
        }
    }
    // The last millisecond before the range and its first are told apart.
    let just_before = publish_to(&*store, &e2, since.plus_millis(-1)).await;
    let first = publish_to(&*store, &e2, since).await;
    let last = publish_to(&*store, &e2, until.plus_millis(-1)).await;
    let at_until = publish_to(&*store, &e2, until).await;
    inside.push(first.to_string());
    inside.push(last.to_string());

    let range = DeliveryFilter {
        since: Some(since),
        until: Some(until),
        ..DeliveryFilter::default()
    };
    let of_e1 = DeliveryFilter {
        endpoint_id: Some(e1.id.clone()),
        ..range.clone()
    };
    for dir in [SortDir::Asc, SortDir::Desc] {
        for (filter, want) in [(&range, &inside), (&of_e1, &inside_e1)] {
            for limit in [1, 4, 100] {
                let got = walk(
                    dir,
                    limit,
                    |d: &Delivery| d.id.to_string(),
                    |p| {
                        let (s, ws, filter) = (store.clone(), ws.clone(), filter.clone());
                        async move { s.list_deliveries(&ws, &filter, &p).await }
                    },
                )
                .await;
                assert_complete_order(&got, want, dir);
                assert!(!got.contains(&just_before.to_string()));
                assert!(!got.contains(&at_until.to_string()));
            }
        }
    }
}
