//! Delivery statistics: attempts counted by outcome per bucket, latency
//! percentiles, workspace and endpoint scopes, zero-filled buckets, window
//! limits, per-endpoint totals, and retention.

use std::sync::Arc;

use hookrelay_core::ids::{DeliveryId, EndpointId, WorkspaceId};
use hookrelay_core::model::{DeliveryStatus, Endpoint};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{Bucket, ErrorKind, Outcome, StatsBucket, Store, Totals};

use crate::support::*;

/// Publishes `n` events with one delivery each to `e`, created at `at`.
async fn deliveries(store: &dyn Store, e: &Endpoint, n: usize, at: Timestamp) -> Vec<DeliveryId> {
    let events: Vec<_> = (0..n)
        .map(|_| new_event(event(&e.workspace_id, at), &[e]))
        .collect();
    let ids = events
        .iter()
        .map(|ne| ne.deliveries[0].id.clone())
        .collect();
    for r in store.publish(events, None).await.expect("publish") {
        r.expect("publish item");
    }
    ids
}

/// An attempt of `d` started at `at` that took `ms` and left the delivery
/// `status` (succeeded: it answered 200; otherwise 500).
fn attempted(
    d: &DeliveryId,
    e: &Endpoint,
    at: Timestamp,
    status: DeliveryStatus,
    ms: u32,
) -> Outcome {
    let http = if status == DeliveryStatus::Succeeded {
        200
    } else {
        500
    };
    let next = (status == DeliveryStatus::Pending).then(|| at.plus_millis(HOUR));
    let mut o = outcome(d, &e.id, at, Some(http), status, 1, next);
    o.attempt.as_mut().expect("an attempt").duration_ms = ms;
    o
}

/// `(succeeded, retrying, failed)` of each bucket.
fn counts(buckets: &[StatsBucket]) -> Vec<(u64, u64, u64)> {
    buckets
        .iter()
        .map(|b| (b.totals.succeeded, b.totals.retrying, b.totals.failed))
        .collect()
}

async fn stats(
    store: &dyn Store,
    ws: &WorkspaceId,
    endpoint: Option<&EndpointId>,
    since: Timestamp,
    until: Timestamp,
    bucket: Bucket,
) -> Vec<StatsBucket> {
    store
        .stats(ws, endpoint, since, until, bucket)
        .await
        .expect("stats")
}

pub async fn stats_count_attempts_by_outcome_per_bucket(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let ids = deliveries(&*store, &e, 6, t(0)).await;
    use DeliveryStatus::*;
    store
        .record_outcomes(vec![
            attempted(&ids[0], &e, t(0), Pending, 10),
            attempted(&ids[1], &e, t(5 * SEC), Succeeded, 10),
            attempted(&ids[2], &e, t(2 * MIN + 30 * SEC), Failed, 10),
            attempted(&ids[3], &e, t(61 * MIN), Succeeded, 10),
        ])
        .await
        .unwrap();
    // The retry of the first, in a batch of its own.
    store
        .record_outcomes(vec![attempted(&ids[0], &e, t(20 * SEC), Succeeded, 10)])
        .await
        .unwrap();
    // Not attempts: an outcome without one, and one the delivery's lease
    // holder did not make (not recorded at all).
    let mut unattempted = attempted(&ids[4], &e, t(0), Failed, 10);
    unattempted.attempt = None;
    let mut not_ours = attempted(&ids[5], &e, t(0), Succeeded, 10);
    not_ours.lease_owner = Some("node-elsewhere".into());
    store
        .record_outcomes(vec![unattempted, not_ours])
        .await
        .unwrap();

    let minutes = stats(&*store, &ws, None, t(0), t(3 * MIN), Bucket::Minute).await;
    assert_eq!(
        minutes.iter().map(|b| b.start).collect::<Vec<_>>(),
        vec![t(0), t(MIN), t(2 * MIN)]
    );
    assert_eq!(counts(&minutes), vec![(2, 1, 0), (0, 0, 0), (0, 0, 1)]);
    assert_eq!(
        minutes[1].totals,
        Totals::default(),
        "a bucket without attempts is zero"
    );

    let hours = stats(&*store, &ws, None, t(0), t(2 * HOUR), Bucket::Hour).await;
    assert_eq!(counts(&hours), vec![(2, 1, 1), (1, 0, 0)]);

    // T0 is 08:00 UTC: the day bucket starts at midnight.
    let days = stats(&*store, &ws, None, t(0), t(DAY), Bucket::Day).await;
    assert_eq!(
        days.iter()
            .map(|b| (b.start, b.totals.attempts()))
            .collect::<Vec<_>>(),
        vec![(t(-8 * HOUR), 5), (t(16 * HOUR), 0)]
    );
}

