//! The delivery engine's side of the store: claiming due deliveries under a
//! lease, renewing and releasing leases, recording outcomes (attempt history,
//! retries, endpoint health), and dropping stale leases.

use std::collections::HashSet;
use std::sync::Arc;

use hookrelay_core::ids::DeliveryId;
use hookrelay_core::model::{Attempt, DeliveryStatus, DisabledReason, EndpointStatus};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{EndpointEffect, EndpointFilter, Outcome, Store};

use crate::support::*;

/// One endpoint and `n` unleased deliveries to it (one event each), all
/// created (so due) in the milliseconds just before `T0`; ids sorted.
async fn pending(store: &dyn Store, n: i64) -> (hookrelay_core::model::Endpoint, Vec<DeliveryId>) {
    let ws = workspace(store, "acme").await;
    let e = add_endpoint(store, &ws, t(-DAY)).await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(publish_to(store, &e, t(i - n)).await);
    }
    ids.sort();
    (e, ids)
}

fn sorted(mut v: Vec<DeliveryId>) -> Vec<DeliveryId> {
    v.sort();
    v
}

pub async fn claim_due_respects_limit(store: Arc<dyn Store>) {
    let (_, ids) = pending(&*store, 5).await;
    let now = t(MIN);
    let l = lease("node-a", t(MIN + 30 * SEC));
    let mut seen = Vec::new();
    for expected in [2, 2, 1, 0] {
        let got = store.claim_due(now, &l, 2, &[]).await.unwrap();
        assert_eq!(got.len(), expected);
        seen.extend(got.into_iter().map(|d| d.delivery.id));
    }
    assert_eq!(sorted(seen), ids, "each delivery claimed exactly once");
}

pub async fn claim_due_respects_due_time(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 2).await;
    let (d1, d2) = (&ids[0], &ids[1]);
    assert_eq!(claim_ids(&*store, t(SEC), "node-a").await, ids);
    store
        .record_outcomes(vec![
            outcome(
                d1,
                &e.id,
                t(SEC),
                Some(500),
                DeliveryStatus::Pending,
                1,
                Some(t(5 * MIN)),
            ),
            outcome(
                d2,
                &e.id,
                t(SEC),
                Some(500),
                DeliveryStatus::Pending,
                1,
                Some(t(10 * MIN)),
            ),
        ])
        .await
        .unwrap();

    assert!(claim_ids(&*store, t(2 * SEC), "node-a").await.is_empty());
    assert!(claim_ids(&*store, t(5 * MIN - 1), "node-a")
        .await
        .is_empty());
    assert_eq!(
        claim_ids(&*store, t(5 * MIN), "node-a").await,
        vec![d1.clone()]
    );
    store
        .record_outcomes(vec![outcome(
            d1,
            &e.id,
            t(5 * MIN),
            Some(500),
            DeliveryStatus::Pending,
            2,
            Some(t(HOUR)),
        )])
        .await
        .unwrap();
    assert!(claim_ids(&*store, t(10 * MIN - 1), "node-a")
        .await
        .is_empty());
    assert_eq!(
        claim_ids(&*store, t(10 * MIN), "node-a").await,
        vec![d2.clone()]
    );
    finish(&*store, d2, &e.id, DeliveryStatus::Succeeded, t(10 * MIN)).await;
    assert!(claim_ids(&*store, t(HOUR - 1), "node-a").await.is_empty());
    assert_eq!(
        claim_ids(&*store, t(HOUR), "node-a").await,
        vec![d1.clone()]
    );
}

pub async fn claim_due_skips_excluded_endpoints(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e1 = add_endpoint(&*store, &ws, t(0)).await;
    let e2 = add_endpoint(&*store, &ws, t(1)).await;
    let e3 = add_endpoint(&*store, &ws, t(2)).await;
    let (_, ids) = publish(&*store, &ws, t(SEC), &[&e1, &e2, &e3]).await;

    let l = lease("node-a", t(MIN));
    let got = store
        .claim_due(t(SEC), &l, 100, &[e1.id.clone(), e3.id.clone()])
        .await
        .unwrap();
    let got: Vec<_> = got.into_iter().map(|d| d.delivery.id).collect();
    assert_eq!(got, vec![ids[1].clone()]);

    let got = store
        .claim_due(t(SEC), &l, 100, std::slice::from_ref(&e1.id))
        .await
        .unwrap();
    let got: Vec<_> = got.into_iter().map(|d| d.delivery.id).collect();
    assert_eq!(got, vec![ids[2].clone()]);
    assert_eq!(
        claim_ids(&*store, t(SEC), "node-a").await,
        vec![ids[0].clone()]
    );
}

