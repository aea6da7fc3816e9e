//! Values parsed once where they enter hookrelay — an endpoint's URL, an API
//! version, a canonical event type — so that code holding one never checks
//! it again.
//!
//! Each serializes as the plain string it was parsed from (the wire and the
//! database see no difference). None implements `Deserialize`: the rules
//! depend on the catalog or the server's settings, so input goes through
//! `parse`, and text hookrelay wrote itself (a database row) comes back
//! through `from_trusted`.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::validate::{
    max_chars, quote, Invalid, MAX_API_VERSION_LEN, MAX_EVENT_TYPE_LEN, MAX_URL_LEN,
};

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// Text that was parsed before (read back from the database).
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// An endpoint URL: absolute http(s) with a host, no credentials, no
/// fragment, at most [`MAX_URL_LEN`] bytes. The text is kept as given (the
/// query string included): it is what the endpoint's owner sees back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct EndpointUrl(String);
string_newtype!(EndpointUrl);

impl EndpointUrl {
    /// Parses `raw`; `http` only when `allow_http` (dev mode).
    pub fn parse(raw: &str, allow_http: bool) -> Result<Self, Invalid> {
        let invalid = |message: String| Invalid {
            field: "url",
            message,
        };
        if raw.len() > MAX_URL_LEN {
            return Err(invalid(format!("must be at most {MAX_URL_LEN} bytes")));
        }
        let url =
            url::Url::parse(raw).map_err(|e| invalid(format!("is not an absolute URL ({e})")))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => {
                return Err(invalid(
                    "must use https (http is allowed only in dev mode)".into(),
                ))
            }
            other => return Err(invalid(format!("scheme {} is not http(s)", quote(other)))),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("must have a host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not contain credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(invalid("must not contain a fragment".into()));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// Why a string is not an API version of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiVersionError {
    /// Longer than any version could be ([`MAX_API_VERSION_LEN`]).
    #[error(transparent)]
    TooLong(Invalid),
    /// Not a version of the catalog.
    #[error("apiVersion {} is not supported", quote(.0))]
    Unknown(String),
}

/// An API version the catalog knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ApiVersion(String);
string_newtype!(ApiVersion);

impl ApiVersion {
    /// `raw` if `catalog` has that version; `field` names it in errors.
    pub fn parse(
        catalog: &Catalog,
        field: &'static str,
        raw: &str,
    ) -> Result<Self, ApiVersionError> {
        max_chars(field, raw, MAX_API_VERSION_LEN).map_err(ApiVersionError::TooLong)?;
        match catalog.version(raw) {
            Some(v) => Ok(Self(v.name.clone())),
            None => Err(ApiVersionError::Unknown(raw.to_owned())),
        }
    }

    /// The catalog's current version.
    pub fn current(catalog: &Catalog) -> Self {
        Self(catalog.current_version().to_owned())
    }
}

/// Why a string is not a canonical event type of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    /// Longer than any event type may be ([`MAX_EVENT_TYPE_LEN`]).
    #[error(transparent)]
    TooLong(Invalid),
    /// Not a canonical event type of the catalog.
    #[error("event type {} is not in the catalog", quote(.0))]
    Unknown(String),
}

/// A canonical event type: the name the catalog files it under (producers
/// publish under it; each version may render it under another name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct EventType(String);
string_newtype!(EventType);

impl EventType {
    /// `raw` if it is a canonical event type of `catalog`; `field` names it
    /// in errors.
    pub fn parse(
        catalog: &Catalog,
        field: &'static str,
        raw: &str,
    ) -> Result<Self, EventTypeError> {
        max_chars(field, raw, MAX_EVENT_TYPE_LEN).map_err(EventTypeError::TooLong)?;
        match catalog.event(raw) {
            Some(def) => Ok(Self(def.event_type.clone())),
            None => Err(EventTypeError::Unknown(raw.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let ok = EndpointUrl::parse("https://example.com/hook?x=1", false).unwrap();
        assert_eq!(ok.as_str(), "https://example.com/hook?x=1", "kept as given");
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#""https://example.com/hook?x=1""#
        );
        assert!(EndpointUrl::parse("http://example.com/hook", false).is_err());
        assert!(EndpointUrl::parse("http://example.com/hook", true).is_ok());
        assert!(EndpointUrl::parse("https://user:pw@example.com/", false).is_err());
        assert!(EndpointUrl::parse("https://example.com/#frag", false).is_err());
        assert!(EndpointUrl::parse("ftp://example.com/", true).is_err());
        assert!(EndpointUrl::parse("/relative", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        let e = EndpointUrl::parse(&long, false).unwrap_err();
        assert_eq!(e.to_string(), "url: must be at most 2048 bytes");
    }

    #[test]
    fn api_versions_are_the_catalogs() {
        let catalog = Catalog::builtin();
        let current = ApiVersion::current(&catalog);
        assert_eq!(
            ApiVersion::parse(&catalog, "apiVersion", current.as_str()).unwrap(),
            current
        );
        assert_eq!(
            ApiVersion::parse(&catalog, "apiVersion", "1999-01-01").unwrap_err(),
            ApiVersionError::Unknown("1999-01-01".into())
        );
        let e = ApiVersion::parse(&catalog, "apiVersion", &"9".repeat(65)).unwrap_err();
        assert_eq!(e.to_string(), "apiVersion: must be at most 64 characters");
    }

    #[test]
    fn event_types_are_canonical_names() {
        let catalog = Catalog::builtin();
        let t = EventType::parse(&catalog, "eventType", "extract_run.processed").unwrap();
        assert_eq!(t, "extract_run.processed");
        assert!(matches!(
            EventType::parse(&catalog, "eventType", "nope.nope"),
            Err(EventTypeError::Unknown(_))
        ));
        assert!(matches!(
            EventType::parse(&catalog, "eventType", &"x".repeat(129)),
            Err(EventTypeError::TooLong(_))
        ));
    }
}
