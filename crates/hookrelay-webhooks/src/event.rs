//! The events a receiver gets: the extend envelope ([`Event`], with its
//! inline or signed-URL [`Payload`]), the v1 envelope ([`V1Event`]) and the
//! typed catalog [`EventType`]s. Pure data and serde: no IO, no verification.
//!
//! Which envelope a delivery uses depends on the endpoint's API version, not
//! on its signature profile: versions `2026-02-09` and `2025-04-21` send
//! `{"eventId", "eventType", "payload"}` ([`Event`]), version `v1` (the
//! body-hmac API) sends `{"id", "type", "created_at", "data": {"object"},
//! "previous_data"}` ([`V1Event`]). The two are separate types because their
//! fields differ; the receiver knows which version its endpoint was created
//! with and picks the parser ([`crate::parse`] or [`crate::parse_v1`]).

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `object` value that marks a signed-URL payload.
///
/// ```
/// use hookrelay_webhooks::event::SIGNED_DATA_URL_OBJECT;
///
/// assert_eq!(SIGNED_DATA_URL_OBJECT, "signed_data_url");
/// ```
pub const SIGNED_DATA_URL_OBJECT: &str = "signed_data_url";

macro_rules! event_types {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// An event type of hookrelay's catalog, under its name in any of the
        /// catalog's versions, or [`EventType::Unknown`] for a name this
        /// version of the crate does not know (a newer catalog, or a
        /// platform's own events).
        ///
        /// Converts from and to its wire name ([`EventType::parse`],
        /// [`FromStr`], [`From<&str>`](From), [`EventType::as_str`],
        /// [`Display`](fmt::Display)) and (de)serializes as that string, so
        /// an unknown name survives a round trip unchanged. Always build
        /// values from their name: `EventType::Unknown("parse_run.processed")`
        /// is not equal to [`EventType::ParseRunProcessed`].
        ///
        /// Legacy (`2025-04-21`) names are their own variants: a legacy
        /// endpoint receives [`EventType::ProcessorRunProcessed`] where a
        /// current one receives `extract_run.processed`,
        /// `classify_run.processed` or `split_run.processed` (the payload's
        /// `"type"` says which).
        ///
        /// ```
        /// use hookrelay_webhooks::EventType;
        ///
        /// let t: EventType = "workflow_run.completed".parse().unwrap();
        /// assert_eq!(t, EventType::WorkflowRunCompleted);
        /// assert_eq!(t, "workflow_run.completed");
        /// assert!(t.is_known());
        ///
        /// let custom = EventType::from("invoice.paid");
        /// assert_eq!(custom, EventType::Unknown("invoice.paid".to_string()));
        /// assert_eq!(serde_json::to_string(&custom)?, r#""invoice.paid""#);
        /// # Ok::<(), serde_json::Error>(())
        /// ```
        #[non_exhaustive]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum EventType {
            $(
                $(#[$doc])*
                #[doc = ""]
                #[doc = concat!("Wire name: `", $name, "`.")]
                $variant,
            )*
            /// A name that is none of the above; holds it as received.
            Unknown(String),
        }

        impl EventType {
            /// Every known event type (all but [`EventType::Unknown`]), in
            /// catalog order: current names, then legacy, then v1.
            ///
            /// ```
            /// use hookrelay_webhooks::EventType;
            ///
            /// for t in EventType::KNOWN {
            ///     assert_eq!(&EventType::parse(t.as_str()), t);
            /// }
            /// ```
            pub const KNOWN: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The wire name.
            ///
            /// ```
            /// use hookrelay_webhooks::EventType;
            ///
            /// assert_eq!(EventType::ExtractorVersionPublished.as_str(), "extractor.version.published");
            /// assert_eq!(EventType::from("x.y").as_str(), "x.y");
            /// ```
            pub fn as_str(&self) -> &str {
                match self {
                    $(EventType::$variant => $name,)*
                    EventType::Unknown(name) => name,
                }
            }

            /// The type with this wire name; [`EventType::Unknown`] for names
            /// not in the catalog. Never fails. Names are case-sensitive.
            ///
            /// ```
            /// use hookrelay_webhooks::EventType;
            ///
            /// assert_eq!(EventType::parse("parser_run.failed"), EventType::ParserRunFailed);
            /// assert!(!EventType::parse("Parser_Run.Failed").is_known());
            /// ```
            pub fn parse(name: &str) -> EventType {
                match name {
                    $($name => EventType::$variant,)*
                    other => EventType::Unknown(other.to_owned()),
                }
            }
        }
    };
}