/// A claim that skips an endpoint whose due deliveries stay ahead of
/// everything else still finds every delivery of other endpoints that became
/// due since the last such claim, however it became due, even at a time
/// before that claim (SQLite remembers what it already read; see its `due`
/// module).
pub async fn claim_due_skipping_endpoints_finds_whatever_became_due_since(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let busy = add_endpoint(&*store, &ws, t(0)).await;
    let other = add_endpoint(&*store, &ws, t(1)).await;
    let mut busy_ids = Vec::new();
    for i in 0..3 {
        busy_ids.push(publish_to(&*store, &busy, t(i)).await);
    }
    let skip = std::slice::from_ref(&busy.id);
    let claim_skipping = |now: i64, until: i64| {
        let store = store.clone();
        async move {
            let got = store
                .claim_due(t(now), &lease("node-a", t(until)), 100, skip)
                .await
                .unwrap();
            got.into_iter().map(|d| d.delivery.id).collect::<Vec<_>>()
        }
    };
    assert!(claim_skipping(10 * SEC, HOUR).await.is_empty());

    // Published unleased, created before that claim.
    let d = publish_to(&*store, &other, t(5 * SEC)).await;
    assert_eq!(
        claim_skipping(11 * SEC, HOUR).await,
        vec![d.clone()],
        "publish"
    );
    assert!(claim_skipping(11 * SEC, HOUR).await.is_empty());

    // A retry recorded as due before the last claim.
    store
        .record_outcomes(vec![outcome(
            &d,
            &other.id,
            t(11 * SEC),
            Some(500),
            DeliveryStatus::Pending,
            1,
            Some(t(3 * SEC)),
        )])
        .await
        .unwrap();
    assert_eq!(
        claim_skipping(12 * SEC, HOUR).await,
        vec![d.clone()],
        "retry"
    );
    assert!(claim_skipping(12 * SEC, HOUR).await.is_empty());

    // Handed back unattempted: due at its retry time, long past.
    store
        .release(std::slice::from_ref(&d), "node-a")
        .await
        .unwrap();
    assert_eq!(
        claim_skipping(13 * SEC, 20 * SEC).await,
        vec![d.clone()],
        "release"
    );
    assert!(claim_skipping(19 * SEC, HOUR).await.is_empty());

    // Its lease ran out.
    assert_eq!(
        claim_skipping(21 * SEC, HOUR).await,
        vec![d.clone()],
        "lease over"
    );

    // Failed for good, then recovered (due at the recovery's time, given as
    // before the last claim).
    finish(&*store, &d, &other.id, DeliveryStatus::Failed, t(22 * SEC)).await;
    assert!(claim_skipping(23 * SEC, HOUR).await.is_empty());
    assert_eq!(
        store
            .recover_endpoint(&ws, &other.id, t(0), t(DAY), t(15 * SEC))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        claim_skipping(24 * SEC, HOUR).await,
        vec![d.clone()],
        "recover"
    );

    // Every lease dropped (as at a start): due again at once.
    assert!(claim_skipping(25 * SEC, HOUR).await.is_empty());
    assert_eq!(store.release_stale_leases(None).await.unwrap(), 1);
    assert_eq!(
        claim_skipping(26 * SEC, HOUR).await,
        vec![d.clone()],
        "stale leases"
    );

    // Manually requeued under a lease over by the next claim.
    finish(
        &*store,
        &d,
        &other.id,
        DeliveryStatus::Succeeded,
        t(27 * SEC),
    )
    .await;
    assert!(claim_skipping(28 * SEC, HOUR).await.is_empty());
    let back = store
        .requeue_delivery(&ws, &d, t(28 * SEC), &lease("node-b", t(28 * SEC)))
        .await
        .unwrap();
    assert!(back.is_some());
    assert_eq!(
        claim_skipping(29 * SEC, HOUR).await,
        vec![d.clone()],
        "requeue"
    );

    // And once the busy endpoint is not skipped, its deliveries come out.
    assert_eq!(
        claim_ids(&*store, t(32 * SEC), "node-a").await,
        sorted(busy_ids)
    );
}

pub async fn claim_due_leases_so_a_second_claim_gets_nothing(store: Arc<dyn Store>) {
    let (_, ids) = pending(&*store, 3).await;
    let got = store
        .claim_due(t(SEC), &lease("node-a", t(SEC + 30 * SEC)), 100, &[])
        .await
        .unwrap();
    assert_eq!(
        sorted(got.iter().map(|d| d.delivery.id.clone()).collect()),
        ids
    );
    for d in &got {
        assert!(!d.manual);
        assert_eq!(d.event.id, d.delivery.event_id);
    }
    assert!(claim_ids(&*store, t(2 * SEC), "node-b").await.is_empty());
    assert!(claim_ids(&*store, t(2 * SEC), "node-a").await.is_empty());
    assert!(claim_ids(&*store, t(30 * SEC), "node-b").await.is_empty());
}

