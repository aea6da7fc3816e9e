//! Publishing: events and deliveries stored together, leases at birth,
//! idempotency keys, per-item failure, and reading events back.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookrelay_core::cursor::SortDir;
use hookrelay_core::ids::{DeliveryId, EventId};
use hookrelay_core::model::{DeliveryStatus, Event, ResourceRef};
use hookrelay_store::{
    DeliveryFilter, DeliverySummary, ErrorKind, EventFilter, NewDelivery, NewEvent, PageRequest,
    Published, Store, StoreError,
};

use crate::support::*;

fn keyed(
    ws: &hookrelay_core::ids::WorkspaceId,
    at: hookrelay_core::time::Timestamp,
    key: &str,
) -> Event {
    Event {
        idempotency_key: Some(key.to_owned()),
        ..event(ws, at)
    }
}

async fn count_deliveries(store: &dyn Store, ws: &hookrelay_core::ids::WorkspaceId) -> usize {
    store
        .list_deliveries(
            ws,
            &DeliveryFilter::default(),
            &PageRequest {
                limit: 1_000,
                ..PageRequest::default()
            },
        )
        .await
        .unwrap()
        .items
        .len()
}

pub async fn publish_stores_event_and_deliveries(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let current = add_endpoint(&*store, &ws, t(0)).await;
    let mut legacy = endpoint(&ws, t(1));
    legacy.api_version = hookrelay_core::parsed::ApiVersion::from_trusted("2025-04-21".into());
    store.insert_endpoint(&legacy, None).await.unwrap();

    let ev = Event {
        // Kept byte for byte: odd spacing, key order and escapes included.
        payload: "{ \"z\": 1,  \"a\": [1, 2.50, \"\\u00e9\"], \"id\": \"ex_1\" }".into(),
        resource: Some(ResourceRef {
            kind: "workflow".into(),
            id: "wf_1".into(),
        }),
        previous_data: Some(r#"{"status":"PENDING"}"#.into()),
        ..event(&ws, t(SEC))
    };
    let d_current = DeliveryId::at(t(SEC).0);
    let d_legacy = DeliveryId::at(t(SEC).0);
    let ne = NewEvent {
        event: ev.clone(),
        deliveries: vec![
            NewDelivery {
                id: d_current.clone(),
                endpoint_id: current.id.clone(),
                event_type: EVENT_TYPE.into(),
                api_version: current.api_version.to_string(),
            },
            NewDelivery {
                id: d_legacy.clone(),
                endpoint_id: legacy.id.clone(),
                event_type: "processor_run.processed".into(),
                api_version: legacy.api_version.to_string(),
            },
        ],
    };
    let created = publish_new(&*store, ne, None).await;
    let stored = Event {
        delivery_count: 2,
        ..ev.clone()
    };
    assert_eq!(created, stored);

    let (got, summaries) = store.get_event(&ws, &ev.id).await.unwrap().unwrap();
    assert_eq!(got, stored);
    let mut summaries = summaries;
    summaries.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
    assert_eq!(
        summaries,
        vec![
            DeliverySummary {
                delivery_id: d_current.clone(),
                endpoint_id: current.id.clone(),
                status: DeliveryStatus::Pending,
                attempt_count: 0,
            },
            DeliverySummary {
                delivery_id: d_legacy.clone(),
                endpoint_id: legacy.id.clone(),
                status: DeliveryStatus::Pending,
                attempt_count: 0,
            },
        ]
    );

    let (d, attempts) = get_delivery(&*store, &ws, &d_legacy).await;
    assert!(attempts.is_empty());
    assert_eq!(d.id, d_legacy);
    assert_eq!(d.workspace_id, ws);
    assert_eq!(d.event_id, ev.id);
    assert_eq!(d.endpoint_id, legacy.id);
    assert_eq!(d.event_type, "processor_run.processed", "as rendered");
    assert_eq!(d.api_version, "2025-04-21");
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.attempt_count, 0);
    assert_eq!(d.created_at, ev.created_at);
    assert!(!d.test);

    // A test event marks its deliveries as tests; an event nobody wants is
    // stored all the same, with no deliveries.
    let test_ev = Event {
        test: true,
        ..event(&ws, t(2 * SEC))
    };
    let ne = new_event(test_ev.clone(), &[&current]);
    let d_test = ne.deliveries[0].id.clone();
    assert!(publish_new(&*store, ne, None).await.test);
    assert!(get_delivery(&*store, &ws, &d_test).await.0.test);
    let lonely = event(&ws, t(3 * SEC));
    let created = publish_new(&*store, new_event(lonely.clone(), &[]), None).await;
    assert_eq!(created.delivery_count, 0);
    let (got, summaries) = store.get_event(&ws, &lonely.id).await.unwrap().unwrap();
    assert_eq!(got, lonely);
    assert!(summaries.is_empty());
}

