//! Errors: the same refusal reads the same on every backend, with its kind,
//! and without the driver's words.

use std::sync::Arc;

use hookrelay_core::model::Event;
use hookrelay_store::{ErrorKind, Store, StoreError};

use crate::support::*;

/// Words that only a database driver would put in a message.
const DRIVER_WORDS: &[&str] = &[
    "UNIQUE",
    "constraint",
    "SQL",
    "sqlite",
    "postgres",
    "23505",
    "ERROR",
    "duplicate key value",
    "violates",
    ".id",
];

fn assert_neutral(err: &StoreError, kind: ErrorKind, message: &str) {
    assert_eq!(err.kind(), kind, "got {err:?}");
    assert_eq!(err.to_string(), message, "got {err:?}");
    assert!(!err.is_retryable(), "a conflict is not worth retrying");
    for word in DRIVER_WORDS {
        assert!(!err.to_string().contains(word), "{word:?} in {err}");
    }
    assert!(
        std::error::Error::source(err).is_some(),
        "the driver's error is kept as the source: {err:?}"
    );
}

pub async fn duplicate_ids_read_the_same_on_every_backend(store: Arc<dyn Store>) {
    let ws_record = workspace_record("acme", t(0));
    store.create_workspace(&ws_record).await.unwrap();
    let err = store.create_workspace(&ws_record).await.unwrap_err();
    assert_neutral(
        &err,
        ErrorKind::Conflict,
        "a workspace with this id already exists",
    );

    let ws = ws_record.id.clone();
    let e = add_endpoint(&*store, &ws, t(0)).await;
    let err = store.insert_endpoint(&e, None).await.unwrap_err();
    assert_neutral(
        &err,
        ErrorKind::Conflict,
        "an endpoint with this id already exists",
    );

    let (existing, _) = publish(&*store, &ws, t(0), &[&e]).await;
    let again = Event {
        payload: r#"{"again":true}"#.into(),
        ..existing
    };
    let out = store
        .publish(vec![new_event(again, &[&e])], None)
        .await
        .unwrap();
    let err = out.into_iter().next().unwrap().unwrap_err();
    assert_neutral(
        &err,
        ErrorKind::Conflict,
        "an event with this id already exists",
    );
}
