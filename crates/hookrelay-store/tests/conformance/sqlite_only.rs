//! What only the SQLite backend promises: one process per database file,
//! and a file that keeps everything across close and reopen.

use std::path::Path;
use std::sync::Arc;

use hookrelay_core::model::DeliveryStatus;
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::{Published, Store, StoreError};

use crate::support::*;

fn open(path: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(path).expect("open sqlite store"))
}

#[tokio::test]
async fn sqlite_data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/hookrelay.db");
    let store = open(&path);
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let s = add_subscription(&*store, &e, "wf_1", t(1)).await;
    let (ev, ids) = publish(&*store, &ws, t(SEC), &[&e]).await;
    finish(&*store, &ids[0], &e.id, DeliveryStatus::Failed, t(2 * SEC)).await;
    let key = store.server_key("signed-url", vec![1, 2, 3]).await.unwrap();
    store.close().await;
    drop(store);

    let store = open(&path);
    assert_eq!(
        store
            .find_workspace_by_name("acme")
            .await
            .unwrap()
            .unwrap()
            .id,
        ws
    );
    assert_eq!(get_endpoint(&*store, &e).await, e);
    assert_eq!(store.get_subscription(&ws, &s.id).await.unwrap(), Some(s));
    assert_eq!(store.get_event(&ws, &ev.id).await.unwrap().unwrap().0, ev);
    let (d, attempts) = get_delivery(&*store, &ws, &ids[0]).await;
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(attempts.len(), 1);
    assert_eq!(store.server_key("signed-url", vec![9]).await.unwrap(), key);
    store.close().await;
}

/// An event to many endpoints is one fan-out row until claimed; a restart in
/// between loses nothing.
#[tokio::test]
async fn sqlite_unclaimed_fanout_deliveries_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookrelay.db");
    let store = open(&path);
    let ws = workspace(&*store, "acme").await;
    let mut eps = Vec::new();
    for i in 0..5 {
        eps.push(add_endpoint(&*store, &ws, t(i)).await);
    }
    let refs: Vec<_> = eps.iter().collect();
    let (ev, mut ids) = publish(&*store, &ws, t(SEC), &refs).await;
    store.close().await;
    drop(store);

    let store = open(&path);
    assert_eq!(store.backlog().await.unwrap().pending, 5);
    let got = claim(&*store, t(2 * SEC), "node-a").await;
    assert!(got.iter().all(|d| *d.event == ev));
    let mut claimed: Vec<_> = got.into_iter().map(|d| d.delivery.id).collect();
    claimed.sort();
    ids.sort();
    assert_eq!(claimed, ids);
    store.close().await;
}

#[tokio::test]
async fn sqlite_second_open_of_a_file_in_use_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookrelay.db");
    let store = open(&path);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open(_)), "got {err:?}");
    store.close().await;
    drop(store);
    let again = open(&path);
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_acknowledged_before_close_are_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookrelay.db");
    let store = open(&path);
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let ne = new_event(event(&ws, t(SEC + i)), &[&e]);
        let id = ne.event.id.clone();
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            (id, s.publish(vec![ne], None).await)
        }));
    }
    tokio::task::yield_now().await;
    bounded("close", store.close()).await;
    let mut acknowledged = Vec::new();
    for task in tasks {
        let (id, r) = bounded("publish", task).await.unwrap();
        if let Ok(out) = r {
            assert!(matches!(out[0], Ok(Published::Created { .. })));
            acknowledged.push(id);
        }
    }
    drop(store);

    let store = open(&path);
    for id in acknowledged {
        assert!(
            store.get_event(&ws, &id).await.unwrap().is_some(),
            "acknowledged event {id} was lost"
        );
    }
    store.close().await;
}

/// Two different database files in one directory are two stores: the lock
/// that guards one must not lock the other.
#[tokio::test]
async fn sqlite_two_databases_with_the_same_stem_open_together() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir.path().join("hookrelay.db"));
    let b = SqliteStore::open(&dir.path().join("hookrelay.sqlite"));
    assert!(b.is_ok(), "got {:?}", b.err());
    a.close().await;
}

/// Under sustained concurrent writes the WAL starts over instead of growing
/// with everything ever written (the writer checkpoints past 4,096 frames;
/// PASSIVE checkpoints from the background thread alone never catch up).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_wal_stays_bounded_under_sustained_writes() {
    const WRITERS: i64 = 16;
    const EACH: i64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookrelay.db");
    let store = open(&path);
    let ws = workspace(&*store, "acme").await;
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let (s, ws, e) = (store.clone(), ws.clone(), e.clone());
        tasks.spawn(async move {
            for i in 0..EACH {
                // A payload of a few KB so that every commit writes many pages.
                let mut ev = event(&ws, t(SEC + w * EACH + i));
                ev.payload = format!(r#"{{"pad":"{}"}}"#, "x".repeat(4000));
                s.publish(vec![new_event(ev, &[&e])], None).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let db = std::fs::metadata(&path).unwrap().len();
    let wal = std::fs::metadata(dir.path().join("hookrelay.db-wal"))
        .unwrap()
        .len();
    // 6,400 events of ~4 KB: the database holds ~30 MB. The WAL may go a
    // little past 4,096 frames (~17 MB) before it starts over, never to the
    // size of everything written.
    assert!(
        db > 20 << 20,
        "the test wrote too little to tell: {db} bytes"
    );
    assert!(wal < 24 << 20, "WAL grew to {wal} bytes (database {db})");
    store.close().await;
}

/// The writer thread is named `sqlite-writer`: the bench reports its CPU by
/// that name, and operators find it in `top -H`.
#[tokio::test]
async fn sqlite_writer_thread_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("hookrelay.db"));
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim_end().to_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == "sqlite-writer"),
        "threads: {names:?}"
    );
    store.close().await;
}

/// Reads never write: history reads see an event's deliveries while they
/// are still entries of its fan-out row, and leave the row as it was.
#[tokio::test]
async fn sqlite_reads_leave_fanout_rows_unwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hookrelay.db");
    let store = open(&path);
    let ws = workspace(&*store, "acme").await;
    let mut eps = Vec::new();
    for i in 0..4 {
        eps.push(add_endpoint(&*store, &ws, t(i)).await);
    }
    let refs: Vec<_> = eps.iter().collect();
    let (ev, ids) = publish(&*store, &ws, t(SEC), &refs).await;

    let (_, summaries) = store.get_event(&ws, &ev.id).await.unwrap().unwrap();
    assert_eq!(summaries.len(), 4);
    assert!(summaries
        .iter()
        .all(|s| s.status == DeliveryStatus::Pending));
    let (d, attempts) = get_delivery(&*store, &ws, &ids[2]).await;
    assert_eq!((d.endpoint_id, attempts.len()), (eps[2].id.clone(), 0));
    let page = store
        .list_deliveries(
            &ws,
            &hookrelay_store::DeliveryFilter::default(),
            &hookrelay_store::PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);

    let db = rusqlite::Connection::open(&path).unwrap();
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM fanouts"),
        1,
        "the fan-out row is still there"
    );
    assert_eq!(
        count("SELECT count(*) FROM deliveries"),
        0,
        "no row was written"
    );
    store.close().await;
}