event_types! {
    // 2026-02-09 (current)
    /// A parse run finished.
    ParseRunProcessed => "parse_run.processed",
    /// A parse run failed.
    ParseRunFailed => "parse_run.failed",
    /// An edit run finished filling a PDF.
    EditRunProcessed => "edit_run.processed",
    /// An edit run failed.
    EditRunFailed => "edit_run.failed",
    /// A form detection run finished.
    FormDetectionRunProcessed => "form_detection_run.processed",
    /// A form detection run failed.
    FormDetectionRunFailed => "form_detection_run.failed",
    /// An extract run finished.
    ExtractRunProcessed => "extract_run.processed",
    /// An extract run failed.
    ExtractRunFailed => "extract_run.failed",
    /// A classify run finished.
    ClassifyRunProcessed => "classify_run.processed",
    /// A classify run failed.
    ClassifyRunFailed => "classify_run.failed",
    /// A split run finished.
    SplitRunProcessed => "split_run.processed",
    /// A split run failed.
    SplitRunFailed => "split_run.failed",
    /// A batch processor run finished.
    BatchProcessorRunProcessed => "batch_processor_run.processed",
    /// A batch processor run failed.
    BatchProcessorRunFailed => "batch_processor_run.failed",
    /// A batch parse run finished.
    BatchParseRunProcessed => "batch_parse_run.processed",
    /// A batch parse run failed.
    BatchParseRunFailed => "batch_parse_run.failed",
    /// An extractor was created.
    ExtractorCreated => "extractor.created",
    /// An extractor was updated.
    ExtractorUpdated => "extractor.updated",
    /// An extractor was deleted.
    ExtractorDeleted => "extractor.deleted",
    /// An extractor's draft was updated.
    ExtractorDraftUpdated => "extractor.draft.updated",
    /// An extractor version was published.
    ExtractorVersionPublished => "extractor.version.published",
    /// A classifier was created.
    ClassifierCreated => "classifier.created",
    /// A classifier was updated.
    ClassifierUpdated => "classifier.updated",
    /// A classifier was deleted.
    ClassifierDeleted => "classifier.deleted",
    /// A classifier's draft was updated.
    ClassifierDraftUpdated => "classifier.draft.updated",
    /// A classifier version was published.
    ClassifierVersionPublished => "classifier.version.published",
    /// A splitter was created.
    SplitterCreated => "splitter.created",
    /// A splitter was updated.
    SplitterUpdated => "splitter.updated",
    /// A splitter was deleted.
    SplitterDeleted => "splitter.deleted",
    /// A splitter's draft was updated.
    SplitterDraftUpdated => "splitter.draft.updated",
    /// A splitter version was published.
    SplitterVersionPublished => "splitter.version.published",
    /// A workflow was created.
    WorkflowCreated => "workflow.created",
    /// A workflow was deployed.
    WorkflowDeployed => "workflow.deployed",
    /// A workflow was deleted.
    WorkflowDeleted => "workflow.deleted",
    /// A workflow run completed (also in `2025-04-21`).
    WorkflowRunCompleted => "workflow_run.completed",
    /// A workflow run failed (also in `2025-04-21`).
    WorkflowRunFailed => "workflow_run.failed",
    /// A workflow run needs review (also in `2025-04-21`).
    WorkflowRunNeedsReview => "workflow_run.needs_review",
    /// A workflow run was rejected in review.
    WorkflowRunRejected => "workflow_run.rejected",
    /// A workflow run was cancelled.
    WorkflowRunCancelled => "workflow_run.cancelled",
    /// A step of a workflow run finished.
    WorkflowRunStepRunProcessed => "workflow_run.step_run.processed",
    // 2025-04-21 (legacy names)
    /// Legacy name of `extract_run`, `classify_run` and `split_run.processed`
    /// (payload `"object": "processor_run"`, `"type"` says which).
    ProcessorRunProcessed => "processor_run.processed",
    /// Legacy name of `extract_run`, `classify_run` and `split_run.failed`.
    ProcessorRunFailed => "processor_run.failed",
    /// Legacy name of `parse_run.processed` (payload `"object": "parser_run"`).
    ParserRunProcessed => "parser_run.processed",
    /// Legacy name of `parse_run.failed`.
    ParserRunFailed => "parser_run.failed",
    // v1 generic events (body-hmac API)
    /// v1: a resource was created.
    ResourceCreated => "resource.created",
    /// v1: a resource was updated (`previous_data` holds old values).
    ResourceUpdated => "resource.updated",
    /// v1: a resource was deleted.
    ResourceDeleted => "resource.deleted",
    /// v1: a user was created.
    UserCreated => "user.created",
    /// v1: a user was updated (`previous_data` holds old values).
    UserUpdated => "user.updated",
    /// v1: a payment succeeded.
    PaymentSucceeded => "payment.succeeded",
    /// v1: a payment failed.
    PaymentFailed => "payment.failed",
}