pub async fn publish_with_lease_hides_deliveries_until_lease_expires(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let ne = new_event(event(&ws, t(0)), &[&e1, &e2]);
    let mut ids: Vec<_> = ne.deliveries.iter().map(|d| d.id.clone()).collect();
    ids.sort();
    publish_new(&*store, ne, Some(lease("node-a", t(30 * SEC)))).await;

    // Leased to node-a: nobody claims them, node-a included (it holds them in memory).
    assert!(claim_ids(&*store, t(0), "node-b").await.is_empty());
    assert!(claim_ids(&*store, t(29 * SEC), "node-b").await.is_empty());
    assert!(claim_ids(&*store, t(29 * SEC), "node-a").await.is_empty());
    // The lease ran out (node-a died): anyone may take them.
    assert_eq!(claim_ids(&*store, t(30 * SEC + 1), "node-b").await, ids);
}

pub async fn publish_without_lease_is_claimable_at_once(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let (ev, ids) = publish(&*store, &ws, t(SEC), &[&e]).await;

    let due = claim(&*store, t(SEC), "node-a").await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery.id, ids[0]);
    assert_eq!(due[0].delivery.status, DeliveryStatus::Pending);
    assert_eq!(due[0].delivery.endpoint_id, e.id);
    assert_eq!(*due[0].event, ev, "the event travels with its delivery");
    assert!(!due[0].manual);
}

pub async fn publish_idempotency_key_within_24h_returns_first_event(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let first = publish_new(
        &*store,
        new_event(keyed(&ws, t(0), "order-42"), &[&e]),
        None,
    )
    .await;

    for later in [t(1), t(HOUR), t(DAY - MIN)] {
        let mut again = keyed(&ws, later, "order-42");
        again.payload = r#"{"different":true}"#.into();
        let ne = new_event(again.clone(), &[&e]);
        let dup_delivery = ne.deliveries[0].id.clone();
        let out = store.publish(vec![ne], None).await.unwrap();
        match out.into_iter().next().unwrap().unwrap() {
            Published::Duplicate(ev) => assert_eq!(ev, first, "the first event, as stored"),
            Published::Created { event: ev, .. } => {
                panic!("same key within 24 h created {}", ev.id)
            }
        }
        assert_eq!(store.get_event(&ws, &again.id).await.unwrap(), None);
        assert_eq!(store.get_delivery(&ws, &dup_delivery).await.unwrap(), None);
    }
    assert_eq!(
        count_deliveries(&*store, &ws).await,
        1,
        "nothing new fanned out"
    );
    assert_eq!(claim(&*store, t(DAY), "node-a").await.len(), 1);
}

pub async fn publish_idempotency_key_after_24h_creates_new_event(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let first = publish_new(&*store, new_event(keyed(&ws, t(0), "k"), &[&e]), None).await;

    let second_ev = keyed(&ws, t(DAY + SEC), "k");
    let second = publish_new(&*store, new_event(second_ev.clone(), &[&e]), None).await;
    assert_eq!(second.id, second_ev.id);
    assert_ne!(second.id, first.id);
    assert_eq!(count_deliveries(&*store, &ws).await, 2);

    // The key now points at the second event.
    let out = store
        .publish(
            vec![new_event(keyed(&ws, t(DAY + 2 * SEC), "k"), &[&e])],
            None,
        )
        .await
        .unwrap();
    match out.into_iter().next().unwrap().unwrap() {
        Published::Duplicate(ev) => assert_eq!(ev, second),
        Published::Created { event: ev, .. } => {
            panic!("expected a duplicate of the second event, got {}", ev.id)
        }
    }
    // Both events stay readable.
    assert!(store.get_event(&ws, &first.id).await.unwrap().is_some());
}

