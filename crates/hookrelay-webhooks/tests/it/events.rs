//! Parsing the two envelopes: inline and signed-URL payloads, typed and
//! unknown event types, the catalog's names, wire round trips and errors.

use std::collections::BTreeSet;

use hookrelay_webhooks::{
    is_signed_url_event, parse, parse_v1, Event, EventType, Payload, WebhookError,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const SIGNED_URL: &str = "https://hooks.example.com/payloads/tok_AbCdEf0123456789";

fn body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

// --- extend envelope -------------------------------------------------------

#[test]
fn parse_inline_payload() {
    let payload = json!({"object": "extract_run", "id": "exr_1", "metadata": {"env": "prod"}});
    let event = parse(&body(json!({
        "eventId": "evt_1",
        "eventType": "extract_run.processed",
        "payload": payload,
    })))
    .unwrap();
    assert_eq!(event.event_id, "evt_1");
    assert_eq!(event.event_type, EventType::ExtractRunProcessed);
    assert_eq!(event.payload, Payload::Inline(payload));
    assert_eq!(event.payload.id(), Some("exr_1"));
    assert_eq!(event.payload.metadata(), Some(&json!({"env": "prod"})));
    assert!(!is_signed_url_event(&event));
}

#[test]
fn parse_signed_url_payload() {
    let event = parse(&body(json!({
        "eventId": "evt_2",
        "eventType": "workflow_run.completed",
        "payload": {
            "object": "signed_data_url",
            "data": SIGNED_URL,
            "id": "wr_1",
            "metadata": {"env": "prod"},
        },
    })))
    .unwrap();
    assert!(is_signed_url_event(&event));
    assert!(event.is_signed_url());
    let Payload::SignedUrl { url, id, metadata } = &event.payload else {
        panic!("not a signed URL: {:?}", event.payload);
    };
    assert_eq!(url.as_str(), SIGNED_URL);
    assert_eq!(id.as_deref(), Some("wr_1"));
    assert_eq!(metadata, &Some(json!({"env": "prod"})));
    assert_eq!(event.payload.id(), Some("wr_1"));
    assert_eq!(event.payload.as_inline(), None);
}

#[test]
fn signed_url_payload_with_null_id_and_metadata() {
    // What hookrelay sends when the rendered payload had no `id`/`metadata`.
    let event = parse(&body(json!({
        "eventId": "evt_3",
        "eventType": "parse_run.processed",
        "payload": {"object": "signed_data_url", "data": SIGNED_URL, "id": null, "metadata": null},
    })))
    .unwrap();
    assert_eq!(
        event.payload,
        Payload::SignedUrl {
            url: SIGNED_URL.to_string().into(),
            id: None,
            metadata: None,
        }
    );
}

#[test]
fn signed_url_marker_needs_a_string_data_field() {
    for payload in [
        json!({"object": "signed_data_url"}),
        json!({"object": "signed_data_url", "data": {"url": SIGNED_URL}}),
        json!({"object": "signed_data_urls", "data": SIGNED_URL}),
        json!([{"object": "signed_data_url", "data": SIGNED_URL}]),
        json!("signed_data_url"),
    ] {
        let event = parse(&body(
            json!({"eventId": "e", "eventType": "t", "payload": payload}),
        ))
        .unwrap();
        assert_eq!(event.payload, Payload::Inline(payload.clone()), "{payload}");
    }
}

#[test]
fn parse_unknown_event_type_round_trips() {
    let wire = r#"{"eventId":"evt_4","eventType":"invoice.paid","payload":{"amount":5}}"#;
    let event = parse(wire.as_bytes()).unwrap();
    assert_eq!(
        event.event_type,
        EventType::Unknown("invoice.paid".to_string())
    );
    assert!(!event.event_type.is_known());
    assert_eq!(event.event_type, "invoice.paid");
    assert_eq!(serde_json::to_string(&event).unwrap(), wire);
}

#[test]
fn event_serializes_back_to_the_wire_shape() {
    let wire = json!({
        "eventId": "evt_5",
        "eventType": "split_run.failed",
        "payload": {"object": "signed_data_url", "data": SIGNED_URL, "id": "spr_1", "metadata": {"k": 1}},
    });
    let event: Event = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(serde_json::to_value(&event).unwrap(), wire);
}

#[test]
fn legacy_names_are_their_own_variants() {
    for (name, expected) in [
        ("processor_run.processed", EventType::ProcessorRunProcessed),
        ("processor_run.failed", EventType::ProcessorRunFailed),
        ("parser_run.processed", EventType::ParserRunProcessed),
        ("parser_run.failed", EventType::ParserRunFailed),
    ] {
        let event = parse(&body(json!({
            "eventId": "e",
            "eventType": name,
            "payload": {"object": "processor_run", "type": "EXTRACT"},
        })))
        .unwrap();
        assert_eq!(event.event_type, expected);
    }
}

#[test]
fn not_json_and_wrong_shape_are_different_errors() {
    for not_json in [
        &b""[..],
        b"not json",
        b"{\"eventId\":",
        &[0xff, 0xfe, 0x00],
        b"{\"eventId\":\"\xff\",\"eventType\":\"t\",\"payload\":{}}",
    ] {
        assert!(
            matches!(parse(not_json), Err(WebhookError::NotJson(_))),
            "{not_json:?}"
        );
    }
    for wrong_shape in [
        json!([]),
        json!({}),
        json!({"eventId": "e", "eventType": "t"}),
        json!({"eventId": 1, "eventType": "t", "payload": {}}),
        json!({"eventId": "e", "eventType": null, "payload": {}}),
        json!({"id": "evt_1", "type": "user.created", "created_at": "x", "data": {"object": {}}}),
    ] {
        let err = parse(&body(wrong_shape.clone())).unwrap_err();
        assert!(
            matches!(
                err,
                WebhookError::BadShape {
                    expected: "an extend event envelope",
                    ..
                }
            ),
            "{wrong_shape}: {err:?}"
        );
    }
}

#[test]
fn unknown_top_level_fields_are_ignored() {
    let event = parse(&body(json!({
        "eventId": "e", "eventType": "t", "payload": null, "apiVersion": "2026-02-09",
    })))
    .unwrap();
    assert_eq!(event.payload, Payload::Inline(Value::Null));
}

#[test]
fn debug_of_a_signed_url_event_hides_the_token() {
    let event = parse(&body(json!({
        "eventId": "e",
        "eventType": "t",
        "payload": {"object": "signed_data_url", "data": SIGNED_URL},
    })))
    .unwrap();
    let debug = format!("{event:?}");
    assert!(!debug.contains("tok_AbCdEf"), "{debug}");
    assert!(
        debug.contains("https://hooks.example.com/<redacted>"),
        "{debug}"
    );
    let alternate = format!("{event:#?}");
    assert!(!alternate.contains("tok_AbCdEf"), "{alternate}");
}

// --- v1 envelope -------------------------------------------------------------

#[test]
fn parse_v1_event_with_previous_data() {
    let event = parse_v1(&body(json!({
        "id": "evt_6",
        "type": "user.updated",
        "created_at": "2026-02-09T14:01:58.120Z",
        "data": {"object": {"id": "usr_1", "name": "new"}},
        "previous_data": {"name": "old"},
    })))
    .unwrap();
    assert_eq!(event.id, "evt_6");
    assert_eq!(event.event_type, EventType::UserUpdated);
    assert_eq!(event.created_at, "2026-02-09T14:01:58.120Z");
    assert_eq!(event.data.object, json!({"id": "usr_1", "name": "new"}));
    assert_eq!(event.previous_data, Some(json!({"name": "old"})));
}

#[test]
fn parse_v1_event_round_trips_with_null_previous_data() {
    // Byte for byte what hookrelay-core renders for a v1 endpoint.
    let wire = r#"{"id":"evt_7","type":"payment.succeeded","created_at":"1970-01-01T00:00:00.000Z","data":{"object":{"amount":100}},"previous_data":null}"#;
    let event = parse_v1(wire.as_bytes()).unwrap();
    assert_eq!(event.event_type, EventType::PaymentSucceeded);
    assert_eq!(event.previous_data, None);
    assert_eq!(serde_json::to_string(&event).unwrap(), wire);
}

#[test]
fn parse_v1_rejects_extend_envelopes_and_junk() {
    assert!(matches!(
        parse_v1(br#"{"eventId":"e","eventType":"t","payload":{}}"#),
        Err(WebhookError::BadShape {
            expected: "a v1 event envelope",
            ..
        })
    ));
    assert!(matches!(
        parse_v1(br#"{"id":"e","type":"t","created_at":"x"}"#),
        Err(WebhookError::BadShape { .. })
    ));
    assert!(matches!(parse_v1(b"<xml/>"), Err(WebhookError::NotJson(_))));
}

// --- the catalog --------------------------------------------------------------

/// Every name the built-in catalog can put on the wire: canonical names and
/// every version's rename.
fn catalog_names() -> BTreeSet<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hookrelay-core/catalog/catalog.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the catalog at {path}: {e}"));
    let catalog: Value = serde_json::from_str(&text).unwrap();
    let mut names = BTreeSet::new();
    for event in catalog["events"].as_array().unwrap() {
        names.insert(event["type"].as_str().unwrap().to_owned());
        for rule in event["versions"].as_object().unwrap().values() {
            if let Some(name) = rule.get("name").and_then(Value::as_str) {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_catalog_event_type_is_known() {
    let catalog = catalog_names();
    assert!(catalog.len() > 40, "{catalog:?}");
    let known: BTreeSet<String> = EventType::KNOWN
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let missing: Vec<_> = catalog.difference(&known).collect();
    let extra: Vec<_> = known.difference(&catalog).collect();
    assert!(
        missing.is_empty(),
        "catalog names without a variant: {missing:?}"
    );
    assert!(extra.is_empty(), "variants not in the catalog: {extra:?}");
    assert_eq!(known.len(), EventType::KNOWN.len(), "duplicate names");
}

#[test]
fn known_event_types_round_trip_through_serde() {
    for t in EventType::KNOWN {
        assert!(t.is_known());
        let json = serde_json::to_string(t).unwrap();
        assert_eq!(json, format!("\"{}\"", t.as_str()));
        let back: EventType = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, t);
        assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        assert_eq!(t.to_string(), t.as_str());
    }
}

proptest! {
    #[test]
    fn any_event_type_name_round_trips(name in "\\PC{0,40}") {
        let t = EventType::from(name.clone());
        prop_assert_eq!(t.as_str(), name.as_str());
        prop_assert_eq!(&EventType::parse(&name), &t);
        let back: EventType = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        prop_assert_eq!(back, t);
    }

    #[test]
    fn events_round_trip_through_the_wire_form(
        id in "\\PC{0,20}",
        name in prop::sample::select(vec!["parse_run.processed", "workflow_run.failed", "x.y"]),
        signed in any::<bool>(),
        key in "[a-z]{1,8}",
        value in any::<i64>(),
    ) {
        let payload = if signed {
            json!({"object": "signed_data_url", "data": format!("https://h/{key}"), "id": key, "metadata": {key.clone(): value}})
        } else {
            json!({"object": "thing", key.clone(): value})
        };
        let wire = json!({"eventId": id, "eventType": name, "payload": payload});
        let event = parse(&body(wire.clone())).unwrap();
        prop_assert_eq!(event.is_signed_url(), signed);
        prop_assert_eq!(serde_json::to_value(&event).unwrap(), wire);
    }
}
