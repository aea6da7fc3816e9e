//! Retention purge, server keys, concurrent publishing (group commit) and
//! shutdown.

use std::collections::HashSet;
use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{DeliveryId, EventId};
use hookrelay_core::model::{DeliveryStatus, Event};
use hookrelay_store::{
    DeliveryFilter, EventFilter, PageRequest, Published, Purged, Store, StoreError,
};

use crate::support::*;

fn everything() -> PageRequest {
    PageRequest {
        limit: 1_000,
        after: None,
        dir: SortDir::Asc,
    }
}

async fn all_delivery_ids(
    store: &dyn Store,
    ws: &hookrelay_core::ids::WorkspaceId,
) -> Vec<DeliveryId> {
    let page = store
        .list_deliveries(ws, &DeliveryFilter::default(), &everything())
        .await
        .unwrap();
    assert!(page.next.is_none());
    page.items.into_iter().map(|d| d.id).collect()
}

async fn all_event_ids(store: &dyn Store, ws: &hookrelay_core::ids::WorkspaceId) -> Vec<EventId> {
    let page = store
        .list_events(ws, &EventFilter::default(), &everything())
        .await
        .unwrap();
    assert!(page.next.is_none());
    page.items.into_iter().map(|e| e.id).collect()
}

pub async fn purge_removes_finished_history_before_cutoff(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;

    // Old and finished: two deliveries (3 attempts), an event nobody wanted,
    // and a cancelled delivery without attempts.
    let (old, ids) = publish(&*store, &ws, t(0), &[&e1, &e2]).await;
    let (d1, d2) = (&ids[0], &ids[1]);
    store
        .record_outcomes(vec![outcome(
            d1,
            &e1.id,
            t(0),
            Some(500),
            DeliveryStatus::Pending,
            1,
            Some(t(5 * SEC)),
        )])
        .await
        .unwrap();
    finish(&*store, d1, &e1.id, DeliveryStatus::Succeeded, t(5 * SEC)).await;
    finish(&*store, d2, &e2.id, DeliveryStatus::Failed, t(SEC)).await;
    let lonely = publish_new(&*store, new_event(event(&ws, t(SEC)), &[]), None).await;
    let (cancelled_ev, ids) = publish(&*store, &ws, t(2 * SEC), &[&e1]).await;
    let dc = &ids[0];
    store
        .record_outcomes(vec![hookrelay_store::Outcome {
            delivery_id: dc.clone(),
            endpoint_id: e1.id.clone(),
            lease_owner: None,
            attempt: None,
            status: DeliveryStatus::Cancelled,
            attempt_count: 0,
            next_attempt_at: None,
            endpoint_effect: None,
        }])
        .await
        .unwrap();

    // Newer than the cutoff: stays although finished.
    let (new, ids) = publish(&*store, &ws, t(40 * DAY), &[&e1]).await;
    let dn = &ids[0];
    finish(&*store, dn, &e1.id, DeliveryStatus::Succeeded, t(40 * DAY)).await;

    let purged = store.purge(t(30 * DAY), t(60 * DAY)).await.unwrap();
    assert_eq!(
        purged,
        Purged {
            events: 3,
            deliveries: 3,
            attempts: 3,
            // Both endpoints' rows of the first minute and hour.
            stats_rows: 4,
        }
    );

    for ev in [&old.id, &lonely.id, &cancelled_ev.id] {
        assert_eq!(store.get_event(&ws, ev).await.unwrap(), None);
    }
    for d in [d1, d2, dc] {
        assert_eq!(store.get_delivery(&ws, d).await.unwrap(), None);
    }
    assert_eq!(all_event_ids(&*store, &ws).await, vec![new.id.clone()]);
    assert_eq!(all_delivery_ids(&*store, &ws).await, vec![dn.clone()]);
    let (_, attempts) = get_delivery(&*store, &ws, dn).await;
    assert_eq!(attempts.len(), 1);
    let (_, summaries) = store.get_event(&ws, &new.id).await.unwrap().unwrap();
    assert_eq!(summaries.len(), 1);

    // Endpoints are configuration, not history.
    assert!(store.get_endpoint(&ws, &e2.id).await.unwrap().is_some());

    assert_eq!(
        store.purge(t(30 * DAY), t(60 * DAY)).await.unwrap(),
        Purged::default(),
        "nothing left to purge"
    );
}

