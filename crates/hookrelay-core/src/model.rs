//! The domain records: endpoints, subscriptions, events, deliveries and
//! attempts, and the small enums they are made of.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use crate::parsed::{ApiVersion, EndpointUrl, EventType};
use crate::secret::Secret;
use crate::time::Timestamp;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum $name {
            $(#[serde(rename = $s)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err(UnknownVariant {
                        expected: &[$($s),+],
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A string that is not one of an enum's values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("expected one of: {}", expected.join(", "))]
pub struct UnknownVariant {
    pub expected: &'static [&'static str],
}

string_enum!(
    /// Whether an endpoint receives events.
    EndpointStatus { Enabled => "enabled", Disabled => "disabled" }
);
string_enum!(
    /// Why an endpoint is disabled.
    DisabledReason { Manual => "manual", Failing => "failing" }
);
string_enum!(
    /// The wire profile: which headers carry the signature and how it is computed.
    SignatureScheme {
        Extend => "extend",
        StandardWebhooks => "standard-webhooks",
        BodyHmac => "body-hmac",
    }
);
string_enum!(
    /// How the payload travels: inline JSON or a signed download URL.
    PayloadFormat { Json => "json", Url => "url" }
);
string_enum!(
    /// The kinds of resource a subscription can be scoped to.
    ResourceType {
        Workflow => "workflow",
        Extractor => "extractor",
        Classifier => "classifier",
        Splitter => "splitter",
    }
);
string_enum!(
    /// The life of a delivery.
    DeliveryStatus {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);
string_enum!(
    /// Why an attempt failed.
    ErrorKind {
        Timeout => "timeout",
        Connect => "connect",
        Dns => "dns",
        Tls => "tls",
        HttpStatus => "http_status",
        BlockedDestination => "blocked_destination",
        InvalidUrl => "invalid_url",
        Io => "io",
        // hookrelay itself failed while making the attempt (a bug): the
        // attempt counts as failed and is retried like any other.
        Internal => "internal",
    }
);

/// The payload part of `advancedOptions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayloadOptions {
    pub format: PayloadFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_threshold_bytes: Option<u64>,
}

/// `advancedOptions` of an endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AdvancedOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadOptions>,
}

/// Who created a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreatedBy {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
}

/// An endpoint's signing secrets. `secret` is the newest; during a rotation's
/// grace period `previous` is still valid until `previous_until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSecrets {
    pub secret: Secret,
    pub previous: Option<Secret>,
    pub previous_until: Option<Timestamp>,
}

impl EndpointSecrets {
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            previous: None,
            previous_until: None,
        }
    }

    /// The previous secret, if its grace period has not ended at `now`.
    pub fn previous_at(&self, now: Timestamp) -> Option<&Secret> {
        match (&self.previous, self.previous_until) {
            (Some(p), Some(until)) if now < until => Some(p),
            _ => None,
        }
    }

    /// The secrets to sign with at `now`, newest first. Profiles whose header
    /// holds one signature (extend, body-hmac) keep signing with the old
    /// secret until the grace period ends; standard-webhooks signs with both.
    pub fn signing_secrets(&self, scheme: SignatureScheme, now: Timestamp) -> Vec<&Secret> {
        match (scheme, self.previous_at(now)) {
            (SignatureScheme::StandardWebhooks, Some(prev)) => vec![&self.secret, prev],
            (_, Some(prev)) => vec![prev],
            (_, None) => vec![&self.secret],
        }
    }
}

/// A webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub workspace_id: WorkspaceId,
    pub url: EndpointUrl,
    pub name: String,
    pub status: EndpointStatus,
    pub disabled_reason: Option<DisabledReason>,
    pub enabled_events: Vec<String>,
    pub api_version: ApiVersion,
    pub advanced_options: AdvancedOptions,
    pub signature_scheme: SignatureScheme,
    pub retry_schedule: Option<Vec<u32>>,
    pub rate_limit_per_second: Option<u32>,
    pub secrets: EndpointSecrets,
    pub created_at: Timestamp,
    pub created_by: Option<CreatedBy>,
    pub updated_at: Timestamp,
    /// Set at the first failed attempt after the last success; drives auto-disable.
    pub failing_since: Option<Timestamp>,
}

impl Endpoint {
    /// A temporary endpoint of `hookrelay listen`: created by the server
    /// for one CLI connection (never by a client, who cannot set
    /// `created_by`), its URL pointing at the node that holds the
    /// connection and never changed through the API.
    pub fn is_listen(&self) -> bool {
        self.created_by
            .as_ref()
            .is_some_and(|c| c.kind == LISTEN_CREATOR)
    }
}

/// `created_by.type` of the endpoints `hookrelay listen` creates.
pub const LISTEN_CREATOR: &str = "listen";

/// A resource-scoped subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub workspace_id: WorkspaceId,
    pub endpoint_id: EndpointId,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub enabled_events: Vec<String>,
    pub created_at: Timestamp,
}

/// The resource an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// A published event. `payload` and `previous_data` are the producer's JSON
/// text, kept byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub workspace_id: WorkspaceId,
    /// The canonical event type (each version may render it under another name).
    pub event_type: EventType,
    pub payload: String,
    pub resource: Option<ResourceRef>,
    pub previous_data: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: Timestamp,
    pub delivery_count: u32,
    pub test: bool,
}

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub workspace_id: WorkspaceId,
    pub event_id: EventId,
    pub endpoint_id: EndpointId,
    /// The event type as rendered for the endpoint's API version.
    pub event_type: String,
    /// The endpoint's API version (kept so history can be rendered after the endpoint is gone).
    pub api_version: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub test: bool,
    /// Sent again by hand (a retry or a recovery) after it had finished, or
    /// waiting for such an attempt.
    pub manual: bool,
}

/// One HTTP attempt of a delivery, as recorded in history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt_number: u32,
    pub started_at: Timestamp,
    pub duration_ms: u32,
    pub request_url: String,
    pub request_headers: Vec<(String, String)>,
    pub response_status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error_kind.is_none()
            && matches!(self.response_status, Some(s) if (200..300).contains(&s))
    }
}

// Serde for Timestamp inside Attempt (stored as JSON in some backends).
impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(Timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_strings() {
        for s in SignatureScheme::ALL {
            assert_eq!(s.as_str().parse::<SignatureScheme>().unwrap(), *s);
        }
        let err = "nope".parse::<DeliveryStatus>().unwrap_err();
        assert!(err.to_string().contains("pending"));
    }

    #[test]
    fn rotation_keeps_old_secret_for_single_signature_profiles() {
        let secrets = EndpointSecrets {
            secret: Secret::new("new".into()),
            previous: Some(Secret::new("old".into())),
            previous_until: Some(Timestamp(1_000)),
        };
        let during = Timestamp(500);
        let after = Timestamp(1_000);
        let names = |v: Vec<&Secret>| v.iter().map(|s| s.expose().to_owned()).collect::<Vec<_>>();
        assert_eq!(
            names(secrets.signing_secrets(SignatureScheme::Extend, during)),
            ["old"]
        );
        assert_eq!(
            names(secrets.signing_secrets(SignatureScheme::BodyHmac, during)),
            ["old"]
        );
        assert_eq!(
            names(secrets.signing_secrets(SignatureScheme::StandardWebhooks, during)),
            ["new", "old"]
        );
        assert_eq!(
            names(secrets.signing_secrets(SignatureScheme::Extend, after)),
            ["new"]
        );
    }
}
