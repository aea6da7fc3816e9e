//! Fan-out: which endpoints an event goes to.
//!
//! An event reaches every enabled endpoint whose global `enabledEvents` select
//! its type, plus every endpoint with a subscription on the event's resource
//! that selects it — once per endpoint even when both match. The table is
//! built from canonical event types (see [`crate::catalog`]), so legacy names
//! were already resolved when it was built.

use std::collections::{BTreeSet, HashMap};

use crate::model::ResourceRef;

/// Subscriptions keyed by (resource type, resource id): target index and the
/// canonical event types it selects.
type Scoped = HashMap<(String, String), Vec<(usize, BTreeSet<String>)>>;

/// A precomputed routing table over targets of type `T` (the caller's endpoint handle).
#[derive(Debug)]
pub struct RoutingTable<T> {
    targets: Vec<T>,
    global: HashMap<String, Vec<usize>>,
    scoped: Scoped,
}

impl<T> Default for RoutingTable<T> {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            global: HashMap::new(),
            scoped: HashMap::new(),
        }
    }
}

impl<T> RoutingTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an enabled endpoint with the canonical event types it takes
    /// globally; returns its index for [`Self::add_subscription`].
    pub fn add_endpoint(&mut self, target: T, global_events: &BTreeSet<String>) -> usize {
        let idx = self.targets.len();
        self.targets.push(target);
        for ev in global_events {
            self.global.entry(ev.clone()).or_default().push(idx);
        }
        idx
    }

    /// Adds a resource-scoped subscription of the endpoint at `idx`.
    pub fn add_subscription(
        &mut self,
        idx: usize,
        resource_type: &str,
        resource_id: &str,
        events: BTreeSet<String>,
    ) {
        self.scoped
            .entry((resource_type.to_owned(), resource_id.to_owned()))
            .or_default()
            .push((idx, events));
    }

    pub fn targets(&self) -> &[T] {
        &self.targets
    }

    /// The targets for an event, each at most once, in the order they were added.
    pub fn route(&self, event_type: &str, resource: Option<&ResourceRef>) -> Vec<&T> {
        let mut idx: Vec<usize> = self.global.get(event_type).cloned().unwrap_or_default();
        if let Some(r) = resource {
            if let Some(subs) = self.scoped.get(&(r.kind.clone(), r.id.clone())) {
                idx.extend(
                    subs.iter()
                        .filter(|(_, evs)| evs.contains(event_type))
                        .map(|(i, _)| *i),
                );
            }
        }
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| &self.targets[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn res(kind: &str, id: &str) -> ResourceRef {
        ResourceRef {
            kind: kind.into(),
            id: id.into(),
        }
    }

    #[test]
    fn global_and_scoped_match_once_per_endpoint() {
        let mut t = RoutingTable::new();
        let a = t.add_endpoint("a", &set(&["extract_run.processed"]));
        let b = t.add_endpoint("b", &set(&[]));
        t.add_subscription(a, "extractor", "ex_1", set(&["extract_run.processed"]));
        t.add_subscription(b, "extractor", "ex_1", set(&["extract_run.processed"]));
        let r = res("extractor", "ex_1");
        assert_eq!(t.route("extract_run.processed", Some(&r)), vec![&"a", &"b"]);
        assert_eq!(t.route("extract_run.processed", None), vec![&"a"]);
        let other = res("extractor", "ex_2");
        assert_eq!(t.route("extract_run.processed", Some(&other)), vec![&"a"]);
        assert!(t.route("extract_run.failed", Some(&r)).is_empty());
    }

    #[test]
    fn subscriptions_match_type_and_id_and_event() {
        let mut t = RoutingTable::new();
        let a = t.add_endpoint("a", &set(&[]));
        t.add_subscription(a, "workflow", "wf_1", set(&["workflow_run.completed"]));
        assert_eq!(
            t.route("workflow_run.completed", Some(&res("workflow", "wf_1"))),
            vec![&"a"]
        );
        assert!(t
            .route("workflow_run.completed", Some(&res("extractor", "wf_1")))
            .is_empty());
        assert!(t
            .route("workflow_run.failed", Some(&res("workflow", "wf_1")))
            .is_empty());
    }
}
