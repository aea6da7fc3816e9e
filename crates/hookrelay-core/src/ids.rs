//! Opaque, prefixed, URL-safe identifiers (`webhook_endpoint_01J…`).
//!
//! The part after the prefix is a ULID, so ids sort by creation time (to the
//! millisecond) and pagination can order by id.

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The last ULID made in this process, so ids made in the same millisecond
/// still sort in the order they were made (lists page by id). An id for an
/// earlier millisecond gets a fresh random part and leaves this alone, so an
/// id's time part is always the time it was asked for.
static LAST: Mutex<Option<ulid::Ulid>> = Mutex::new(None);

fn ulid_at(ms: i64) -> ulid::Ulid {
    let ms = ms.max(0) as u64;
    let fresh = || ulid::Ulid::from_parts(ms, rand::random::<u128>() >> 1);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let next = match *last {
        Some(prev) if prev.timestamp_ms() == ms => prev.increment().unwrap_or_else(fresh),
        Some(prev) if prev.timestamp_ms() > ms => return fresh(),
        _ => fresh(),
    };
    *last = Some(next);
    next
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        define_id!($(#[$doc])* $name, $prefix, "");
    };
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $alt:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new id for the current instant.
            pub fn new() -> Self {
                Self::at(now_ms())
            }

            /// A new id whose time part is `ms` milliseconds since the epoch.
            pub fn at(ms: i64) -> Self {
                Self(format!("{}{}", $prefix, ulid_at(ms)))
            }

            /// A second prefix some ids of this kind use ("" = none).
            pub const ALT_PREFIX: &'static str = $alt;

            /// A new id with the alternative prefix.
            pub fn alt_at(ms: i64) -> Self {
                Self(format!("{}{}", $alt, ulid_at(ms)))
            }

            /// Accepts only well-formed ids of this kind (prefix + ULID).
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix).or_else(|| {
                    if $alt.is_empty() {
                        None
                    } else {
                        s.strip_prefix($alt)
                    }
                })?;
                ulid::Ulid::from_string(rest).ok()?;
                Some(Self(s.to_owned()))
            }

            /// Wraps a string read back from storage without checking it.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The time part: milliseconds since the epoch (`None` for a
            /// string that is not one of these ids).
            pub fn millis(&self) -> Option<i64> {
                let rest = self.0.strip_prefix($prefix).or_else(|| {
                    if $alt.is_empty() {
                        None
                    } else {
                        self.0.strip_prefix($alt)
                    }
                })?;
                let ms = ulid::Ulid::from_string(rest).ok()?.timestamp_ms();
                i64::try_from(ms).ok()
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(
    /// A workspace, the unit of isolation.
    WorkspaceId,
    "workspace_"
);
define_id!(
    /// A workspace API key (the record, not the secret).
    ApiKeyId,
    "api_key_"
);
define_id!(
    /// A webhook endpoint (`wh_…` for those made through the v1 API).
    EndpointId,
    "webhook_endpoint_",
    "wh_"
);
define_id!(
    /// A resource-scoped webhook subscription.
    SubscriptionId,
    "webhook_subscription_"
);
define_id!(
    /// A published event. The same for every endpoint and attempt.
    EventId,
    "evt_"
);
define_id!(
    /// One event's delivery to one endpoint.
    DeliveryId,
    "webhook_delivery_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_own_kind_only() {
        let id = EndpointId::new();
        assert_eq!(EndpointId::parse(id.as_str()), Some(id.clone()));
        assert!(SubscriptionId::parse(id.as_str()).is_none());
        assert!(EndpointId::parse("webhook_endpoint_nope").is_none());
        assert!(EndpointId::parse("").is_none());
    }

    #[test]
    fn ids_made_in_the_same_millisecond_keep_their_order() {
        let ids: Vec<_> = (0..1000).map(|_| EventId::at(5_000)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn endpoints_also_take_the_v1_prefix() {
        let v1 = EndpointId::alt_at(1_000);
        assert!(v1.as_str().starts_with("wh_"));
        assert_eq!(EndpointId::parse(v1.as_str()), Some(v1));
        assert!(EventId::parse("wh_01J00000000000000000000000").is_none());
    }

    #[test]
    fn ids_sort_by_time() {
        let a = EventId::at(1_000);
        let b = EventId::at(2_000);
        assert!(a < b);
    }
}
