//! Checks on user input that do not need the database, and the input limits
//! themselves: custom headers, retry schedules, the longest
//! accepted string of each kind, and how deeply a JSON body may nest. Each
//! check returns a message fit for an API error that names the field and
//! the limit, and quotes no more of the input than [`MAX_QUOTED_CHARS`].
//!
//! Lengths are counted in characters (Unicode scalar values, as JSON Schema's
//! `maxLength` counts them), except where a limit says bytes.

use std::collections::BTreeMap;

/// Longest accepted endpoint URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest display name: endpoints, workspaces, API keys, and a v1
/// webhook's `description` (which becomes its name).
pub const MAX_NAME_LEN: usize = 256;
/// Longest event type name (`eventType`, entries of `enabledEvents`).
pub const MAX_EVENT_TYPE_LEN: usize = 128;
/// Most entries in an `enabledEvents` (or v1 `events`) list.
pub const MAX_ENABLED_EVENTS: usize = 256;
/// Longest `apiVersion`.
pub const MAX_API_VERSION_LEN: usize = 64;
/// Longest `resource.type` of a published event.
pub const MAX_RESOURCE_TYPE_LEN: usize = 64;
/// Longest resource id (`resource.id`, a subscription's `resourceId`).
pub const MAX_RESOURCE_ID_LEN: usize = 256;
/// Longest idempotency key (`idempotencyKey` or `Idempotency-Key`), in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Longest id given in a body or a query string (`webhookEndpointId`,
/// `webhook_id`, …); every id hookrelay makes is far shorter.
pub const MAX_ID_LEN: usize = 128;
/// Longest time given as text (`since`, `until`: RFC 3339).
pub const MAX_TIME_LEN: usize = 64;
/// Longest `nextPageToken`; the tokens hookrelay hands out are far shorter.
pub const MAX_PAGE_TOKEN_LEN: usize = 512;
/// Longest custom header name, in bytes.
pub const MAX_HEADER_NAME_LEN: usize = 256;
/// Longest custom header value, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;
/// Shortest and longest caller-chosen v1 webhook secret.
pub const MIN_SECRET_LEN: usize = 16;
pub const MAX_SECRET_LEN: usize = 256;
/// Most retries in a retry schedule, and the longest delay (7 days).
pub const MAX_RETRIES: usize = 20;
pub const MAX_RETRY_DELAY_SECS: u32 = 7 * 86_400;
/// Deepest nesting of arrays and objects in a JSON request body. serde_json
/// limits nesting when it builds values, but not inside the raw values kept
/// byte for byte (`payload`, `previousData`, batch items), so bodies are
/// measured before they are parsed ([`json_depth`]). A payload sits at least
/// one level inside its body, so it nests at most 127 deep: within what
/// serde_json parses when a version's rules rewrite it (`render`).
pub const MAX_JSON_DEPTH: usize = 128;
/// The most of an input an error message quotes.
pub const MAX_QUOTED_CHARS: usize = 64;

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

/// Whether `s` has more than `max` characters (without counting them when
/// its length in bytes already says it has not).
fn longer_than(s: &str, max: usize) -> bool {
    s.len() > max && s.chars().count() > max
}

/// At most `max` characters.
pub fn max_chars(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if longer_than(value, max) {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// 1 to `max` characters, not all blank.
pub fn required_chars(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.trim().is_empty() || longer_than(value, max) {
        return Err(invalid(field, format!("must be 1 to {max} characters")));
    }
    Ok(())
}

/// An event type list (`enabledEvents`): at most [`MAX_ENABLED_EVENTS`]
/// entries of at most [`MAX_EVENT_TYPE_LEN`] characters.
pub fn event_types(field: &'static str, names: &[String]) -> Result<(), Invalid> {
    if names.len() > MAX_ENABLED_EVENTS {
        return Err(invalid(
            field,
            format!("must hold at most {MAX_ENABLED_EVENTS} event types"),
        ));
    }
    if names.iter().any(|n| longer_than(n, MAX_EVENT_TYPE_LEN)) {
        return Err(invalid(
            field,
            format!("each event type must be at most {MAX_EVENT_TYPE_LEN} characters"),
        ));
    }
    Ok(())
}

/// `s` in double quotes for an error message, cut to [`MAX_QUOTED_CHARS`]
/// characters (with `…` when cut), so a message never echoes a huge input.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        None => format!("{s:?}"),
        Some((end, _)) => format!("{:?}…", &s[..end]),
    }
}

/// `message` cut to at most `max` characters (with `…` when cut).
pub fn truncate_message(mut message: String, max: usize) -> String {
    if let Some((end, _)) = message.char_indices().nth(max) {
        message.truncate(end);
        message.push('…');
    }
    message
}