/// A key whose event is gone (purged: nobody wanted it) holds nothing: the
/// next event with that key is new even within the day.
pub async fn publish_idempotency_key_of_a_purged_event_is_free(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let lonely = publish_new(&*store, new_event(keyed(&ws, t(0), "k"), &[]), None).await;
    store.purge(t(SEC), t(HOUR)).await.unwrap();
    assert_eq!(store.get_event(&ws, &lonely.id).await.unwrap(), None);

    let again = keyed(&ws, t(2 * HOUR), "k");
    let created = publish_new(&*store, new_event(again.clone(), &[&e]), None).await;
    assert_eq!(created.id, again.id);
    // And the key now holds for the new event.
    let out = store
        .publish(vec![new_event(keyed(&ws, t(3 * HOUR), "k"), &[&e])], None)
        .await
        .unwrap();
    assert!(
        matches!(&out[0], Ok(Published::Duplicate(ev)) if ev.id == again.id),
        "got {:?}",
        out[0]
    );
}

pub async fn publish_idempotency_key_is_per_workspace(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let f = add_endpoint(&*store, &other, t(0)).await;
    publish_new(&*store, new_event(keyed(&ws, t(0), "shared"), &[&e]), None).await;
    let theirs = publish_new(
        &*store,
        new_event(keyed(&other, t(SEC), "shared"), &[&f]),
        None,
    )
    .await;
    assert_eq!(theirs.workspace_id, other);
    assert_eq!(count_deliveries(&*store, &other).await, 1);
}

pub async fn publish_idempotency_key_repeated_within_one_batch(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let a = keyed(&ws, t(0), "k");
    let b = keyed(&ws, t(1), "k");
    let c = event(&ws, t(2));
    let out = store
        .publish(
            vec![
                new_event(a.clone(), &[&e]),
                new_event(b.clone(), &[&e]),
                new_event(c.clone(), &[&e]),
            ],
            None,
        )
        .await
        .unwrap();
    let out: Vec<Published> = out.into_iter().map(|r| r.unwrap()).collect();
    assert!(matches!(&out[0], Published::Created { event: ev, .. } if ev.id == a.id));
    assert!(
        matches!(&out[1], Published::Duplicate(ev) if ev.id == a.id),
        "got {:?}",
        out[1]
    );
    assert!(matches!(&out[2], Published::Created { event: ev, .. } if ev.id == c.id));
    assert_eq!(store.get_event(&ws, &b.id).await.unwrap(), None);
    assert_eq!(count_deliveries(&*store, &ws).await, 2);
}

