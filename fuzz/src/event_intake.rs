//! Event intake: what `POST /events` and `POST /events/batch` do with a body
//! before anything is stored (`hookrelay_api::fuzzing`, the same functions
//! the routes call).
//!
//! The first byte picks the route (and the second, for a single event, an
//! optional `Idempotency-Key` header); the rest is the body. Checked:
//!
//! - nothing panics;
//! - every refusal is a client error (4xx), never a 500;
//! - what is accepted is what the routes promise to store: a catalog event
//!   type, a JSON object payload (and previousData) within the size limit,
//!   an idempotency key of 1 to 255 bytes;
//! - a body accepted by `POST /events` is accepted the same as the single
//!   item of a batch (when the batch as a whole is).

use std::sync::OnceLock;

use hookrelay_api::error::ApiError;
use hookrelay_api::fuzzing::{check_batch, check_event};
use hookrelay_api::ApiConfig;
use hookrelay_core::catalog::Catalog;
use hookrelay_core::validate;
use hookrelay_dispatch::Draft;

use super::input::Input;

struct Setup {
    catalog: Catalog,
    config: ApiConfig,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        catalog: Catalog::builtin(),
        // Small limits, so that inputs of a fuzzer's size reach them.
        config: ApiConfig {
            max_event_bytes: 600,
            max_batch_events: 4,
            ..ApiConfig::default()
        },
    })
}

/// The parts of a draft that matter here (`Draft` itself is the
/// dispatcher's type).
#[derive(Debug, PartialEq)]
struct Accepted {
    event_type: String,
    payload: String,
    resource: Option<(String, String)>,
    previous_data: Option<String>,
    idempotency_key: Option<String>,
}

fn is_json_object(s: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| v.is_object())
}

fn checked(d: Draft, s: &Setup) -> Accepted {
    let a = Accepted {
        event_type: d.event_type.as_str().to_owned(),
        payload: d.payload,
        resource: d.resource.map(|r| (r.kind, r.id)),
        previous_data: d.previous_data,
        idempotency_key: d.idempotency_key,
    };
    assert!(
        s.catalog.event(&a.event_type).is_some(),
        "accepted an event type outside the catalog: {:?}",
        a.event_type
    );
    assert!(
        is_json_object(&a.payload),
        "accepted a payload that is not a JSON object serde_json::Value can hold: {:?}",
        a.payload
    );
    if let Some(p) = &a.previous_data {
        assert!(
            is_json_object(p),
            "accepted a previousData that is not a JSON object serde_json::Value can hold: {p:?}"
        );
    }
    let size = a.payload.len() + a.previous_data.as_ref().map_or(0, String::len);
    assert!(
        size <= s.config.max_event_bytes,
        "accepted an event of {size} bytes"
    );
    if let Some((kind, id)) = &a.resource {
        assert!(!kind.is_empty() && kind.chars().count() <= validate::MAX_RESOURCE_TYPE_LEN);
        assert!(!id.is_empty() && id.chars().count() <= validate::MAX_RESOURCE_ID_LEN);
    }
    if let Some(k) = &a.idempotency_key {
        assert!(!k.is_empty() && k.len() <= validate::MAX_IDEMPOTENCY_KEY_LEN);
    }
    a
}

fn client_error(e: &ApiError) {
    assert!(
        e.status.is_client_error(),
        "{} {}: {}",
        e.status,
        e.code,
        e.message
    );
}

pub fn run(data: &[u8]) {
    let s = setup();
    let mut input = Input::new(data);
    let mode = input.byte();
    if mode & 1 == 0 {
        let key = if mode & 2 == 0 {
            None
        } else {
            Some(input.string(300))
        };
        let body = input.rest();
        match check_event(&s.catalog, &s.config, body, key.as_deref()) {
            Ok(d) => {
                let single = checked(d, s);
                if key.is_none() {
                    same_as_batch_item(s, body, &single);
                }
            }
            Err(e) => client_error(&e),
        }
    } else {
        let body = input.rest();
        match check_batch(&s.catalog, &s.config, body) {
            Ok(items) => {
                assert!(!items.is_empty() && items.len() <= s.config.max_batch_events);
                for item in items {
                    match item {
                        Ok(d) => {
                            checked(d, s);
                        }
                        Err(e) => client_error(&e),
                    }
                }
            }
            Err(e) => client_error(&e),
        }
    }
}

fn same_as_batch_item(s: &Setup, body: &[u8], single: &Accepted) {
    let mut batch = b"{\"events\":[".to_vec();
    batch.extend_from_slice(body);
    batch.extend_from_slice(b"]}");
    // The batch can still be refused as a whole: two more levels of nesting.
    let Ok(mut items) = check_batch(&s.catalog, &s.config, &batch) else {
        return;
    };
    assert_eq!(
        items.len(),
        1,
        "the body of one event read as several batch items: trailing data was ignored"
    );
    match items.pop().expect("one") {
        Ok(d) => assert_eq!(&checked(d, s), single, "batch item differs from the event"),
        Err(e) => panic!(
            "accepted by POST /events, refused as a batch item: {} {}",
            e.code, e.message
        ),
    }
}