/// The deepest nesting of arrays and objects in the JSON text `json`, or the
/// first depth above `stop_above` (the scan stops there).
///
/// One linear pass, no allocation: brackets inside strings (escapes
/// included) do not count, and nothing else is checked — the text is parsed
/// afterwards, and a malformed one is refused then. Runs on every request
/// body, so it has to cost far less than the parse.
pub fn json_depth(json: &[u8], stop_above: usize) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => {
                // Most of a body is string contents: jump from quote or
                // backslash to the next with memchr's vectorised search.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', json.get(i..).unwrap_or(&[])) {
                        Some(at) if json[i + at] == b'"' => {
                            i += at;
                            break;
                        }
                        Some(at) => i += at + 2,
                        None => {
                            i = json.len();
                            break;
                        }
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > deepest {
                    deepest = depth;
                    if deepest > stop_above {
                        return deepest;
                    }
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// A JSON body nests at most [`MAX_JSON_DEPTH`] arrays and objects deep.
pub fn json_nesting(json: &[u8]) -> Result<(), Invalid> {
    if json_depth(json, MAX_JSON_DEPTH) > MAX_JSON_DEPTH {
        return Err(invalid(
            "body",
            format!("JSON nests deeper than the limit of {MAX_JSON_DEPTH} arrays and objects"),
        ));
    }
    Ok(())
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Custom headers sent with every delivery: valid names of at most
/// [`MAX_HEADER_NAME_LEN`] bytes that hookrelay does not set itself, and
/// printable values of at most [`MAX_HEADER_VALUE_LEN`] bytes. How many an
/// endpoint may have is a quota, checked by the API.
pub fn custom_headers(headers: &BTreeMap<String, String>) -> Result<(), Invalid> {
    const FIELD: &str = "advancedOptions.headers";
    for (name, value) in headers {
        if name.len() > MAX_HEADER_NAME_LEN {
            return Err(invalid(
                FIELD,
                format!("header names must be at most {MAX_HEADER_NAME_LEN} bytes"),
            ));
        }
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(invalid(
                FIELD,
                format!("{} is not a valid header name", quote(name)),
            ));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(invalid(
                FIELD,
                format!(
                    "{} is set by hookrelay and cannot be overridden",
                    quote(name)
                ),
            ));
        }
        if value.len() > MAX_HEADER_VALUE_LEN {
            return Err(invalid(
                FIELD,
                format!(
                    "the value of {} must be at most {MAX_HEADER_VALUE_LEN} bytes",
                    quote(name)
                ),
            ));
        }
        if !value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err(invalid(
                FIELD,
                format!(
                    "the value of {} must be printable ASCII without line breaks",
                    quote(name)
                ),
            ));
        }
    }
    Ok(())
}

/// A per-endpoint retry schedule: at most [`MAX_RETRIES`] delays of 1 s to
/// [`MAX_RETRY_DELAY_SECS`].
pub fn retry_schedule(schedule: &[u32]) -> Result<(), Invalid> {
    if schedule.len() > MAX_RETRIES {
        return Err(invalid(
            "retrySchedule",
            format!("at most {MAX_RETRIES} retries"),
        ));
    }
    if schedule.iter().any(|&s| s == 0 || s > MAX_RETRY_DELAY_SECS) {
        return Err(invalid(
            "retrySchedule",
            format!("each delay must be 1 to {MAX_RETRY_DELAY_SECS} seconds"),
        ));
    }
    Ok(())
}

/// A display name: 1 to [`MAX_NAME_LEN`] characters.
pub fn name(name: &str) -> Result<(), Invalid> {
    required_chars("name", name, MAX_NAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn lengths_name_the_field_and_the_limit() {
        assert!(max_chars("eventType", &"a".repeat(128), 128).is_ok());
        let e = max_chars("eventType", &"a".repeat(129), 128).unwrap_err();
        assert_eq!(e.to_string(), "eventType: must be at most 128 characters");
        // Characters, not bytes.
        assert!(max_chars("name", &"é".repeat(128), 128).is_ok());
        assert!(max_chars("name", &"é".repeat(129), 128).is_err());
        assert!(required_chars("resourceId", " ", 256).is_err());
        assert!(name(&"n".repeat(MAX_NAME_LEN)).is_ok());
        let e = name(&"n".repeat(MAX_NAME_LEN + 1)).unwrap_err();
        assert!(e.to_string().contains("256"), "{e}");
    }

    #[test]
    fn event_type_lists_are_bounded() {
        let ok = vec!["a.b".to_owned(); MAX_ENABLED_EVENTS];
        assert!(event_types("enabledEvents", &ok).is_ok());
        let many = vec!["a.b".to_owned(); MAX_ENABLED_EVENTS + 1];
        let e = event_types("enabledEvents", &many).unwrap_err();
        assert!(e.to_string().contains("256"), "{e}");
        let long = vec!["x".repeat(MAX_EVENT_TYPE_LEN + 1)];
        let e = event_types("enabledEvents", &long).unwrap_err();
        assert!(e.to_string().contains("128"), "{e}");
    }

    #[test]
    fn messages_quote_little_of_a_huge_input() {
        let huge = "h".repeat(100_000);
        let mut h = BTreeMap::new();
        h.insert("X-Ok".to_owned(), huge.clone());
        let e = custom_headers(&h).unwrap_err().to_string();
        assert!(e.contains("4096"), "{e}");
        let mut h = BTreeMap::new();
        h.insert(format!("bad name {huge}"), "v".to_owned());
        let e = custom_headers(&h).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
        let mut h = BTreeMap::new();
        h.insert(format!("bad name {}", &huge[..200]), "v".to_owned());
        let e = custom_headers(&h).unwrap_err().to_string();
        assert!(e.len() < 200 && e.contains('…'), "{e}");
        assert_eq!(quote("short"), "\"short\"");
        assert_eq!(quote(&"é".repeat(70)), format!("{:?}…", "é".repeat(64)));
        assert_eq!(truncate_message("abcdef".into(), 3), "abc…");
        assert_eq!(truncate_message("abc".into(), 3), "abc");
    }

    #[test]
    fn json_depth_counts_arrays_and_objects_outside_strings() {
        assert_eq!(json_depth(b"1", usize::MAX), 0);
        assert_eq!(json_depth(b"[]", usize::MAX), 1);
        assert_eq!(json_depth(br#"{"a":[{"b":[]}],"c":{}}"#, usize::MAX), 4);
        assert_eq!(json_depth(br#"{"[[[{{{":"]]]}}}"}"#, usize::MAX), 1);
        assert_eq!(json_depth(br#"["\"[[[", ["\\"]]"#, usize::MAX), 2);
        assert_eq!(json_depth(br#"["\u005b[", "\\\"["]"#, usize::MAX), 1);
        // An unterminated string or a trailing backslash does not overrun.
        assert_eq!(json_depth(br#"["abc\"#, usize::MAX), 1);
        assert_eq!(json_depth(br#"[""#, usize::MAX), 1);
        assert_eq!(
            json_depth(br#"["[[[[{{"#, usize::MAX),
            1,
            "still in the string"
        );
        // The scan stops at the first depth over the limit.
        let deep = "[".repeat(100_000);
        assert_eq!(json_depth(deep.as_bytes(), 128), 129);
    }

    #[test]
    fn json_nesting_allows_128_and_refuses_129() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(json_nesting(nested(MAX_JSON_DEPTH).as_bytes()).is_ok());
        let e = json_nesting(nested(MAX_JSON_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(e.to_string().contains("128"), "{e}");
        // serde_json builds values at most one level shallower: a payload,
        // one level inside the body, always parses.
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_JSON_DEPTH - 1)).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_JSON_DEPTH)).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        /// Strings full of what could fool a scanner: brackets, quotes,
        /// backslashes, control characters (escaped when serialized).
        fn tricky() -> impl Strategy<Value = String> {
            prop_oneof![
                "[\\[\\]{}\"\\\\/ a\u{e9}\u{1F600}\n\t\u{0}]{0,12}",
                any::<String>(),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                tricky().prop_map(Value::String),
            ];
            leaf.prop_recursive(24, 200, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec((tricky(), inner), 0..5)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn depth(v: &Value) -> usize {
            match v {
                Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
                Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }

        /// `levels` nested arrays/objects (`true` = object) around `leaf`,
        /// with a string sibling full of brackets at every level.
        fn nest(levels: &[(bool, String)], leaf: &Value) -> Value {
            levels
                .iter()
                .rev()
                .fold(leaf.clone(), |inner, (object, key)| {
                    if *object {
                        let mut m = serde_json::Map::new();
                        m.insert(key.clone(), inner);
                        m.insert(format!("{key}]"), Value::String(key.clone()));
                        Value::Object(m)
                    } else {
                        Value::Array(vec![Value::String(key.clone()), inner])
                    }
                })
        }

        proptest! {
            #[test]
            fn json_depth_agrees_with_serde_json(v in value(), pretty in any::<bool>()) {
                let text = if pretty {
                    serde_json::to_vec_pretty(&v).unwrap()
                } else {
                    serde_json::to_vec(&v).unwrap()
                };
                prop_assert_eq!(json_depth(&text, usize::MAX), depth(&v));
            }

            #[test]
            fn a_payload_in_a_body_within_the_limit_is_one_serde_json_parses(
                levels in prop::collection::vec((any::<bool>(), tricky()), 100..160),
                leaf in value(),
            ) {
                let payload = nest(&levels, &leaf);
                let text = serde_json::to_vec(&payload).unwrap();
                prop_assert_eq!(json_depth(&text, usize::MAX), depth(&payload));
                let mut body = br#"{"eventType":"x","payload":"#.to_vec();
                body.extend_from_slice(&text);
                body.push(b'}');
                let parsed = serde_json::from_slice::<Value>(&text);
                prop_assert_eq!(json_nesting(&body).is_ok(), parsed.is_ok());
            }

            #[test]
            fn json_depth_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                let d = json_depth(&bytes, usize::MAX);
                prop_assert!(d <= bytes.len());
                prop_assert!(json_depth(&bytes, 3) <= 4);
            }
        }
    }

    #[test]
    fn schedules() {
        assert!(retry_schedule(&[1, 60]).is_ok());
        assert!(retry_schedule(&[]).is_ok());
        assert!(retry_schedule(&[0]).is_err());
        assert!(retry_schedule(&[1; 21]).is_err());
    }
}