impl EventType {
    /// Whether this is a catalog type rather than [`EventType::Unknown`].
    ///
    /// ```
    /// use hookrelay_webhooks::EventType;
    ///
    /// assert!(EventType::PaymentFailed.is_known());
    /// assert!(!EventType::from("payment.refunded").is_known());
    /// ```
    pub fn is_known(&self) -> bool {
        !matches!(self, EventType::Unknown(_))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(EventType::parse(s))
    }
}

impl From<&str> for EventType {
    fn from(name: &str) -> Self {
        EventType::parse(name)
    }
}

impl From<String> for EventType {
    fn from(name: String) -> Self {
        match EventType::parse(&name) {
            EventType::Unknown(_) => EventType::Unknown(name),
            known => known,
        }
    }
}

impl AsRef<str> for EventType {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for EventType {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(EventType::from)
    }
}

/// The signed URL of a [`Payload::SignedUrl`]: a bearer link that answers the
/// full payload without authentication until it expires (1 hour after the
/// delivery attempt).
///
/// Because anyone holding it can read the payload, its `Debug` shows only the
/// scheme and host, so logging an event does not leak it; use
/// [`SignedDataUrl::as_str`] to get the link itself. Serializes as the plain
/// string.
///
/// ```
/// use hookrelay_webhooks::SignedDataUrl;
///
/// let url = SignedDataUrl::from("https://hooks.example.com/payloads/tok_secret".to_string());
/// assert_eq!(url.as_str(), "https://hooks.example.com/payloads/tok_secret");
/// assert_eq!(format!("{url:?}"), r#"SignedDataUrl("https://hooks.example.com/<redacted>")"#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignedDataUrl(String);

impl SignedDataUrl {
    /// The URL.
    ///
    /// ```
    /// use hookrelay_webhooks::SignedDataUrl;
    ///
    /// assert_eq!(SignedDataUrl::from("https://h/p".to_string()).as_str(), "https://h/p");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL, by value.
    ///
    /// ```
    /// use hookrelay_webhooks::SignedDataUrl;
    ///
    /// assert_eq!(SignedDataUrl::from("https://h/p".to_string()).into_string(), "https://h/p");
    /// ```
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for SignedDataUrl {
    fn from(url: String) -> Self {
        SignedDataUrl(url)
    }
}

impl fmt::Debug for SignedDataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep `scheme://host[:port]` and drop the path and query, which
        // carry the token.
        let origin = self.0.find("://").map(|scheme_end| {
            let host_start = scheme_end + 3;
            let host_end = self.0[host_start..]
                .find(['/', '?', '#'])
                .map_or(self.0.len(), |i| host_start + i);
            &self.0[..host_end]
        });
        match origin {
            Some(origin) => write!(f, "SignedDataUrl(\"{origin}/<redacted>\")"),
            None => f.write_str("SignedDataUrl(<redacted>)"),
        }
    }
}

/// An extend-envelope payload: the JSON inline, or a link to it.
///
/// When the rendered payload is larger than the endpoint's threshold,
/// hookrelay (like Extend) sends `{"object": "signed_data_url", "data":
/// "<url>", "id": <payload.id>, "metadata": <payload.metadata>}` instead; any
/// JSON object whose `object` is `"signed_data_url"` and whose `data` is a
/// string is read as [`Payload::SignedUrl`] (the rule of Extend's SDKs),
/// everything else as [`Payload::Inline`]. Use `fetch_signed_payload`
/// (feature `fetch`) to get the full payload behind a link.
///
/// Serializes back to the same wire shape (a non-string `id` is dropped to
/// `null`).
///
/// ```
/// use hookrelay_webhooks::Payload;
/// use serde_json::json;
///
/// let inline: Payload = serde_json::from_value(json!({"object": "workflow_run", "id": "wr_1"}))?;
/// assert_eq!(inline.id(), Some("wr_1"));
/// assert!(!inline.is_signed_url());
///
/// let link: Payload = serde_json::from_value(json!({
///     "object": "signed_data_url",
///     "data": "https://hooks.example.com/payloads/tok",
///     "id": "wr_1",
///     "metadata": {"env": "prod"},
/// }))?;
/// match &link {
///     Payload::SignedUrl { url, id, metadata } => {
///         assert_eq!(url.as_str(), "https://hooks.example.com/payloads/tok");
///         assert_eq!(id.as_deref(), Some("wr_1"));
///         assert_eq!(metadata.as_ref().unwrap()["env"], "prod");
///     }
///     Payload::Inline(_) => unreachable!(),
/// }
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The payload is behind a signed URL.
    SignedUrl {
        /// Where to GET the full payload (no authentication; expires).
        url: SignedDataUrl,
        /// The payload's `id` (e.g. the run's id), if it had a string one.
        id: Option<String>,
        /// The payload's `metadata`, if not absent or `null`; lets a receiver
        /// decide whether to fetch at all.
        metadata: Option<Value>,
    },
    /// The payload itself.
    Inline(Value),
}