pub async fn claim_due_reclaims_expired_leases(store: Arc<dyn Store>) {
    let (_, ids) = pending(&*store, 3).await;
    let a = lease("node-a", t(30 * SEC));
    assert_eq!(store.claim_due(t(0), &a, 100, &[]).await.unwrap().len(), 3);

    // node-a died; its lease ran out; node-b takes over.
    let got = store
        .claim_due(t(31 * SEC), &lease("node-b", t(61 * SEC)), 100, &[])
        .await
        .unwrap();
    assert_eq!(
        sorted(got.iter().map(|d| d.delivery.id.clone()).collect()),
        ids.clone()
    );
    assert!(got
        .iter()
        .all(|d| !d.manual && d.delivery.status == DeliveryStatus::Pending));

    // node-a, back from the dead, cannot extend what is no longer its own.
    store
        .renew_leases(&ids, &lease("node-a", t(HOUR)))
        .await
        .unwrap();
    assert!(claim_ids(&*store, t(60 * SEC), "node-c").await.is_empty());
    assert_eq!(claim_ids(&*store, t(62 * SEC), "node-c").await, ids);
}

pub async fn claim_due_ignores_finished_deliveries(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let gone = add_endpoint(&*store, &ws, t(1)).await;
    let ok = publish_to(&*store, &e, t(SEC)).await;
    let failed = publish_to(&*store, &e, t(2 * SEC)).await;
    let cancelled = publish_to(&*store, &gone, t(3 * SEC)).await;
    let open = publish_to(&*store, &e, t(4 * SEC)).await;
    finish(&*store, &ok, &e.id, DeliveryStatus::Succeeded, t(5 * SEC)).await;
    finish(&*store, &failed, &e.id, DeliveryStatus::Failed, t(5 * SEC)).await;
    assert!(store
        .delete_endpoint(&ws, &gone.id, t(5 * SEC))
        .await
        .unwrap());
    assert_eq!(
        get_delivery(&*store, &ws, &cancelled).await.0.status,
        DeliveryStatus::Cancelled
    );

    assert_eq!(claim_ids(&*store, t(10 * DAY), "node-a").await, vec![open]);
}

pub async fn renew_leases_extends_only_the_owners_leases(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 3).await;
    let (d1, d2, d3) = (&ids[0], &ids[1], &ids[2]);
    let a = lease("node-a", t(30 * SEC));
    assert_eq!(store.claim_due(t(0), &a, 100, &[]).await.unwrap().len(), 3);

    store
        .renew_leases(&[d1.clone(), d3.clone()], &lease("node-a", t(5 * MIN)))
        .await
        .unwrap();
    // Another node cannot renew node-a's lease.
    store
        .renew_leases(std::slice::from_ref(d2), &lease("node-b", t(5 * MIN)))
        .await
        .unwrap();
    // A finished delivery stays finished whatever its lease does.
    finish(&*store, d3, &e.id, DeliveryStatus::Succeeded, t(SEC)).await;
    store
        .renew_leases(std::slice::from_ref(d3), &lease("node-a", t(10 * MIN)))
        .await
        .unwrap();

    // node-c holds what it claims for good, to see what else becomes free.
    let c = lease("node-c", t(100 * DAY));
    let claim_c = |now| {
        let (s, c) = (store.clone(), c.clone());
        async move {
            let got = s.claim_due(now, &c, 100, &[]).await.unwrap();
            sorted(got.into_iter().map(|d| d.delivery.id).collect())
        }
    };
    assert_eq!(claim_c(t(MIN)).await, vec![d2.clone()]);
    assert!(claim_c(t(5 * MIN - 1)).await.is_empty());
    assert_eq!(claim_c(t(5 * MIN + 1)).await, vec![d1.clone()]);
    assert!(claim_c(t(DAY)).await.is_empty());
    assert_eq!(
        get_delivery(&*store, &e.workspace_id, d3).await.0.status,
        DeliveryStatus::Succeeded
    );
}