pub async fn purge_keeps_pending_deliveries_and_their_events(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;

    let (old, ids) = publish(&*store, &ws, t(0), &[&e1, &e2]).await;
    let (done, waiting) = (&ids[0], &ids[1]);
    finish(&*store, done, &e1.id, DeliveryStatus::Succeeded, t(SEC)).await;
    let retry_at = t(50 * DAY);
    store
        .record_outcomes(vec![outcome(
            waiting,
            &e2.id,
            t(SEC),
            Some(500),
            DeliveryStatus::Pending,
            1,
            Some(retry_at),
        )])
        .await
        .unwrap();
    // And one still leased to a node that is sending it right now.
    let ne = new_event(event(&ws, t(2 * SEC)), &[&e1]);
    let in_flight = ne.deliveries[0].id.clone();
    let in_flight_ev = publish_new(&*store, ne, Some(lease("node-a", t(31 * DAY)))).await;

    let purged = store.purge(t(30 * DAY), t(31 * DAY)).await.unwrap();
    assert_eq!(
        purged,
        Purged {
            events: 0,
            deliveries: 1,
            attempts: 1,
            // Statistics go by time, whatever became of the deliveries.
            stats_rows: 4,
        }
    );

    let (ev, summaries) = store.get_event(&ws, &old.id).await.unwrap().unwrap();
    assert_eq!(ev, old);
    assert_eq!(summaries.len(), 1);
    assert_eq!(&summaries[0].delivery_id, waiting);
    let (d, attempts) = get_delivery(&*store, &ws, waiting).await;
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(attempts.len(), 1, "a pending delivery keeps its history");
    assert_eq!(
        get_delivery(&*store, &ws, &in_flight).await.0.status,
        DeliveryStatus::Pending
    );
    assert!(store
        .get_event(&ws, &in_flight_ev.id)
        .await
        .unwrap()
        .is_some());

    // Both are still delivered, event and all.
    let due = claim(&*store, retry_at, "node-b").await;
    assert_eq!(due.len(), 2);
    for d in due {
        let expected = if &d.delivery.id == waiting {
            &old
        } else {
            &in_flight_ev
        };
        assert_eq!(*d.event, *expected);
    }
}

pub async fn purge_removes_idempotency_keys_older_than_24h(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let keyed = |at| Event {
        idempotency_key: Some("order-42".into()),
        ..event(&ws, at)
    };
    let first = publish_new(&*store, new_event(keyed(t(0)), &[&e]), None).await;
    let long_ago = t(-365 * DAY);

    // 23 h later the key is still held.
    store.purge(long_ago, t(23 * HOUR)).await.unwrap();
    let out = store
        .publish(vec![new_event(keyed(t(HOUR)), &[&e])], None)
        .await
        .unwrap();
    assert!(
        matches!(&out[0], Ok(Published::Duplicate(ev)) if ev.id == first.id),
        "got {:?}",
        out[0]
    );

    // A purge 25 h after the key was first used forgets it: the next event
    // with that key is new, even one stamped within the first event's day.
    store.purge(long_ago, t(25 * HOUR)).await.unwrap();
    let again = keyed(t(2 * HOUR));
    let created = publish_new(&*store, new_event(again.clone(), &[&e]), None).await;
    assert_eq!(created.id, again.id);
    // History itself was not touched.
    assert!(store.get_event(&ws, &first.id).await.unwrap().is_some());
}

pub async fn server_key_keeps_the_first_value(store: Arc<dyn Store>) {
    let first = vec![0u8, 1, 2, 254, 255];
    assert_eq!(
        store.server_key("signed-url", first.clone()).await.unwrap(),
        first
    );
    assert_eq!(
        store.server_key("signed-url", vec![9; 32]).await.unwrap(),
        first
    );
    assert_eq!(
        store.server_key("other", vec![7; 32]).await.unwrap(),
        vec![7; 32]
    );
    assert_eq!(store.server_key("signed-url", vec![]).await.unwrap(), first);

    // Racing first uses agree on one value.
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.server_key("raced", vec![i; 32]).await.unwrap()
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        seen.insert(bounded("server_key", task).await.unwrap());
    }
    assert_eq!(seen.len(), 1, "every caller got the same key");
    let winner = seen.into_iter().next().unwrap();
    assert_eq!(
        store.server_key("raced", vec![0; 32]).await.unwrap(),
        winner
    );
}