impl Payload {
    /// Classifies a payload value (see the type's docs for the rule).
    ///
    /// ```
    /// use hookrelay_webhooks::Payload;
    /// use serde_json::json;
    ///
    /// assert!(Payload::from_value(json!({"object": "signed_data_url", "data": "https://x/y"})).is_signed_url());
    /// // `data` must be a string.
    /// assert!(!Payload::from_value(json!({"object": "signed_data_url", "data": 1})).is_signed_url());
    /// ```
    pub fn from_value(value: Value) -> Payload {
        let Value::Object(mut map) = value else {
            return Payload::Inline(value);
        };
        let is_signed_url = map.get("object").and_then(Value::as_str)
            == Some(SIGNED_DATA_URL_OBJECT)
            && map.get("data").is_some_and(Value::is_string);
        if !is_signed_url {
            return Payload::Inline(Value::Object(map));
        }
        let Some(Value::String(url)) = map.remove("data") else {
            unreachable!("checked above that `data` is a string");
        };
        let id = match map.remove("id") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let metadata = map.remove("metadata").filter(|m| !m.is_null());
        Payload::SignedUrl {
            url: SignedDataUrl(url),
            id,
            metadata,
        }
    }

    /// Whether this is a [`Payload::SignedUrl`].
    ///
    /// ```
    /// use hookrelay_webhooks::Payload;
    ///
    /// assert!(!Payload::Inline(serde_json::json!({})).is_signed_url());
    /// ```
    pub fn is_signed_url(&self) -> bool {
        matches!(self, Payload::SignedUrl { .. })
    }

    /// The inline JSON, or `None` for a signed URL.
    ///
    /// ```
    /// use hookrelay_webhooks::Payload;
    ///
    /// let p = Payload::Inline(serde_json::json!({"status": "PROCESSED"}));
    /// assert_eq!(p.as_inline().unwrap()["status"], "PROCESSED");
    /// ```
    pub fn as_inline(&self) -> Option<&Value> {
        match self {
            Payload::Inline(value) => Some(value),
            Payload::SignedUrl { .. } => None,
        }
    }

    /// The inline JSON by value, or `None` for a signed URL.
    ///
    /// ```
    /// use hookrelay_webhooks::Payload;
    ///
    /// let p = Payload::Inline(serde_json::json!([1, 2]));
    /// assert_eq!(p.into_inline(), Some(serde_json::json!([1, 2])));
    /// ```
    pub fn into_inline(self) -> Option<Value> {
        match self {
            Payload::Inline(value) => Some(value),
            Payload::SignedUrl { .. } => None,
        }
    }

    /// The payload's `id`: the inline object's string `id`, or a signed
    /// URL's `id`.
    ///
    /// ```
    /// use hookrelay_webhooks::Payload;
    ///
    /// assert_eq!(Payload::Inline(serde_json::json!({"id": "pr_1"})).id(), Some("pr_1"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        match self {
            Payload::Inline(value) => value.get("id").and_then(Value::as_str),
            Payload::SignedUrl { id, .. } => id.as_deref(),
        }
    }

    /// The payload's `metadata` (inline or carried next to a signed URL), if
    /// present and not `null`.
    ///
    /// ```
    /// use hookrelay_webhooks::Payload;
    ///
    /// let p = Payload::Inline(serde_json::json!({"metadata": {"env": "prod"}}));
    /// assert_eq!(p.metadata().unwrap()["env"], "prod");
    /// ```
    pub fn metadata(&self) -> Option<&Value> {
        match self {
            Payload::Inline(value) => value.get("metadata").filter(|m| !m.is_null()),
            Payload::SignedUrl { metadata, .. } => metadata.as_ref(),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Inline(value) => value.serialize(serializer),
            Payload::SignedUrl { url, id, metadata } => {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("object", SIGNED_DATA_URL_OBJECT)?;
                map.serialize_entry("data", url)?;
                map.serialize_entry("id", id)?;
                map.serialize_entry("metadata", metadata)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Payload::from_value)
    }
}

