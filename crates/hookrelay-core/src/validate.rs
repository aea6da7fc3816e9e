//! Checks on user input that do not need the database: endpoint URLs, custom
//! headers, retry schedules. Each returns a message fit for an API error.

use std::collections::BTreeMap;

/// Longest accepted endpoint URL.
pub const MAX_URL_LEN: usize = 2048;

/// Headers a custom header may not set: the signature headers of every
/// profile and the ones that describe the body or the connection.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "x-extend-request-timestamp",
    "x-extend-request-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-webhook-signature",
];

/// A rejected input, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// An endpoint URL: absolute http(s) (https only unless `allow_http`), no
/// credentials, at most [`MAX_URL_LEN`] bytes. The query string is kept.
pub fn endpoint_url(raw: &str, allow_http: bool) -> Result<url::Url, Invalid> {
    if raw.len() > MAX_URL_LEN {
        return Err(invalid(
            "url",
            format!("must be at most {MAX_URL_LEN} characters"),
        ));
    }
    let url = url::Url::parse(raw)
        .map_err(|e| invalid("url", format!("is not an absolute URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(invalid(
                "url",
                "must use https (http is allowed only in dev mode)",
            ))
        }
        other => return Err(invalid("url", format!("scheme {other:?} is not http(s)"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url", "must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("url", "must not contain credentials"));
    }
    if url.fragment().is_some() {
        return Err(invalid("url", "must not contain a fragment"));
    }
    Ok(url)
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Custom headers sent with every delivery.
pub fn custom_headers(headers: &BTreeMap<String, String>) -> Result<(), Invalid> {
    if headers.len() > 50 {
        return Err(invalid("advancedOptions.headers", "at most 50 headers"));
    }
    for (name, value) in headers {
        if name.is_empty() || name.len() > 256 || !name.bytes().all(is_token_char) {
            return Err(invalid(
                "advancedOptions.headers",
                format!("{name:?} is not a valid header name"),
            ));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(invalid(
                "advancedOptions.headers",
                format!("{name:?} is set by hookrelay and cannot be overridden"),
            ));
        }
        if value.len() > 4096
            || !value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(invalid(
                "advancedOptions.headers",
                format!("the value of {name:?} must be printable ASCII without line breaks"),
            ));
        }
    }
    Ok(())
}

/// A per-endpoint retry schedule: 0–20 delays of 1 s to 7 days.
pub fn retry_schedule(schedule: &[u32]) -> Result<(), Invalid> {
    if schedule.len() > 20 {
        return Err(invalid("retrySchedule", "at most 20 retries"));
    }
    if schedule.iter().any(|&s| s == 0 || s > 7 * 86_400) {
        return Err(invalid(
            "retrySchedule",
            "each delay must be 1 to 604800 seconds",
        ));
    }
    Ok(())
}

/// A display name: 1–256 characters.
pub fn name(name: &str) -> Result<(), Invalid> {
    if name.trim().is_empty() || name.chars().count() > 256 {
        return Err(invalid("name", "must be 1 to 256 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(endpoint_url("https://example.com/hook?x=1", false).is_ok());
        assert!(endpoint_url("http://example.com/hook", false).is_err());
        assert!(endpoint_url("http://example.com/hook", true).is_ok());
        assert!(endpoint_url("https://user:pw@example.com/", false).is_err());
        assert!(endpoint_url("ftp://example.com/", true).is_err());
        assert!(endpoint_url("/relative", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(endpoint_url(&long, false).is_err());
    }

    #[test]
    fn headers() {
        let mut h = BTreeMap::new();
        h.insert("X-Tenant".to_owned(), "acme".to_owned());
        assert!(custom_headers(&h).is_ok());
        h.insert("X-Extend-Request-Signature".to_owned(), "x".to_owned());
        assert!(custom_headers(&h).is_err());
        let mut h = BTreeMap::new();
        h.insert("Bad Name".to_owned(), "x".to_owned());
        assert!(custom_headers(&h).is_err());
        let mut h = BTreeMap::new();
        h.insert("X-Ok".to_owned(), "line\r\nbreak".to_owned());
        assert!(custom_headers(&h).is_err());
    }

    #[test]
    fn schedules() {
        assert!(retry_schedule(&[1, 60]).is_ok());
        assert!(retry_schedule(&[]).is_ok());
        assert!(retry_schedule(&[0]).is_err());
        assert!(retry_schedule(&[1; 21]).is_err());
    }
}