pub async fn stats_latency_percentiles_come_from_the_histogram(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let ids = deliveries(&*store, &e, 21, t(0)).await;
    use DeliveryStatus::*;
    // One attempt in the first minute: its latency exactly.
    store
        .record_outcomes(vec![attempted(&ids[0], &e, t(0), Succeeded, 137)])
        .await
        .unwrap();
    // Eighteen fast and two slow ones in the second.
    let batch: Vec<Outcome> = ids[1..]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let ms = if i < 18 { 10 } else { 5_000 };
            attempted(d, &e, t(MIN + i as i64), Succeeded, ms)
        })
        .collect();
    store.record_outcomes(batch).await.unwrap();

    let b = stats(&*store, &ws, Some(&e.id), t(0), t(3 * MIN), Bucket::Minute).await;
    assert_eq!(b[0].totals.latency_p50_ms(), Some(137));
    assert_eq!(b[0].totals.latency_p95_ms(), Some(137));
    assert_eq!(b[1].totals.attempts(), 20);
    assert_eq!(b[1].totals.latency_p50_ms(), Some(10));
    let p95 = b[1].totals.latency_p95_ms().unwrap();
    assert!(
        (3_001..=5_000).contains(&p95),
        "p95 in the bucket of the true value (3000, 5000] ms: {p95}"
    );
    assert_eq!(b[1].totals.latency.min_ms(), Some(10));
    assert_eq!(b[1].totals.latency.max_ms(), Some(5_000));
    assert_eq!(
        b[2].totals.latency_p50_ms(),
        None,
        "no attempts, no latency"
    );

    // Summed over both minutes (one hour bucket) the histograms add up.
    let h = stats(&*store, &ws, Some(&e.id), t(0), t(HOUR), Bucket::Hour).await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].totals.attempts(), 21);
    let mut both = b[0].totals.clone();
    both.merge(&b[1].totals);
    assert_eq!(h[0].totals, both);
}

pub async fn stats_of_a_workspace_or_endpoint_never_read_another_workspace(store: Arc<dyn Store>) {
    let a = workspace(&*store, "acme").await;
    let b = workspace_record("globex", t(1));
    store.create_workspace(&b).await.unwrap();
    let b = b.id;
    let a1 = add_endpoint(&*store, &a, t(0)).await;
    let a2 = add_endpoint(&*store, &a, t(1)).await;
    let b1 = add_endpoint(&*store, &b, t(2)).await;
    use DeliveryStatus::*;
    let mut batch = Vec::new();
    for (e, n, status) in [(&a1, 3, Succeeded), (&a2, 2, Failed), (&b1, 4, Pending)] {
        for d in deliveries(&*store, e, n, t(0)).await {
            batch.push(attempted(&d, e, t(SEC), status, 50));
        }
    }
    // One batch of several workspaces and endpoints, as a node records them.
    store.record_outcomes(batch).await.unwrap();

    let (since, until) = (t(0), t(HOUR));
    let only = |v: Vec<StatsBucket>| {
        assert_eq!(v.len(), 1);
        (
            v[0].totals.succeeded,
            v[0].totals.retrying,
            v[0].totals.failed,
        )
    };
    let ws_a = stats(&*store, &a, None, since, until, Bucket::Hour).await;
    assert_eq!(only(ws_a), (3, 0, 2));
    let ws_b = stats(&*store, &b, None, since, until, Bucket::Hour).await;
    assert_eq!(only(ws_b), (0, 4, 0));
    let ep_a1 = stats(&*store, &a, Some(&a1.id), since, until, Bucket::Hour).await;
    assert_eq!(only(ep_a1), (3, 0, 0));
    let ep_a2 = stats(&*store, &a, Some(&a2.id), since, until, Bucket::Minute).await;
    assert_eq!(ep_a2.iter().map(|b| b.totals.failed).sum::<u64>(), 2);
    // Another workspace's endpoint, asked for in this one: nothing.
    let foreign = stats(&*store, &a, Some(&b1.id), since, until, Bucket::Hour).await;
    assert_eq!(only(foreign), (0, 0, 0));

    let totals = store.endpoint_totals(&a, since, until).await.unwrap();
    let mut want = vec![a1.id.clone(), a2.id.clone()];
    want.sort();
    assert_eq!(
        totals.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        want,
        "this workspace's endpoints with attempts, by id"
    );
    let of = |id: &EndpointId| &totals.iter().find(|(e, _)| e == id).unwrap().1;
    assert_eq!(of(&a1.id).succeeded, 3);
    assert_eq!(of(&a1.id).success_rate(), Some(1.0));
    assert_eq!(of(&a2.id).failed, 2);
    assert_eq!(of(&a2.id).success_rate(), Some(0.0));
}

