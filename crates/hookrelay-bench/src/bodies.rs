//! What the load generator sends: the 256-byte event payload carrying its
//! send time, the publish bodies (single and batch, spread round-robin over
//! the nodes), the delivered body the raw limit posts straight to the
//! receiver, and the marker events that check a node's routing.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Uri;

use crate::loadgen::MakeRequest;
use crate::scenario::Ingest;
use crate::unix_nanos;

/// The event type every scenario publishes (enabled on every endpoint).
pub const EVENT_TYPE: &str = "extract_run.processed";
/// Size of the `payload` object of every event, as serialized.
pub const PAYLOAD_BYTES: usize = 256;

/// The key that marks a marker event's payload. Marker payloads carry no
/// `sentAtNanos`; the receiver answers them and records nothing.
pub const MARKER_KEY: &str = "\"hookrelayBenchMarker\"";

/// A marker event, published through node `node` to check that it routes to
/// the endpoints (multi-node runs only; never counted).
pub fn marker_body(node: usize) -> String {
    format!(
        "{{\"eventType\":\"{EVENT_TYPE}\",\"payload\":{{\"object\":\"extract_run\",\"id\":\"bench_marker_node{node}\",{MARKER_KEY}:true}}}}"
    )
}

/// The event's payload: exactly [`PAYLOAD_BYTES`] bytes of JSON carrying the
/// send time.
pub fn payload(seq: usize, sent: u64) -> String {
    let mut s = format!(
        "{{\"object\":\"extract_run\",\"id\":\"run_{seq:010}\",\"sentAtNanos\":{sent},\"pad\":\""
    );
    let pad = PAYLOAD_BYTES.saturating_sub(s.len() + 2);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str("\"}");
    s
}

pub fn publish_body(seq: usize, sent: u64) -> String {
    format!(
        "{{\"eventType\":\"{EVENT_TYPE}\",\"payload\":{}}}",
        payload(seq, sent)
    )
}

/// What hookrelay delivers for an event, as the raw limit sends it.
pub fn delivered_body(id: &str, seq: usize, sent: u64) -> String {
    format!(
        "{{\"eventId\":\"{id}\",\"eventType\":\"{EVENT_TYPE}\",\"payload\":{}}}",
        payload(seq, sent)
    )
}

/// A raw-limit event id, as long as hookrelay's (`evt_` + a ULID).
pub fn raw_id(seq: usize) -> String {
    format!("evt_raw{seq:023}")
}

pub fn requests_for(ingest: Ingest, events: usize) -> usize {
    match ingest {
        Ingest::Batch { size, .. } => events.div_ceil(size),
        _ => events,
    }
}

/// The publish requests; request `i` goes to node `i % bases.len()`
/// (round-robin over the nodes' base URLs).
pub fn publish_maker(
    bases: &[String],
    ingest: Ingest,
    events: usize,
) -> anyhow::Result<MakeRequest> {
    anyhow::ensure!(!bases.is_empty(), "no server to publish to");
    let path = match ingest {
        Ingest::Batch { .. } => "/events/batch",
        _ => "/events",
    };
    let uris = bases
        .iter()
        .map(|b| format!("{b}{path}").parse::<Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match ingest {
        Ingest::Batch { size, .. } => Arc::new(move |i| {
            let sent = unix_nanos();
            let items: Vec<String> = (i * size..((i + 1) * size).min(events))
                .map(|seq| publish_body(seq, sent))
                .collect();
            let body = format!("{{\"events\":[{}]}}", items.join(","));
            (uris[i % uris.len()].clone(), Bytes::from(body))
        }),
        _ => Arc::new(move |i| {
            (
                uris[i % uris.len()].clone(),
                Bytes::from(publish_body(i, unix_nanos())),
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_256_bytes_and_carry_the_send_time() {
        let p = payload(7, 1_754_000_000_123_456_789);
        assert_eq!(p.len(), PAYLOAD_BYTES);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["sentAtNanos"], 1_754_000_000_123_456_789u64);
        let b: serde_json::Value = serde_json::from_str(&publish_body(7, 1)).unwrap();
        assert_eq!(b["eventType"], EVENT_TYPE);
        let d: serde_json::Value = serde_json::from_str(&delivered_body(&raw_id(7), 7, 1)).unwrap();
        assert_eq!(
            d["eventId"].as_str().unwrap().len(),
            "evt_01M8169GBZM1HSBX65W6GEW2NA".len()
        );
        let m: serde_json::Value = serde_json::from_str(&marker_body(1)).unwrap();
        assert_eq!(m["eventType"], EVENT_TYPE);
        assert_eq!(m["payload"]["hookrelayBenchMarker"], true);
        assert!(m["payload"].get("sentAtNanos").is_none());
    }

    #[test]
    fn publishes_go_round_robin_over_the_nodes() {
        let bases = vec![
            "http://127.0.0.1:1".to_owned(),
            "http://127.0.0.1:2".to_owned(),
        ];
        let make = publish_maker(&bases, Ingest::Single { concurrency: 1 }, 10).unwrap();
        let ports: Vec<u16> = (0..4).map(|i| make(i).0.port_u16().unwrap()).collect();
        assert_eq!(ports, [1, 2, 1, 2]);
        let make = publish_maker(
            &bases,
            Ingest::Batch {
                size: 3,
                concurrency: 1,
            },
            10,
        )
        .unwrap();
        let (uri, body) = make(3);
        assert_eq!((uri.port_u16(), uri.path()), (Some(2), "/events/batch"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["events"].as_array().unwrap().len(), 1);
    }
}