/// A webhook in the extend envelope: `{"eventId", "eventType", "payload"}`,
/// as delivered to endpoints on API versions `2026-02-09` and `2025-04-21`
/// (and by Extend itself).
///
/// Get one from [`crate::verify_and_parse`] (or [`crate::parse`] for a body
/// already verified). `event_id` is the same for every endpoint and attempt
/// of one event: de-duplicate on it. Unknown top-level fields are ignored.
///
/// ```
/// use hookrelay_webhooks::{parse, EventType, Payload};
///
/// let event = parse(br#"{"eventId":"evt_1","eventType":"workflow_run.completed","payload":{"id":"wr_1"}}"#)?;
/// assert_eq!(event.event_id, "evt_1");
/// assert_eq!(event.event_type, EventType::WorkflowRunCompleted);
/// assert_eq!(event.payload, Payload::Inline(serde_json::json!({"id": "wr_1"})));
/// # Ok::<(), hookrelay_webhooks::WebhookError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The event's id (`eventId`), stable across endpoints and retries.
    pub event_id: String,
    /// The event's type (`eventType`), named as in the endpoint's version.
    pub event_type: EventType,
    /// The payload, inline or behind a signed URL.
    pub payload: Payload,
}

impl Event {
    /// Builds an event, e.g. to test a handler.
    ///
    /// ```
    /// use hookrelay_webhooks::{Event, EventType, Payload};
    ///
    /// let event = Event::new("evt_1", EventType::ParseRunProcessed, Payload::Inline(serde_json::json!({})));
    /// assert_eq!(
    ///     serde_json::to_string(&event)?,
    ///     r#"{"eventId":"evt_1","eventType":"parse_run.processed","payload":{}}"#
    /// );
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn new(event_id: impl Into<String>, event_type: EventType, payload: Payload) -> Self {
        Event {
            event_id: event_id.into(),
            event_type,
            payload,
        }
    }

    /// Whether the payload is a signed URL (same as
    /// [`crate::is_signed_url_event`]).
    ///
    /// ```
    /// use hookrelay_webhooks::parse;
    ///
    /// let event = parse(br#"{"eventId":"e","eventType":"t","payload":{"object":"signed_data_url","data":"https://x/y"}}"#)?;
    /// assert!(event.is_signed_url());
    /// # Ok::<(), hookrelay_webhooks::WebhookError>(())
    /// ```
    pub fn is_signed_url(&self) -> bool {
        self.payload.is_signed_url()
    }
}

/// A webhook in the v1 envelope of the body-hmac API: `{"id", "type",
/// "created_at", "data": {"object": {...}}, "previous_data": {...} | null}`.
///
/// Get one from [`crate::verify_and_parse_v1`] (or [`crate::parse_v1`]).
/// Unknown top-level fields are ignored; a missing `previous_data` reads as
/// `None`.
///
/// ```
/// use hookrelay_webhooks::{parse_v1, EventType};
///
/// let event = parse_v1(br#"{"id":"evt_1","type":"user.updated","created_at":"2026-02-09T14:01:58.120Z",
///     "data":{"object":{"id":"usr_1","name":"new"}},"previous_data":{"name":"old"}}"#)?;
/// assert_eq!(event.event_type, EventType::UserUpdated);
/// assert_eq!(event.data.object["name"], "new");
/// assert_eq!(event.previous_data.unwrap()["name"], "old");
/// # Ok::<(), hookrelay_webhooks::WebhookError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V1Event {
    /// The event's id (`evt_…`), stable across retries: de-duplicate on it.
    pub id: String,
    /// The event's type (`type`).
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the event was published, as sent: RFC 3339 in UTC with
    /// milliseconds, e.g. `2026-02-09T14:01:58.120Z`.
    pub created_at: String,
    /// The resource the event is about.
    pub data: V1Data,
    /// For `*.updated` events, the changed fields' previous values.
    #[serde(default)]
    pub previous_data: Option<Value>,
}

/// The `data` of a [`V1Event`].
///
/// ```
/// use hookrelay_webhooks::V1Data;
///
/// let data: V1Data = serde_json::from_str(r#"{"object":{"id":"pay_1"}}"#)?;
/// assert_eq!(data.object["id"], "pay_1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct V1Data {
    /// The resource, as the producer published it.
    pub object: Value,
}
