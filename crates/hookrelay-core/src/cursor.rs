//! Opaque pagination cursors (`nextPageToken`).
//!
//! A token names the last id of the page it ends and the sort direction it was
//! made for; lists order by id, and ids sort by creation time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Sort direction of a list, by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortDir {
    Asc,
    #[default]
    Desc,
}

impl SortDir {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "asc" => Some(Self::Asc),
            "desc" => Some(Self::Desc),
            _ => None,
        }
    }

    fn tag(self) -> char {
        match self {
            Self::Asc => 'a',
            Self::Desc => 'd',
        }
    }
}

/// Encodes "continue after `last_id`, sorted `dir`".
pub fn encode(last_id: &str, dir: SortDir) -> String {
    URL_SAFE_NO_PAD.encode(format!("1{}{}", dir.tag(), last_id))
}

/// Decodes a token made by [`encode`] for the same direction.
pub fn decode(token: &str, dir: SortDir) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let rest = s.strip_prefix('1')?;
    let mut chars = rest.chars();
    let tag = chars.next()?;
    if tag != dir.tag() {
        return None;
    }
    let id = chars.as_str();
    if id.is_empty() || id.len() > 200 {
        return None;
    }
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(id in "[a-z_0-9A-Z]{1,80}", asc in any::<bool>()) {
            let dir = if asc { SortDir::Asc } else { SortDir::Desc };
            let t = encode(&id, dir);
            prop_assert_eq!(decode(&t, dir), Some(id));
        }

        #[test]
        fn garbage_never_panics(s in ".{0,64}") {
            let _ = decode(&s, SortDir::Asc);
        }
    }

    #[test]
    fn direction_mismatch_is_rejected() {
        let t = encode("x", SortDir::Asc);
        assert_eq!(decode(&t, SortDir::Desc), None);
    }
}