pub async fn publish_failed_item_does_not_affect_others(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let (existing, existing_deliveries) = publish(&*store, &ws, t(0), &[&e]).await;

    let ok1 = event(&ws, t(SEC));
    // Same event id as one already stored.
    let dup_event = Event {
        payload: r#"{"overwritten":true}"#.into(),
        ..existing.clone()
    };
    let dup_event_ne = new_event(dup_event, &[&e]);
    let dup_event_delivery = dup_event_ne.deliveries[0].id.clone();
    // A fresh event whose delivery id is already taken: it must vanish whole.
    let dup_delivery_ev = event(&ws, t(2 * SEC));
    let mut dup_delivery_ne = new_event(dup_delivery_ev.clone(), &[&e]);
    dup_delivery_ne.deliveries[0].id = existing_deliveries[0].clone();
    let ok2 = event(&ws, t(3 * SEC));

    let out = store
        .publish(
            vec![
                new_event(ok1.clone(), &[&e]),
                dup_event_ne,
                dup_delivery_ne,
                new_event(ok2.clone(), &[&e]),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 4, "one result per item, in order");
    assert!(matches!(&out[0], Ok(Published::Created { event: ev, .. }) if ev.id == ok1.id));
    assert!(
        matches!(&out[1], Err(e) if e.kind() == ErrorKind::Conflict),
        "got {:?}",
        out[1]
    );
    assert!(
        matches!(&out[2], Err(e) if e.kind() == ErrorKind::Conflict),
        "got {:?}",
        out[2]
    );
    assert!(matches!(&out[3], Ok(Published::Created { event: ev, .. }) if ev.id == ok2.id));

    assert!(store.get_event(&ws, &ok1.id).await.unwrap().is_some());
    assert!(store.get_event(&ws, &ok2.id).await.unwrap().is_some());
    assert_eq!(
        store.get_event(&ws, &dup_delivery_ev.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_delivery(&ws, &dup_event_delivery).await.unwrap(),
        None
    );
    let (kept, _) = store.get_event(&ws, &existing.id).await.unwrap().unwrap();
    assert_eq!(kept, existing, "the stored event is untouched");
    let (d, _) = get_delivery(&*store, &ws, &existing_deliveries[0]).await;
    assert_eq!(d.event_id, existing.id, "the stored delivery is untouched");
    assert_eq!(count_deliveries(&*store, &ws).await, 3);
}

pub async fn publish_failed_item_does_not_consume_idempotency_key(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let (existing, _) = publish(&*store, &ws, t(0), &[&e]).await;

    let bad = Event {
        idempotency_key: Some("k".into()),
        ..existing
    };
    let out = store
        .publish(vec![new_event(bad, &[&e])], None)
        .await
        .unwrap();
    assert!(out[0].is_err());

    let good = keyed(&ws, t(SEC), "k");
    let created = publish_new(&*store, new_event(good.clone(), &[&e]), None).await;
    assert_eq!(created.id, good.id);
}

pub async fn get_event_has_per_delivery_summaries(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let e3 = add_endpoint(&*store, &ws, t(2)).await;
    let (ev, ids) = publish(&*store, &ws, t(SEC), &[&e1, &e2, &e3]).await;
    claim(&*store, t(SEC), "node-a").await;
    store
        .record_outcomes(vec![
            outcome(
                &ids[0],
                &e1.id,
                t(2 * SEC),
                Some(200),
                DeliveryStatus::Succeeded,
                1,
                None,
            ),
            outcome(
                &ids[1],
                &e2.id,
                t(2 * SEC),
                Some(503),
                DeliveryStatus::Pending,
                1,
                Some(t(MIN)),
            ),
        ])
        .await
        .unwrap();

    let (_, summaries) = store.get_event(&ws, &ev.id).await.unwrap().unwrap();
    let by_id: BTreeMap<_, _> = summaries
        .into_iter()
        .map(|s| (s.delivery_id.clone(), s))
        .collect();
    assert_eq!(by_id.len(), 3);
    let expect = |i: usize, ep: &hookrelay_core::ids::EndpointId, status, n| DeliverySummary {
        delivery_id: ids[i].clone(),
        endpoint_id: ep.clone(),
        status,
        attempt_count: n,
    };
    assert_eq!(
        by_id[&ids[0]],
        expect(0, &e1.id, DeliveryStatus::Succeeded, 1)
    );
    assert_eq!(
        by_id[&ids[1]],
        expect(1, &e2.id, DeliveryStatus::Pending, 1)
    );
    assert_eq!(
        by_id[&ids[2]],
        expect(2, &e3.id, DeliveryStatus::Pending, 0)
    );
}

pub async fn get_event_from_other_workspace_is_none(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let (ev, _) = publish(&*store, &ws, t(SEC), &[&e]).await;
    assert_eq!(store.get_event(&other, &ev.id).await.unwrap(), None);
    assert_eq!(
        store.get_event(&ws, &EventId::at(T0.0)).await.unwrap(),
        None
    );
    let page = store
        .list_events(&other, &EventFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

pub async fn list_events_filters_and_scopes(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let other = workspace(&*store, "globex").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut evs = Vec::new();
    for (i, ty) in ["a.done", "b.done", "a.done", "a.done"]
        .into_iter()
        .enumerate()
    {
        let ev = Event {
            event_type: hookrelay_core::parsed::EventType::from_trusted(ty.into()),
            ..event(&ws, t(i as i64 * HOUR))
        };
        evs.push(publish_new(&*store, new_event(ev, &[&e]), None).await);
    }
    publish_new(&*store, new_event(event(&other, t(HOUR)), &[]), None).await;

    let list = |filter: EventFilter| {
        let (s, ws) = (store.clone(), ws.clone());
        async move {
            s.list_events(&ws, &filter, &PageRequest::default())
                .await
                .unwrap()
                .items
        }
    };
    let rev = |v: &[usize]| v.iter().rev().map(|&i| evs[i].clone()).collect::<Vec<_>>();

    assert_eq!(
        list(EventFilter::default()).await,
        rev(&[0, 1, 2, 3]),
        "newest first by default"
    );
    let by_type = EventFilter {
        event_type: Some("a.done".into()),
        ..EventFilter::default()
    };
    assert_eq!(list(by_type).await, rev(&[0, 2, 3]));
    let since = EventFilter {
        since: Some(t(30 * MIN)),
        ..EventFilter::default()
    };
    assert_eq!(list(since).await, rev(&[1, 2, 3]));
    let until = EventFilter {
        until: Some(t(150 * MIN)),
        ..EventFilter::default()
    };
    assert_eq!(list(until).await, rev(&[0, 1, 2]));
    let all = EventFilter {
        event_type: Some("a.done".into()),
        since: Some(t(30 * MIN)),
        until: Some(t(150 * MIN)),
    };
    assert_eq!(list(all).await, rev(&[2]));
    let since_exact = EventFilter {
        since: Some(t(HOUR)),
        ..EventFilter::default()
    };
    assert_eq!(
        list(since_exact).await,
        rev(&[1, 2, 3]),
        "`since` is inclusive"
    );
}

pub async fn list_events_paginates(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let ev = publish_new(&*store, new_event(event(&ws, t(i * SEC)), &[]), None).await;
        ids.push(ev.id.to_string());
    }
    for dir in [SortDir::Asc, SortDir::Desc] {
        let got = walk(
            dir,
            2,
            |e: &Event| e.id.to_string(),
            |p| {
                let (s, ws) = (store.clone(), ws.clone());
                async move { s.list_events(&ws, &EventFilter::default(), &p).await }
            },
        )
        .await;
        assert_complete_order(&got, &ids, dir);
    }
}

/// Many writes at once (the SQLite writer groups them into one transaction;
/// PostgreSQL's publish writer groups publishes): the ones that fail take
/// nothing else down with them, and every other publish and outcome lands.
pub async fn failed_publishes_among_concurrent_writes_spoil_nothing_else(store: Arc<dyn Store>) {
    #[derive(Debug)]
    enum Done {
        Fresh(Result<Published, StoreError>),
        Dup(Result<Published, StoreError>),
        Outcome,
    }
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut earlier = Vec::new();
    for i in 0..10 {
        earlier.push(publish(&*store, &ws, t(i), &[&e]).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut fresh = Vec::new();
    for i in 0..30 {
        let ev = event(&ws, t(SEC + i));
        fresh.push(ev.id.clone());
        let (s, ne) = (store.clone(), new_event(ev, &[&e]));
        tasks.spawn(async move { Done::Fresh(s.publish(vec![ne], None).await.unwrap().remove(0)) });
    }
    for (ev, _) in &earlier {
        // Same event id as one already stored: a conflict.
        let dup = Event {
            payload: r#"{"overwritten":true}"#.into(),
            ..ev.clone()
        };
        let (s, ne) = (store.clone(), new_event(dup, &[&e]));
        tasks.spawn(async move { Done::Dup(s.publish(vec![ne], None).await.unwrap().remove(0)) });
    }
    for (i, (_, ids)) in earlier.iter().enumerate() {
        let (s, d, ep) = (store.clone(), ids[0].clone(), e.id.clone());
        let at = t(2 * SEC + i as i64);
        tasks.spawn(async move {
            finish(&*s, &d, &ep, DeliveryStatus::Succeeded, at).await;
            Done::Outcome
        });
    }
    let (mut created, mut conflicts, mut outcomes) = (0, 0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Done::Fresh(Ok(Published::Created { .. })) => created += 1,
            Done::Dup(Err(e)) if e.kind() == ErrorKind::Conflict => conflicts += 1,
            Done::Outcome => outcomes += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((created, conflicts, outcomes), (30, 10, 10));
    for id in &fresh {
        assert!(
            store.get_event(&ws, id).await.unwrap().is_some(),
            "{id} stored"
        );
    }
    for (ev, ids) in &earlier {
        let (kept, _) = store.get_event(&ws, &ev.id).await.unwrap().unwrap();
        assert_eq!(&kept, ev, "the stored event is untouched");
        let (d, attempts) = get_delivery(&*store, &ws, &ids[0]).await;
        assert_eq!(d.status, DeliveryStatus::Succeeded, "its outcome landed");
        assert_eq!(attempts.len(), 1);
    }
    assert_eq!(count_deliveries(&*store, &ws).await, 40);
}