pub async fn release_makes_deliveries_due_at_their_scheduled_time(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;

    // Leased at birth, handed back unattempted: due at once (its creation).
    let ne = new_event(event(&ws, t(0)), &[&e]);
    let fresh = ne.deliveries[0].id.clone();
    publish_new(&*store, ne, Some(lease("node-a", t(HOUR)))).await;
    store
        .release(std::slice::from_ref(&fresh), "node-a")
        .await
        .unwrap();
    assert_eq!(
        claim_ids(&*store, t(SEC), "node-b").await,
        vec![fresh.clone()]
    );
    store
        .release(std::slice::from_ref(&fresh), "node-b")
        .await
        .unwrap();

    // A retry scheduled for later, claimed when due, then handed back: due
    // again at once, still with its history.
    let retry = publish_to(&*store, &e, t(2 * SEC)).await;
    assert_eq!(
        claim_ids(&*store, t(2 * SEC), "node-a").await,
        sorted(vec![fresh.clone(), retry.clone()])
    );
    store
        .release(std::slice::from_ref(&fresh), "node-a")
        .await
        .unwrap();
    store
        .record_outcomes(vec![outcome(
            &retry,
            &e.id,
            t(3 * SEC),
            Some(500),
            DeliveryStatus::Pending,
            1,
            Some(t(10 * MIN)),
        )])
        .await
        .unwrap();
    assert_eq!(
        claim_ids(&*store, t(10 * MIN), "node-a").await,
        sorted(vec![fresh.clone(), retry.clone()])
    );
    store
        .release(&[fresh.clone(), retry.clone()], "node-a")
        .await
        .unwrap();
    let due = claim(&*store, t(10 * MIN), "node-b").await;
    assert_eq!(due.len(), 2);
    let r = due.iter().find(|d| d.delivery.id == retry).unwrap();
    assert_eq!(r.delivery.attempt_count, 1);
    assert_eq!(r.delivery.status, DeliveryStatus::Pending);
    assert!(!r.manual);
}

pub async fn release_by_another_owner_does_nothing(store: Arc<dyn Store>) {
    let (_, ids) = pending(&*store, 1).await;
    assert_eq!(claim_ids(&*store, t(0), "node-a").await, ids);
    store.release(&ids, "node-b").await.unwrap();
    assert!(claim_ids(&*store, t(SEC), "node-c").await.is_empty());
    store.release(&ids, "node-a").await.unwrap();
    assert_eq!(claim_ids(&*store, t(SEC), "node-c").await, ids);
}

pub async fn record_outcomes_numbers_attempts_in_order(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 1).await;
    let d = &ids[0];
    let ws = e.workspace_id.clone();
    let steps = [
        (t(0), Some(500), DeliveryStatus::Pending, Some(t(5 * SEC))),
        (t(5 * SEC), None, DeliveryStatus::Pending, Some(t(65 * SEC))),
        (t(65 * SEC), Some(200), DeliveryStatus::Succeeded, None),
    ];
    let mut sent: Vec<Attempt> = Vec::new();
    for (n, (at, http, status, next)) in steps.into_iter().enumerate() {
        assert_eq!(claim_ids(&*store, at, "node-a").await, vec![d.clone()]);
        let o = outcome(d, &e.id, at, http, status, n as u32 + 1, next);
        sent.push(o.attempt.clone().unwrap());
        store.record_outcomes(vec![o]).await.unwrap();

        let (got, attempts) = get_delivery(&*store, &ws, d).await;
        assert_eq!(got.status, status);
        assert_eq!(got.attempt_count, n as u32 + 1);
        assert_eq!(got.next_attempt_at, next);
        assert_eq!(attempts.len(), n + 1);
    }

    let (_, attempts) = get_delivery(&*store, &ws, d).await;
    let expected: Vec<Attempt> = sent
        .into_iter()
        .enumerate()
        .map(|(i, a)| Attempt {
            attempt_number: i as u32 + 1,
            ..a
        })
        .collect();
    assert_eq!(
        attempts, expected,
        "every field kept, numbered 1, 2, 3, oldest first"
    );
}

pub async fn record_outcomes_retry_is_due_only_at_next_attempt_at(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 1).await;
    let d = &ids[0];
    claim(&*store, t(0), "node-a").await;
    let next = t(2 * HOUR);
    store
        .record_outcomes(vec![outcome(
            d,
            &e.id,
            t(SEC),
            Some(503),
            DeliveryStatus::Pending,
            1,
            Some(next),
        )])
        .await
        .unwrap();

    let (got, attempts) = get_delivery(&*store, &e.workspace_id, d).await;
    assert_eq!(got.status, DeliveryStatus::Pending);
    assert_eq!(got.next_attempt_at, Some(next));
    assert_eq!(attempts.len(), 1);
    // Recording let go of the lease, but the retry is not due before its time.
    assert!(claim_ids(&*store, t(MIN), "node-b").await.is_empty());
    assert!(claim_ids(&*store, next.plus_millis(-1), "node-b")
        .await
        .is_empty());
    let due = claim(&*store, next, "node-b").await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery.attempt_count, 1);
    assert!(!due[0].manual);
}

