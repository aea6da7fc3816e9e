//! Rendering an event for one endpoint: the body bytes that get signed and sent.
//!
//! The extend envelope is assembled around the producer's payload text, so an
//! unchanged payload reaches the receiver byte for byte; only versions whose
//! catalog rule sets fields re-serialize it.

use serde_json::{Map, Value};

use crate::catalog::{Envelope, VersionRule};
use crate::time::Timestamp;

/// What a renderer needs to know about an event.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    pub id: &'a str,
    pub created_at: Timestamp,
    pub payload: &'a str,
    pub previous_data: Option<&'a str>,
}

/// The payload text after applying a version's `set` rules.
pub fn render_payload(payload: &str, rule: &VersionRule) -> String {
    match &rule.set {
        None => payload.to_owned(),
        Some(set) if set.is_empty() => payload.to_owned(),
        Some(set) => {
            let mut obj: Map<String, Value> = match serde_json::from_str(payload) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for (k, v) in set {
                obj.insert(k.clone(), v.clone());
            }
            Value::Object(obj).to_string()
        }
    }
}

/// The delivery body for `envelope`, given the already rendered payload text
/// and the rendered event type.
pub fn render_body(
    envelope: Envelope,
    event: EventView<'_>,
    rendered_type: &str,
    rendered_payload: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(rendered_payload.len() + rendered_type.len() + 96);
    match envelope {
        Envelope::Extend => {
            out.extend_from_slice(b"{\"eventId\":");
            push_json_str(&mut out, event.id);
            out.extend_from_slice(b",\"eventType\":");
            push_json_str(&mut out, rendered_type);
            out.extend_from_slice(b",\"payload\":");
            out.extend_from_slice(rendered_payload.as_bytes());
            out.push(b'}');
        }
        Envelope::V1 => {
            out.extend_from_slice(b"{\"id\":");
            push_json_str(&mut out, event.id);
            out.extend_from_slice(b",\"type\":");
            push_json_str(&mut out, rendered_type);
            out.extend_from_slice(b",\"created_at\":");
            push_json_str(&mut out, &event.created_at.to_rfc3339());
            out.extend_from_slice(b",\"data\":{\"object\":");
            out.extend_from_slice(rendered_payload.as_bytes());
            out.extend_from_slice(b"},\"previous_data\":");
            out.extend_from_slice(event.previous_data.unwrap_or("null").as_bytes());
            out.push(b'}');
        }
    }
    out
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping, written straight into the buffer.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(payload: &'a str) -> EventView<'a> {
        EventView {
            id: "evt_1",
            created_at: Timestamp(0),
            payload,
            previous_data: None,
        }
    }

    #[test]
    fn extend_body_keeps_payload_bytes() {
        let p = r#"{"id":"x",  "n":1}"#;
        let body = render_body(Envelope::Extend, view(p), "extract_run.processed", p);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"eventId":"evt_1","eventType":"extract_run.processed","payload":{"id":"x",  "n":1}}"#
        );
    }

    #[test]
    fn set_rules_rewrite_fields() {
        let rule: VersionRule =
            serde_json::from_str(r#"{"name":"processor_run.processed","set":{"object":"processor_run","type":"EXTRACT"}}"#)
                .unwrap();
        let out = render_payload(r#"{"object":"extract_run","id":"r1"}"#, &rule);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["object"], "processor_run");
        assert_eq!(v["type"], "EXTRACT");
        assert_eq!(v["id"], "r1");
    }

    #[test]
    fn v1_envelope_carries_previous_data() {
        let mut ev = view(r#"{"id":"u1"}"#);
        ev.previous_data = Some(r#"{"name":"old"}"#);
        let body = render_body(Envelope::V1, ev, "user.updated", ev.payload);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], "user.updated");
        assert_eq!(v["data"]["object"]["id"], "u1");
        assert_eq!(v["previous_data"]["name"], "old");
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn type_names_are_escaped() {
        let body = render_body(Envelope::Extend, view("{}"), "a\"b", "{}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["eventType"], "a\"b");
    }
}
