//! Events as the engine holds them: shared by every delivery of the event,
//! with each version's rendered body computed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookrelay_core::catalog::{Catalog, Envelope, VersionRule};
use hookrelay_core::model::{Delivery, Event, PayloadFormat, PayloadOptions};
use hookrelay_core::render::{render_body, render_payload, EventView};
use hookrelay_core::signed_url::{signed_url_payload, SignedUrls};
use hookrelay_core::time::Timestamp;
use hookrelay_store::DueDelivery;

/// An event plus its rendered bodies, one per API version seen so far.
#[derive(Debug)]
pub struct EventEntry {
    pub event: Arc<Event>,
    rendered: Mutex<Vec<(String, Bytes)>>,
}

impl EventEntry {
    pub fn new(event: Arc<Event>) -> Self {
        Self {
            event,
            rendered: Mutex::new(Vec::new()),
        }
    }

    /// The body for an endpoint on `version`, rendered on first use.
    pub fn body(&self, catalog: &Catalog, version: &str) -> Bytes {
        if let Some((_, b)) = self
            .rendered
            .lock()
            .expect("render cache")
            .iter()
            .find(|(v, _)| v == version)
        {
            return b.clone();
        }
        let body = Bytes::from(render_for(catalog, &self.event, version));
        self.rendered
            .lock()
            .expect("render cache")
            .push((version.to_owned(), body.clone()));
        body
    }
}

/// Renders `event` for `version`. An event the version does not know (only
/// possible after a catalog change) goes out under its canonical name.
pub fn render_for(catalog: &Catalog, event: &Event, version: &str) -> Vec<u8> {
    render_with(catalog, event, version, |p| p.to_owned())
}

/// The payload alone, rendered for `version` (what a signed URL serves).
pub fn render_payload_for(catalog: &Catalog, event: &Event, version: &str) -> String {
    let default_rule = VersionRule::default();
    let rule = catalog
        .rule(&event.event_type, version)
        .unwrap_or(&default_rule);
    render_payload(&event.payload, rule)
}

fn render_with(
    catalog: &Catalog,
    event: &Event,
    version: &str,
    payload_of: impl FnOnce(&str) -> String,
) -> Vec<u8> {
    let default_rule = VersionRule::default();
    let rule = catalog
        .rule(&event.event_type, version)
        .unwrap_or(&default_rule);
    let name = rule.name.as_deref().unwrap_or(&event.event_type);
    let envelope = catalog
        .version(version)
        .map_or(Envelope::Extend, |v| v.envelope);
    let payload = payload_of(&render_payload(&event.payload, rule));
    let view = EventView {
        id: event.id.as_str(),
        created_at: event.created_at,
        payload: &event.payload,
        previous_data: event.previous_data.as_deref(),
    };
    render_body(envelope, view, name, &payload)
}

/// The body for one attempt (or history view): inline, or — for endpoints
/// with payload format `url` whose inline body is larger than the threshold
/// (or always, without one) — with the payload replaced by a freshly minted
/// signed URL.
pub fn delivery_body(
    catalog: &Catalog,
    event: &Event,
    version: &str,
    options: Option<&PayloadOptions>,
    urls: Option<&SignedUrls>,
    inline: impl FnOnce() -> Bytes,
    now: Timestamp,
) -> Bytes {
    let (Some(opts), Some(urls)) = (options, urls) else {
        return inline();
    };
    if opts.format != PayloadFormat::Url {
        return inline();
    }
    if let Some(threshold) = opts.url_threshold_bytes {
        let body = inline();
        if body.len() as u64 <= threshold {
            return body;
        }
    }
    let url = urls.url_for(event.workspace_id.as_str(), event.id.as_str(), version, now);
    Bytes::from(render_with(catalog, event, version, |p| {
        signed_url_payload(p, &url)
    }))
}

/// A delivery the engine will attempt.
#[derive(Debug)]
pub struct Job {
    pub delivery: Delivery,
    pub entry: Arc<EventEntry>,
    pub manual: bool,
}

/// Wraps due deliveries, sharing one entry per event.
pub fn entries(due: Vec<DueDelivery>) -> Vec<Job> {
    let mut by_event: HashMap<*const Event, Arc<EventEntry>> = HashMap::new();
    due.into_iter()
        .map(|d| {
            let entry = by_event
                .entry(Arc::as_ptr(&d.event))
                .or_insert_with(|| Arc::new(EventEntry::new(d.event.clone())))
                .clone();
            Job {
                delivery: d.delivery,
                entry,
                manual: d.manual,
            }
        })
        .collect()
}