pub async fn record_outcomes_failed_is_final(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 1).await;
    let d = &ids[0];
    claim(&*store, t(0), "node-a").await;
    store
        .record_outcomes(vec![outcome(
            d,
            &e.id,
            t(SEC),
            Some(410),
            DeliveryStatus::Failed,
            1,
            None,
        )])
        .await
        .unwrap();
    let (got, attempts) = get_delivery(&*store, &e.workspace_id, d).await;
    assert_eq!(got.status, DeliveryStatus::Failed);
    assert_eq!(got.next_attempt_at, None);
    assert_eq!(attempts.len(), 1);
    assert!(claim_ids(&*store, t(30 * DAY), "node-b").await.is_empty());

    // A late outcome does not bring it back.
    store
        .record_outcomes(vec![outcome(
            d,
            &e.id,
            t(2 * SEC),
            Some(500),
            DeliveryStatus::Pending,
            2,
            Some(t(MIN)),
        )])
        .await
        .unwrap();
    assert_eq!(
        get_delivery(&*store, &e.workspace_id, d).await.0.status,
        DeliveryStatus::Failed
    );
    assert!(claim_ids(&*store, t(30 * DAY), "node-b").await.is_empty());
}

pub async fn record_outcomes_batch_of_several_deliveries(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 3).await;
    claim(&*store, t(0), "node-a").await;
    store
        .record_outcomes(vec![
            outcome(
                &ids[0],
                &e.id,
                t(SEC),
                Some(204),
                DeliveryStatus::Succeeded,
                1,
                None,
            ),
            outcome(
                &ids[1],
                &e.id,
                t(SEC),
                Some(404),
                DeliveryStatus::Failed,
                1,
                None,
            ),
            outcome(
                &ids[2],
                &e.id,
                t(SEC),
                None,
                DeliveryStatus::Pending,
                1,
                Some(t(MIN)),
            ),
        ])
        .await
        .unwrap();
    let ws = &e.workspace_id;
    let status = |i: usize| {
        let s = store.clone();
        let (ws, id) = (ws.clone(), ids[i].clone());
        async move { get_delivery(&*s, &ws, &id).await }
    };
    let (d0, a0) = status(0).await;
    assert_eq!(
        (d0.status, d0.attempt_count, a0.len()),
        (DeliveryStatus::Succeeded, 1, 1)
    );
    assert_eq!(a0[0].response_status, Some(204));
    let (d1, a1) = status(1).await;
    assert_eq!(
        (d1.status, d1.attempt_count, a1.len()),
        (DeliveryStatus::Failed, 1, 1)
    );
    assert_eq!(a1[0].response_status, Some(404));
    let (d2, a2) = status(2).await;
    assert_eq!(
        (d2.status, d2.attempt_count, a2.len()),
        (DeliveryStatus::Pending, 1, 1)
    );
    assert_eq!(
        a2[0].error_kind,
        Some(hookrelay_core::model::ErrorKind::Timeout)
    );
    assert_eq!(
        claim_ids(&*store, t(MIN), "node-b").await,
        vec![ids[2].clone()]
    );
}

pub async fn record_outcomes_without_attempt_changes_status_only(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 2).await;
    claim(&*store, t(0), "node-a").await;
    let skipped = |id: &DeliveryId, status| Outcome {
        delivery_id: id.clone(),
        endpoint_id: e.id.clone(),
        lease_owner: None,
        attempt: None,
        status,
        attempt_count: 0,
        next_attempt_at: None,
        endpoint_effect: None,
    };
    // Endpoint disabled: failed without an attempt; endpoint gone: cancelled.
    store
        .record_outcomes(vec![
            skipped(&ids[0], DeliveryStatus::Failed),
            skipped(&ids[1], DeliveryStatus::Cancelled),
        ])
        .await
        .unwrap();
    for (id, status) in [
        (&ids[0], DeliveryStatus::Failed),
        (&ids[1], DeliveryStatus::Cancelled),
    ] {
        let (d, attempts) = get_delivery(&*store, &e.workspace_id, id).await;
        assert_eq!(d.status, status);
        assert_eq!(d.attempt_count, 0);
        assert!(attempts.is_empty());
    }
    assert!(claim_ids(&*store, t(DAY), "node-b").await.is_empty());
}

pub async fn record_outcomes_on_cancelled_delivery_keeps_it_cancelled(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let ne = new_event(event(&ws, t(0)), &[&e]);
    let d = ne.deliveries[0].id.clone();
    publish_new(&*store, ne, Some(lease("node-a", t(MIN)))).await;

    // The endpoint is deleted while node-a is sending.
    assert!(store.delete_endpoint(&ws, &e.id, t(SEC)).await.unwrap());
    store
        .record_outcomes(vec![outcome(
            &d,
            &e.id,
            t(SEC),
            Some(500),
            DeliveryStatus::Pending,
            1,
            Some(t(5 * SEC)),
        )])
        .await
        .unwrap();

    let (got, attempts) = get_delivery(&*store, &ws, &d).await;
    assert_eq!(
        got.status,
        DeliveryStatus::Cancelled,
        "an outcome does not resurrect it"
    );
    assert_eq!(attempts.len(), 1, "the attempt that was made is history");
    assert_eq!(attempts[0].attempt_number, 1);
    assert!(claim_ids(&*store, t(DAY), "node-b").await.is_empty());
}

