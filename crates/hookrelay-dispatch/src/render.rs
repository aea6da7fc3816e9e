//! Events as the engine holds them: shared by every delivery of the event,
//! with each version's rendered body computed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hookrelay_core::catalog::{Catalog, Envelope, VersionRule};
use hookrelay_core::model::{Delivery, Event};
use hookrelay_core::render::{render_body, render_payload, EventView};
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
    let default_rule = VersionRule::default();
    let rule = catalog
        .rule(&event.event_type, version)
        .unwrap_or(&default_rule);
    let name = rule.name.as_deref().unwrap_or(&event.event_type);
    let envelope = catalog
        .version(version)
        .map_or(Envelope::Extend, |v| v.envelope);
    let payload = render_payload(&event.payload, rule);
    let view = EventView {
        id: event.id.as_str(),
        created_at: event.created_at,
        payload: &event.payload,
        previous_data: event.previous_data.as_deref(),
    };
    render_body(envelope, view, name, &payload)
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
