//! Opaque, prefixed, URL-safe identifiers (`webhook_endpoint_01J…`) and
//! [`Ids`], the generator a server mints them with.
//!
//! The part after the prefix is a ULID, so ids sort by creation time (to the
//! millisecond) and pagination can order by id. Ids are minted by an [`Ids`]
//! the server owns and injects (no process-wide state: two servers in one
//! process mint independently).

use std::fmt;
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::time::{Clock, Timestamp};

/// What every kind of id shares, so that [`Ids`] can mint any of them.
pub trait Id: Sized {
    /// The prefix every id of this kind starts with.
    const PREFIX: &'static str;
    /// A second prefix some ids of this kind use ("" = none).
    const ALT_PREFIX: &'static str;
    /// Wraps a string known to be an id of this kind.
    fn from_trusted(s: String) -> Self;
}

/// Mints ids: the time part from the injected [`Clock`] (or a time given),
/// the rest random. Ids one generator mints in the same millisecond still
/// sort in the order they were minted (lists page by id). An id for an
/// earlier millisecond than the last one minted gets a fresh random part and
/// leaves the order alone, so an id's time part is always the time asked for.
pub struct Ids {
    clock: Arc<dyn Clock>,
    state: Mutex<Minted>,
}

struct Minted {
    last: Option<ulid::Ulid>,
    rng: StdRng,
}

impl fmt::Debug for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ids").finish_non_exhaustive()
    }
}

impl Ids {
    /// A generator on `clock` whose random parts come from a generator
    /// seeded once by the operating system.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_rng(clock, StdRng::from_entropy())
    }

    /// A generator whose random parts follow `seed` (tests).
    pub fn seeded(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self::with_rng(clock, StdRng::seed_from_u64(seed))
    }

    fn with_rng(clock: Arc<dyn Clock>, rng: StdRng) -> Self {
        Self {
            clock,
            state: Mutex::new(Minted { last: None, rng }),
        }
    }

    /// The clock the generator reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A new id for now.
    pub fn next<I: Id>(&self) -> I {
        self.at(self.clock.now())
    }

    /// A new id whose time part is `at`.
    pub fn at<I: Id>(&self, at: Timestamp) -> I {
        I::from_trusted(format!("{}{}", I::PREFIX, self.ulid_at(at.0)))
    }

    /// A new id with the kind's alternative prefix, whose time part is `at`.
    pub fn alt_at<I: Id>(&self, at: Timestamp) -> I {
        I::from_trusted(format!("{}{}", I::ALT_PREFIX, self.ulid_at(at.0)))
    }

    fn ulid_at(&self, ms: i64) -> ulid::Ulid {
        let ms = ms.max(0) as u64;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = ulid::Ulid::from_parts(ms, st.rng.gen::<u128>() >> 1);
        let next = match st.last {
            Some(prev) if prev.timestamp_ms() == ms => prev.increment().unwrap_or(fresh),
            Some(prev) if prev.timestamp_ms() > ms => return fresh,
            _ => fresh,
        };
        st.last = Some(next);
        next
    }
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

            /// A second prefix some ids of this kind use ("" = none).
            pub const ALT_PREFIX: &'static str = $alt;

            /// An id whose time part is `ms` milliseconds since the epoch
            /// and whose random part comes from the thread's generator: for
            /// tests and fixtures. Two made in the same millisecond sort in
            /// no particular order; servers mint with an [`Ids`].
            pub fn at(ms: i64) -> Self {
                let ulid = ulid::Ulid::from_parts(ms.max(0) as u64, rand::random::<u128>() >> 1);
                Self(format!("{}{}", $prefix, ulid))
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

        impl Id for $name {
            const PREFIX: &'static str = $prefix;
            const ALT_PREFIX: &'static str = $alt;

            fn from_trusted(s: String) -> Self {
                Self(s)
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
    use crate::time::ManualClock;

    fn ids_at(ms: i64) -> Ids {
        Ids::seeded(Arc::new(ManualClock::new(Timestamp(ms))), 7)
    }

    #[test]
    fn parse_accepts_own_kind_only() {
        let id: EndpointId = ids_at(1_000).next();
        assert_eq!(EndpointId::parse(id.as_str()), Some(id.clone()));
        assert!(SubscriptionId::parse(id.as_str()).is_none());
        assert!(EndpointId::parse("webhook_endpoint_nope").is_none());
        assert!(EndpointId::parse("").is_none());
    }

    #[test]
    fn ids_made_in_the_same_millisecond_keep_their_order() {
        let gen = ids_at(5_000);
        let ids: Vec<EventId> = (0..1000).map(|_| gen.next()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|id| id.millis() == Some(5_000)));
    }

    #[test]
    fn an_earlier_time_keeps_its_time_part() {
        let gen = ids_at(5_000);
        let later: EventId = gen.next();
        let earlier: EventId = gen.at(Timestamp(4_000));
        assert_eq!(earlier.millis(), Some(4_000));
        assert!(earlier < later);
        let again: EventId = gen.next();
        assert!(later < again, "the order of the later millisecond holds");
    }

    #[test]
    fn two_generators_do_not_share_state() {
        let (a, b) = (ids_at(5_000), ids_at(5_000));
        let first: EventId = a.next();
        let _: EventId = b.next();
        let second: EventId = a.next();
        assert!(first < second);
    }

    #[test]
    fn the_time_part_follows_the_clock() {
        let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
        let gen = Ids::seeded(clock.clone(), 1);
        let a: DeliveryId = gen.next();
        clock.advance_millis(250);
        let b: DeliveryId = gen.next();
        assert_eq!((a.millis(), b.millis()), (Some(1_000), Some(1_250)));
    }

    #[test]
    fn endpoints_also_take_the_v1_prefix() {
        let v1: EndpointId = ids_at(1_000).alt_at(Timestamp(1_000));
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