pub async fn endpoint_effects_mark_clear_and_disable_failing(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 1).await;
    let d = &ids[0];
    let other = add_endpoint(&*store, &e.workspace_id, t(1)).await;
    let record = |effect: EndpointEffect, at: hookrelay_core::time::Timestamp| {
        let s = store.clone();
        let (d, ep) = (d.clone(), e.id.clone());
        async move {
            let mut o = outcome(
                &d,
                &ep,
                at,
                Some(500),
                DeliveryStatus::Pending,
                1,
                Some(at.plus_millis(SEC)),
            );
            o.endpoint_effect = Some(effect);
            s.record_outcomes(vec![o]).await.unwrap();
        }
    };

    record(EndpointEffect::MarkFailing(t(MIN)), t(MIN)).await;
    assert_eq!(get_endpoint(&*store, &e).await.failing_since, Some(t(MIN)));
    record(EndpointEffect::MarkFailing(t(2 * MIN)), t(2 * MIN)).await;
    assert_eq!(
        get_endpoint(&*store, &e).await.failing_since,
        Some(t(MIN)),
        "failing since the first failure"
    );
    record(EndpointEffect::ClearFailing, t(3 * MIN)).await;
    assert_eq!(get_endpoint(&*store, &e).await.failing_since, None);
    record(EndpointEffect::MarkFailing(t(4 * MIN)), t(4 * MIN)).await;
    assert_eq!(
        get_endpoint(&*store, &e).await.failing_since,
        Some(t(4 * MIN))
    );

    record(EndpointEffect::DisableFailing(t(5 * DAY)), t(5 * DAY)).await;
    let got = get_endpoint(&*store, &e).await;
    assert_eq!(got.status, EndpointStatus::Disabled);
    assert_eq!(got.disabled_reason, Some(DisabledReason::Failing));
    let page = store
        .list_endpoints(
            &e.workspace_id,
            &EndpointFilter {
                status: Some(EndpointStatus::Disabled),
                api_version: None,
            },
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, e.id);

    // Only the outcome's own endpoint is touched.
    assert_eq!(get_endpoint(&*store, &other).await, other);
}

/// Effects on one endpoint within one batch apply as they would one batch
/// at a time, in order (backends fold them per endpoint).
pub async fn endpoint_effects_in_one_batch_apply_in_order(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 3).await;
    let batch = |effects: Vec<EndpointEffect>| {
        effects
            .into_iter()
            .zip(ids.iter().cycle())
            .enumerate()
            .map(|(i, (effect, d))| {
                let at = t(MIN * (i as i64 + 1));
                let mut o = outcome(
                    d,
                    &e.id,
                    at,
                    Some(500),
                    DeliveryStatus::Pending,
                    1,
                    Some(at.plus_millis(SEC)),
                );
                o.endpoint_effect = Some(effect);
                o
            })
            .collect::<Vec<_>>()
    };
    use EndpointEffect::{ClearFailing, DisableFailing, MarkFailing};

    let b = batch(vec![
        MarkFailing(t(MIN)),
        ClearFailing,
        MarkFailing(t(4 * MIN)),
        MarkFailing(t(5 * MIN)),
    ]);
    store.record_outcomes(b).await.unwrap();
    assert_eq!(
        get_endpoint(&*store, &e).await.failing_since,
        Some(t(4 * MIN)),
        "the first mark after the last clear"
    );

    let b = batch(vec![MarkFailing(t(6 * MIN)), ClearFailing]);
    store.record_outcomes(b).await.unwrap();
    assert_eq!(get_endpoint(&*store, &e).await.failing_since, None);

    let b = batch(vec![
        MarkFailing(t(7 * MIN)),
        DisableFailing(t(8 * MIN)),
        DisableFailing(t(9 * MIN)),
    ]);
    store.record_outcomes(b).await.unwrap();
    let got = get_endpoint(&*store, &e).await;
    assert_eq!(got.failing_since, Some(t(7 * MIN)));
    assert_eq!(got.status, EndpointStatus::Disabled);
    assert_eq!(got.updated_at, t(8 * MIN), "disabled by the first");
}

