//! Route handlers, one module per resource.

pub mod admin;
pub mod catalog;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod listen;
pub mod ops;
pub mod payloads;
pub mod portal;
pub mod stats;
pub mod subscriptions;
pub mod v1;

use serde::{Deserialize, Deserializer};

/// For partial updates: absent → `None`, `null` → `Some(None)`, value → `Some(Some(v))`.
pub(crate) fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
