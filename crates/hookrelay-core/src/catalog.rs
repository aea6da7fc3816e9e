//! The event catalog: which event types exist in which API version, what they
//! are called there, how their payload is rewritten, which resource types
//! their subscriptions may name, and an example payload for each.
//!
//! The catalog is data (`catalog/catalog.json`, compiled in; an operator may
//! load another file). Producers always publish under the canonical (current)
//! name; everything version-specific is looked up here.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::ResourceType;

/// The catalog shipped with hookrelay.
pub const BUILTIN_JSON: &str = include_str!("../catalog/catalog.json");

/// Which body layout a version's deliveries use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Envelope {
    /// `{"eventId", "eventType", "payload"}`
    Extend,
    /// `{"id", "type", "created_at", "data": {"object"}, "previous_data"}`
    V1,
}

#[derive(Clone, Debug, Deserialize)]
pub struct VersionInfo {
    pub name: String,
    pub envelope: Envelope,
    #[serde(default)]
    pub description: String,
}

/// How an event is rendered in one version.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VersionRule {
    /// The event's name in that version (absent = the canonical name).
    #[serde(default)]
    pub name: Option<String>,
    /// Top-level payload fields to set.
    #[serde(default)]
    pub set: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDef {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub description: String,
    pub global: bool,
    #[serde(default)]
    pub resource_types: Vec<ResourceType>,
    pub versions: HashMap<String, VersionRule>,
    pub example: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogFile {
    current_version: String,
    versions: Vec<VersionInfo>,
    events: Vec<EventDef>,
}

/// Errors loading a catalog file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("catalog is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalog is inconsistent: {0}")]
    Invalid(String),
}

/// Why a list of event names is not acceptable for an endpoint or subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventNameError {
    #[error("unknown apiVersion {0:?}")]
    UnknownVersion(String),
    #[error("event type {name:?} does not exist in API version {version}")]
    NotInVersion { name: String, version: String },
    #[error("event type {0:?} is resource-scoped; enable it with a webhook subscription")]
    NotGlobal(String),
    #[error("event type {name:?} is not valid for resource type {resource_type}")]
    NotForResource { name: String, resource_type: String },
}

/// A loaded, indexed catalog.
#[derive(Debug)]
pub struct Catalog {
    current_version: String,
    versions: Vec<VersionInfo>,
    events: Vec<EventDef>,
    by_type: HashMap<String, usize>,
    /// version -> rendered name -> indexes of the canonical events it stands for
    names: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> Self {
        Self::from_json(BUILTIN_JSON).expect("the built-in catalog is valid")
    }

    pub fn from_json(json: &str) -> Result<Self, CatalogError> {
        let file: CatalogFile = serde_json::from_str(json)?;
        let mut by_type = HashMap::new();
        let mut names: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        for v in &file.versions {
            names.insert(v.name.clone(), HashMap::new());
        }
        if !names.contains_key(&file.current_version) {
            return Err(CatalogError::Invalid(format!(
                "currentVersion {} is not among the versions",
                file.current_version
            )));
        }
        for (i, ev) in file.events.iter().enumerate() {
            if by_type.insert(ev.event_type.clone(), i).is_some() {
                return Err(CatalogError::Invalid(format!(
                    "event type {} appears twice",
                    ev.event_type
                )));
            }
            if !ev.example.is_object() {
                return Err(CatalogError::Invalid(format!(
                    "example of {} is not an object",
                    ev.event_type
                )));
            }
            for (version, rule) in &ev.versions {
                let Some(map) = names.get_mut(version) else {
                    return Err(CatalogError::Invalid(format!(
                        "{} names unknown version {version}",
                        ev.event_type
                    )));
                };
                let name = rule.name.clone().unwrap_or_else(|| ev.event_type.clone());
                map.entry(name).or_default().push(i);
            }
        }
        Ok(Self {
            current_version: file.current_version,
            versions: file.versions,
            events: file.events,
            by_type,
            names,
        })
    }

    pub fn current_version(&self) -> &str {
        &self.current_version
    }

    pub fn versions(&self) -> &[VersionInfo] {
        &self.versions
    }