pub async fn disable_failing_leaves_manually_disabled_endpoint_alone(store: Arc<dyn Store>) {
    let (mut e, ids) = pending(&*store, 1).await;
    let before = e.updated_at;
    e.status = EndpointStatus::Disabled;
    e.disabled_reason = Some(DisabledReason::Manual);
    e.updated_at = t(SEC);
    assert!(store.update_endpoint(&e, before).await.unwrap());
    let mut o = outcome(
        &ids[0],
        &e.id,
        t(MIN),
        Some(500),
        DeliveryStatus::Failed,
        1,
        None,
    );
    o.endpoint_effect = Some(EndpointEffect::DisableFailing(t(MIN)));
    store.record_outcomes(vec![o]).await.unwrap();
    let got = get_endpoint(&*store, &e).await;
    assert_eq!(got.status, EndpointStatus::Disabled);
    assert_eq!(got.disabled_reason, Some(DisabledReason::Manual));
}

pub async fn release_stale_leases_of_everyone(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 4).await;
    let l = |owner: &str| lease(owner, t(HOUR));
    assert_eq!(
        store
            .claim_due(t(0), &l("node-a"), 2, &[])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .claim_due(t(0), &l("node-b"), 1, &[])
            .await
            .unwrap()
            .len(),
        1
    );
    // One left unleased, and one leased then finished: neither counts.
    let finished = store.claim_due(t(0), &l("node-c"), 1, &[]).await.unwrap();
    finish(
        &*store,
        &finished[0].delivery.id,
        &e.id,
        DeliveryStatus::Succeeded,
        t(SEC),
    )
    .await;

    assert_eq!(store.release_stale_leases(None).await.unwrap(), 3);
    let mut expected = ids.clone();
    expected.retain(|id| *id != finished[0].delivery.id);
    assert_eq!(claim_ids(&*store, t(2 * SEC), "node-d").await, expected);
    assert_eq!(
        store.release_stale_leases(None).await.unwrap(),
        3,
        "node-d's leases now"
    );
}

pub async fn release_stale_leases_by_owner_prefix(store: Arc<dyn Store>) {
    pending(&*store, 3).await;
    let l = |owner: &str| lease(owner, t(HOUR));
    let mut mine = Vec::new();
    for owner in ["host-1/boot-1", "host-1/boot-2"] {
        let got = store.claim_due(t(0), &l(owner), 1, &[]).await.unwrap();
        mine.push(got[0].delivery.id.clone());
    }
    let theirs = store
        .claim_due(t(0), &l("host-2/boot-1"), 1, &[])
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);

    assert_eq!(
        store.release_stale_leases(Some("host-1/")).await.unwrap(),
        2
    );
    let mine = sorted(mine);
    assert_eq!(claim_ids(&*store, t(SEC), "host-1/boot-3").await, mine);
    assert!(
        !mine.contains(&theirs[0].delivery.id),
        "host-2's lease holds"
    );
    assert_eq!(
        store.release_stale_leases(Some("host-9/")).await.unwrap(),
        0
    );
}

pub async fn release_stale_leases_prefix_is_literal(store: Arc<dyn Store>) {
    pending(&*store, 4).await;
    let l = |owner: &str| lease(owner, t(HOUR));
    let mut mine = Vec::new();
    for owner in ["node_a-1", "nodeXa-1", "NODE_A-1", "node%a-1"] {
        let got = store.claim_due(t(0), &l(owner), 1, &[]).await.unwrap();
        assert_eq!(got.len(), 1);
        if owner == "node_a-1" {
            mine.push(got[0].delivery.id.clone());
        }
    }
    // "node_a" is a plain string prefix: `_` and `%` are not wildcards, case counts.
    assert_eq!(store.release_stale_leases(Some("node_a")).await.unwrap(), 1);
    assert_eq!(claim_ids(&*store, t(SEC), "node-z").await, mine);
}

pub async fn concurrent_claims_never_hand_out_a_delivery_twice(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut eps = Vec::new();
    for i in 0..4 {
        eps.push(add_endpoint(&*store, &ws, t(i)).await);
    }
    let refs: Vec<_> = eps.iter().collect();
    let mut all = Vec::new();
    for i in 0..30 {
        all.extend(publish(&*store, &ws, t(SEC + i), &refs).await.1);
    }

    let mut tasks = Vec::new();
    for n in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let l = lease(&format!("node-{n}"), t(HOUR));
            let mut mine = Vec::new();
            loop {
                let got = s.claim_due(t(MIN), &l, 7, &[]).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.delivery.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(bounded("claimers", task).await.unwrap());
    }
    let unique: HashSet<_> = claimed.iter().cloned().collect();
    assert_eq!(unique.len(), claimed.len(), "no delivery handed out twice");
    assert_eq!(sorted(claimed), sorted(all));
}