pub async fn concurrent_publishes_all_commit_exactly_once(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;

    let mut tasks = Vec::new();
    let mut expected_deliveries = Vec::new();
    let mut expected_events = Vec::new();
    for i in 0..50 {
        let ne = new_event(event(&ws, t(SEC + i)), &[&e1, &e2]);
        expected_deliveries.extend(ne.deliveries.iter().map(|d| d.id.clone()));
        expected_events.push(ne.event.id.clone());
        // Half of them leased at birth, as the API's publish path does.
        let l = (i % 2 == 0).then(|| lease("node-a", t(MIN)));
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.publish(vec![ne], l).await }));
    }
    for task in tasks {
        let out = bounded("publish", task).await.unwrap().unwrap();
        assert_eq!(out.len(), 1);
        assert!(
            matches!(out[0], Ok(Published::Created { .. })),
            "got {:?}",
            out[0]
        );
    }

    expected_deliveries.sort();
    expected_events.sort();
    assert_eq!(all_delivery_ids(&*store, &ws).await, expected_deliveries);
    assert_eq!(all_event_ids(&*store, &ws).await, expected_events);
    let claimed = claim_ids(&*store, t(MIN + 1), "node-b").await;
    assert_eq!(claimed, expected_deliveries, "each delivery exactly once");
}

pub async fn concurrent_publishes_with_one_idempotency_key_create_one_event(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let ev = Event {
            idempotency_key: Some("same".into()),
            ..event(&ws, t(SEC + i))
        };
        let ne = new_event(ev, &[&e]);
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.publish(vec![ne], None).await }));
    }
    let mut created = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        let mut out = bounded("publish", task).await.unwrap().unwrap();
        match out.pop().unwrap() {
            Ok(Published::Created { event: ev, .. }) => created.push(ev),
            Ok(Published::Duplicate(ev)) => duplicates.push(ev),
            Err(e) => panic!("a racing duplicate must not fail: {e}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one event is created");
    assert!(duplicates.iter().all(|d| *d == *created[0]));
    assert_eq!(
        all_event_ids(&*store, &ws).await,
        vec![created[0].id.clone()]
    );
    assert_eq!(all_delivery_ids(&*store, &ws).await.len(), 1);
}

fn is_closed<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Closed))
}

pub async fn close_then_write_is_closed_error(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let d = publish_to(&*store, &e, t(0)).await;
    bounded("close", store.close()).await;
    bounded("second close", store.close()).await;

    let r = bounded(
        "create_workspace",
        store.create_workspace(&workspace_record("x", t(0))),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded(
        "insert_endpoint",
        store.insert_endpoint(&endpoint(&ws, t(SEC)), None),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded(
        "publish",
        store.publish(vec![new_event(event(&ws, t(SEC)), &[&e])], None),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded(
        "claim_due",
        store.claim_due(t(SEC), &lease("node-a", t(MIN)), 10, &[]),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded(
        "record_outcomes",
        store.record_outcomes(vec![outcome(
            &d,
            &e.id,
            t(SEC),
            Some(200),
            DeliveryStatus::Succeeded,
            1,
            None,
        )]),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded("server_key", store.server_key("k", vec![1])).await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded("purge", store.purge(t(0), t(0))).await;
    assert!(is_closed(&r), "got {r:?}");
}

pub async fn close_then_read_is_closed_error(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    bounded("close", store.close()).await;

    let r = bounded("get_workspace", store.get_workspace(&ws)).await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded("get_endpoint", store.get_endpoint(&ws, &e.id)).await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded(
        "list_events",
        store.list_events(&ws, &EventFilter::default(), &PageRequest::default()),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
    let r = bounded("load_routing", store.load_routing(None)).await;
    assert!(is_closed(&r), "got {r:?}");
}

pub async fn close_during_writes_never_hangs(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let ne = new_event(event(&ws, t(SEC + i)), &[&e]);
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.publish(vec![ne], None).await }));
    }
    tokio::task::yield_now().await;
    bounded("close", store.close()).await;
    for task in tasks {
        let r = bounded("publish racing close", task).await.unwrap();
        match r {
            Ok(out) => assert!(matches!(out[0], Ok(Published::Created { .. }))),
            Err(StoreError::Closed) => {}
            Err(e) => panic!("expected success or Closed, got {e:?}"),
        }
    }
    let r = bounded(
        "publish after close",
        store.publish(vec![new_event(event(&ws, t(HOUR)), &[&e])], None),
    )
    .await;
    assert!(is_closed(&r), "got {r:?}");
}