    pub fn version(&self, name: &str) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.name == name)
    }

    /// A canonical event type, if it exists.
    pub fn event(&self, event_type: &str) -> Option<&EventDef> {
        self.by_type.get(event_type).map(|&i| &self.events[i])
    }

    pub fn events(&self) -> &[EventDef] {
        &self.events
    }

    /// The canonical events that exist in `version`, in catalog order.
    pub fn events_in(&self, version: &str) -> impl Iterator<Item = &EventDef> {
        let version = version.to_owned();
        self.events
            .iter()
            .filter(move |e| e.versions.contains_key(&version))
    }

    /// How `event_type` is rendered for `version`: `None` if it does not exist there.
    pub fn rule(&self, event_type: &str, version: &str) -> Option<&VersionRule> {
        self.event(event_type)?.versions.get(version)
    }

    /// The name of `event_type` in `version`.
    pub fn rendered_name<'a>(&'a self, event_type: &'a str, version: &str) -> Option<&'a str> {
        let rule = self.rule(event_type, version)?;
        Some(rule.name.as_deref().unwrap_or(event_type))
    }

    fn canonical_for(&self, version: &str, name: &str) -> Result<&[usize], EventNameError> {
        let map = self
            .names
            .get(version)
            .ok_or_else(|| EventNameError::UnknownVersion(version.to_owned()))?;
        map.get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| EventNameError::NotInVersion {
                name: name.to_owned(),
                version: version.to_owned(),
            })
    }

    /// Checks an endpoint's `enabledEvents` (names in its version) and returns
    /// the canonical event types they select. Every name must be global.
    pub fn resolve_endpoint_events(
        &self,
        version: &str,
        names: &[String],
    ) -> Result<BTreeSet<String>, EventNameError> {
        let mut out = BTreeSet::new();
        for name in names {
            let idx = self.canonical_for(version, name)?;
            let global: Vec<_> = idx.iter().filter(|&&i| self.events[i].global).collect();
            if global.is_empty() {
                return Err(EventNameError::NotGlobal(name.clone()));
            }
            out.extend(
                global
                    .into_iter()
                    .map(|&i| self.events[i].event_type.clone()),
            );
        }
        Ok(out)
    }

    /// Checks a subscription's `enabledEvents` (names in the endpoint's
    /// version) for `resource_type` and returns the canonical types selected.
    pub fn resolve_subscription_events(
        &self,
        version: &str,
        resource_type: ResourceType,
        names: &[String],
    ) -> Result<BTreeSet<String>, EventNameError> {
        let mut out = BTreeSet::new();
        for name in names {
            let idx = self.canonical_for(version, name)?;
            let ok: Vec<_> = idx
                .iter()
                .filter(|&&i| self.events[i].resource_types.contains(&resource_type))
                .collect();
            if ok.is_empty() {
                return Err(EventNameError::NotForResource {
                    name: name.clone(),
                    resource_type: resource_type.to_string(),
                });
            }
            out.extend(ok.into_iter().map(|&i| self.events[i].event_type.clone()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_with_both_extend_versions_and_v1() {
        let c = Catalog::builtin();
        assert_eq!(c.current_version(), "2026-02-09");
        assert!(c.version("2025-04-21").is_some());
        assert_eq!(c.version("v1").unwrap().envelope, Envelope::V1);
        for ev in c.events() {
            assert!(
                ev.example.get("id").is_some(),
                "{} example has an id",
                ev.event_type
            );
        }
    }

    #[test]
    fn legacy_names_render_and_resolve() {
        let c = Catalog::builtin();
        assert_eq!(
            c.rendered_name("extract_run.processed", "2025-04-21"),
            Some("processor_run.processed")
        );
        assert_eq!(
            c.rendered_name("parse_run.failed", "2025-04-21"),
            Some("parser_run.failed")
        );
        assert_eq!(c.rendered_name("edit_run.processed", "2025-04-21"), None);
        let set = c
            .resolve_endpoint_events("2025-04-21", &["processor_run.processed".into()])
            .unwrap();
        assert!(set.contains("extract_run.processed"));
        assert!(set.contains("classify_run.processed"));
        assert!(set.contains("split_run.processed"));
        assert_eq!(
            c.resolve_endpoint_events("2025-04-21", &["extract_run.processed".into()]),
            Err(EventNameError::NotInVersion {
                name: "extract_run.processed".into(),
                version: "2025-04-21".into()
            })
        );
    }

    #[test]
    fn workflow_run_events_are_resource_scoped_only() {
        let c = Catalog::builtin();
        assert_eq!(
            c.resolve_endpoint_events("2026-02-09", &["workflow_run.completed".into()]),
            Err(EventNameError::NotGlobal("workflow_run.completed".into()))
        );
        assert!(c
            .resolve_subscription_events(
                "2026-02-09",
                ResourceType::Workflow,
                &["workflow_run.completed".into()]
            )
            .is_ok());
        assert!(c
            .resolve_subscription_events(
                "2026-02-09",
                ResourceType::Extractor,
                &["workflow_run.completed".into()]
            )
            .is_err());
        assert!(c
            .resolve_subscription_events(
                "2026-02-09",
                ResourceType::Splitter,
                &["batch_processor_run.failed".into()]
            )
            .is_ok());
    }

    #[test]
    fn malformed_catalogs_are_rejected() {
        assert!(Catalog::from_json("{").is_err());
        let bad_version = r#"{"currentVersion":"x","versions":[],"events":[]}"#;
        assert!(matches!(
            Catalog::from_json(bad_version),
            Err(CatalogError::Invalid(_))
        ));
    }
}