/// Re-enabling an endpoint starts its failure record afresh.
pub async fn re_enabling_clears_the_failure_record(store: Arc<dyn Store>) {
    let (e, ids) = pending(&*store, 1).await;
    let o = Outcome {
        endpoint_effect: Some(EndpointEffect::DisableFailing(t(5 * DAY))),
        ..outcome(
            &ids[0],
            &e.id,
            t(MIN),
            Some(500),
            DeliveryStatus::Failed,
            1,
            None,
        )
    };
    let mark = Outcome {
        endpoint_effect: Some(EndpointEffect::MarkFailing(t(MIN))),
        attempt: None,
        ..o.clone()
    };
    store.record_outcomes(vec![mark, o]).await.unwrap();
    let disabled = get_endpoint(&*store, &e).await;
    assert_eq!(disabled.status, EndpointStatus::Disabled);
    assert_eq!(disabled.failing_since, Some(t(MIN)));
    let mut on = disabled.clone();
    on.status = EndpointStatus::Enabled;
    on.disabled_reason = None;
    on.updated_at = t(6 * DAY);
    assert!(store
        .update_endpoint(&on, disabled.updated_at)
        .await
        .unwrap());
    let got = get_endpoint(&*store, &e).await;
    assert_eq!(got.status, EndpointStatus::Enabled);
    assert_eq!(got.failing_since, None);
}

/// Claims and outcome batches bigger than the store's own write units
/// (SQLite splits both into pieces that may commit apart) behave as one:
/// exactly the limit, oldest first, each delivery once, every outcome kept.
pub async fn large_claims_renewals_and_outcome_batches_act_as_one(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let mut eps = Vec::new();
    for i in 0..3 {
        eps.push(add_endpoint(&*store, &ws, t(-DAY + i)).await);
    }
    let refs: Vec<&hookrelay_core::model::Endpoint> = eps.iter().collect();
    // 300 events to one endpoint, then 100 (newer) to all three: 600 due.
    let narrow: Vec<_> = (0..300)
        .map(|i| new_event(event(&ws, t(i - 1_000)), &refs[i as usize % 3..][..1]))
        .collect();
    let wide: Vec<_> = (0..100)
        .map(|i| new_event(event(&ws, t(i - 500)), &refs))
        .collect();
    let mut by_age: Vec<(Timestamp, DeliveryId, hookrelay_core::ids::EndpointId)> = Vec::new();
    for batch in [narrow, wide] {
        for ne in &batch {
            for d in &ne.deliveries {
                by_age.push((ne.event.created_at, d.id.clone(), d.endpoint_id.clone()));
            }
        }
        let out = store.publish(batch, None).await.unwrap();
        assert!(out.iter().all(|r| r.is_ok()));
    }
    by_age.sort();
    let l = lease("node-a", t(MIN));
    // 300 narrow + 83 of the wide events: the first claim ends on an
    // event's boundary, so "oldest first" has one answer on every backend.
    let first = store.claim_due(t(0), &l, 549, &[]).await.unwrap();
    let second = store.claim_due(t(0), &l, 1_000, &[]).await.unwrap();
    assert!(store
        .claim_due(t(0), &l, 1_000, &[])
        .await
        .unwrap()
        .is_empty());
    let ids = |v: &[hookrelay_store::DueDelivery]| {
        sorted(v.iter().map(|d| d.delivery.id.clone()).collect())
    };
    let oldest: Vec<DeliveryId> = by_age.iter().map(|(_, id, _)| id.clone()).collect();
    assert_eq!(
        ids(&first),
        sorted(oldest[..549].to_vec()),
        "the oldest 549"
    );
    assert_eq!(ids(&second), sorted(oldest[549..].to_vec()), "the rest");
    assert!(first
        .iter()
        .chain(&second)
        .all(|d| d.event.id == d.delivery.event_id));
    // All 600 leases renewed in one call: after the first lease would have
    // ended, none is due again.
    store
        .renew_leases(&oldest, &lease("node-a", t(3 * MIN)))
        .await
        .unwrap();
    assert!(
        store
            .claim_due(t(2 * MIN), &lease("node-b", t(4 * MIN)), 1_000, &[])
            .await
            .unwrap()
            .is_empty(),
        "every lease was renewed"
    );
    // One batch of 600 outcomes: every one recorded.
    let outcomes = by_age
        .iter()
        .map(|(_, id, ep)| {
            outcome(
                id,
                ep,
                t(SEC),
                Some(204),
                DeliveryStatus::Succeeded,
                1,
                None,
            )
        })
        .collect();
    store.record_outcomes(outcomes).await.unwrap();
    assert_eq!(store.backlog().await.unwrap().pending, 0);
    for (_, id, _) in by_age.iter().step_by(37).chain(by_age.last()) {
        let (d, attempts) = get_delivery(&*store, &ws, id).await;
        assert_eq!(
            (d.status, d.attempt_count, attempts.len()),
            (DeliveryStatus::Succeeded, 1, 1),
            "{id}"
        );
    }
}