pub async fn stats_buckets_are_whole_and_zero_filled(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    // An empty workspace: every bucket, zero.
    let got = stats(
        &*store,
        &ws,
        None,
        t(30 * SEC),
        t(5 * HOUR + 1),
        Bucket::Hour,
    )
    .await;
    assert_eq!(
        got.iter().map(|b| b.start).collect::<Vec<_>>(),
        (0..6).map(|h| t(h * HOUR)).collect::<Vec<_>>(),
        "since rounded down and until up to whole hours"
    );
    assert!(got.iter().all(|b| b.totals == Totals::default()));
    let got = stats(&*store, &ws, None, t(0), t(DAY), Bucket::Minute).await;
    assert_eq!(got.len(), 1440);
    assert_eq!(got[1439].start, t(DAY - MIN));
}

pub async fn stats_windows_are_bounded(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let midnight = -8 * HOUR;
    for (bucket, max) in [
        (Bucket::Minute, DAY),
        (Bucket::Hour, 31 * DAY),
        (Bucket::Day, 400 * DAY),
    ] {
        let (since, until) = (t(midnight), t(midnight + max));
        let ok = store.stats(&ws, None, since, until, bucket).await.unwrap();
        assert_eq!(ok.len() as i64, max / bucket.millis());
        let err = store
            .stats(&ws, None, since, until.plus_millis(1), bucket)
            .await
            .expect_err("a window longer than allowed");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
    let err = store
        .stats(&ws, None, t(HOUR), t(HOUR), Bucket::Minute)
        .await
        .expect_err("an empty window");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(err.to_string(), "until must be after since");
    let err = store
        .endpoint_totals(&ws, t(0), t(401 * DAY))
        .await
        .expect_err("totals over more than 400 days");
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

pub async fn endpoint_totals_add_up_minutes_and_hours(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let at = [
        5 * MIN,             // before the window
        15 * MIN,            // its first, partial hour: minute rows
        90 * MIN,            // a whole hour: hour rows
        3 * HOUR + 10 * MIN, // its last, partial hour
        3 * HOUR + 25 * MIN, // after it
    ];
    let ids = deliveries(&*store, &e, at.len(), t(0)).await;
    let batch = ids
        .iter()
        .zip(at)
        .map(|(d, ms)| attempted(d, &e, t(ms), DeliveryStatus::Succeeded, 20))
        .collect();
    store.record_outcomes(batch).await.unwrap();
    let totals = store
        .endpoint_totals(&ws, t(10 * MIN), t(3 * HOUR + 20 * MIN))
        .await
        .unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].0, e.id);
    assert_eq!(totals[0].1.succeeded, 3);
    // Whole minutes: the minute of `since` counts whole.
    let totals = store
        .endpoint_totals(&ws, t(5 * MIN + 59 * SEC), t(5 * MIN + 59 * SEC + 1))
        .await
        .unwrap();
    assert_eq!(totals[0].1.succeeded, 1);
    assert!(store
        .endpoint_totals(&ws, t(4 * HOUR), t(5 * HOUR))
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_batch_touching_many_rows_counts_every_attempt(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    // Two batches of 40 attempts, each in a minute of its own (three hours'
    // worth of rows): the second adds to the rows the first made.
    let ids = deliveries(&*store, &e, 80, t(0)).await;
    for (round, ids) in ids.chunks(40).enumerate() {
        let batch = ids
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let at = t(i as i64 * 5 * MIN + round as i64 * SEC);
                attempted(d, &e, at, DeliveryStatus::Succeeded, 10 + i as u32)
            })
            .collect();
        store.record_outcomes(batch).await.unwrap();
    }
    let minutes = stats(&*store, &ws, None, t(0), t(200 * MIN), Bucket::Minute).await;
    let want: Vec<u64> = (0..200).map(|m| if m % 5 == 0 { 2 } else { 0 }).collect();
    assert_eq!(
        minutes
            .iter()
            .map(|b| b.totals.succeeded)
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(minutes[5 * 7].totals.latency_p50_ms(), Some(17));
    let hours = stats(&*store, &ws, Some(&e.id), t(0), t(4 * HOUR), Bucket::Hour).await;
    assert_eq!(
        hours.iter().map(|b| b.totals.succeeded).collect::<Vec<_>>(),
        vec![24, 24, 24, 8]
    );
}

pub async fn concurrent_outcome_batches_lose_no_counts(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let ids = deliveries(&*store, &e, 200, t(0)).await;
    // Eight writers, all counting into the same minute and hour rows.
    let mut tasks = Vec::new();
    for chunk in ids.chunks(25) {
        let batch: Vec<Outcome> = chunk
            .iter()
            .map(|d| attempted(d, &e, t(SEC), DeliveryStatus::Succeeded, 30))
            .collect();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            bounded("record_outcomes", store.record_outcomes(batch)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let got = stats(&*store, &ws, Some(&e.id), t(0), t(MIN), Bucket::Minute).await;
    assert_eq!(got[0].totals.succeeded, 200);
    let got = stats(&*store, &ws, None, t(0), t(HOUR), Bucket::Hour).await;
    assert_eq!(got[0].totals.succeeded, 200);
    assert_eq!(got[0].totals.latency.count(), 200);
}

pub async fn purge_removes_old_statistics_and_deletion_keeps_them(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let ids = deliveries(&*store, &e, 3, t(0)).await;
    use DeliveryStatus::*;
    store
        .record_outcomes(vec![
            attempted(&ids[0], &e, t(0), Succeeded, 10),
            attempted(&ids[1], &e, t(40 * DAY), Succeeded, 10),
            attempted(&ids[2], &e, t(40 * DAY + 2 * HOUR), Failed, 10),
        ])
        .await
        .unwrap();
    // History stays readable after the endpoint is deleted.
    assert!(store
        .delete_endpoint(&ws, &e.id, t(41 * DAY))
        .await
        .unwrap());
    let day = |from: Timestamp| {
        let store = store.clone();
        let (ws, id) = (ws.clone(), e.id.clone());
        async move {
            store
                .stats(&ws, Some(&id), from, from.plus_millis(DAY), Bucket::Hour)
                .await
                .unwrap()
                .iter()
                .map(|b| b.totals.attempts())
                .sum::<u64>()
        }
    };
    assert_eq!(day(t(0)).await, 1);
    assert_eq!(day(t(40 * DAY)).await, 2);

    // Retention cuts inside the second hour of day 40: what lies wholly
    // before that hour goes, that hour and later stay.
    let purged = store
        .purge(t(40 * DAY + 2 * HOUR + 30 * MIN), t(41 * DAY))
        .await
        .unwrap();
    assert_eq!(
        purged.stats_rows, 5,
        "every minute row before 02:30 on day 40, the hour rows before 02:00"
    );
    assert_eq!(day(t(0)).await, 0);
    assert_eq!(day(t(40 * DAY)).await, 1);
    let totals = store
        .endpoint_totals(&ws, t(40 * DAY), t(41 * DAY))
        .await
        .unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].1.failed, 1);
}
