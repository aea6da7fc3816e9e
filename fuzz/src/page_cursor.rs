//! Page cursors (`nextPageToken`, `hookrelay_core::cursor`).
//!
//! The first byte picks the direction; the rest is used twice:
//!
//! - as a token, which `decode` must survive; a token it accepts must be
//!   canonical (`encode` gives back the very same string), so one page has
//!   one cursor;
//! - as an id: for every id a list can end on (1 to 200 bytes),
//!   `decode(encode(id)) == id`, and the token is refused for the other
//!   direction.

use hookrelay_core::cursor::{decode, encode, SortDir};

use super::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (dir, other) = if input.bool() {
        (SortDir::Asc, SortDir::Desc)
    } else {
        (SortDir::Desc, SortDir::Asc)
    };
    let rest = input.rest();
    let text = String::from_utf8_lossy(rest);

    if let Some(id) = decode(&text, dir) {
        assert!(!id.is_empty() && id.len() <= 200, "decoded {id:?}");
        assert_eq!(encode(&id, dir), text, "two tokens for one cursor");
        assert_eq!(decode(&text, other), None);
    }

    let id = text.as_ref();
    let token = encode(id, dir);
    if (1..=200).contains(&id.len()) {
        assert_eq!(decode(&token, dir).as_deref(), Some(id));
        assert_eq!(decode(&token, other), None);
    } else {
        assert_eq!(decode(&token, dir), None);
    }
}
