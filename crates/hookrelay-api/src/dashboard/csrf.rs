//! Cross-site request forgery: every form that changes something carries a
//! token in its hidden `csrf` field, and a POST without the right one is
//! refused (403) before anything happens, compared in constant time.
//!
//! A signed-in session's token is its own (`csrf_token`, made with the
//! session). The sign-in form has no session yet: its token is also set as
//! a cookie (`hookrelay_login_csrf`, HttpOnly, SameSite=Strict) and the POST
//! must bring the same value in both, which another site can neither read
//! nor set.

use axum::http::HeaderMap;
use hookrelay_core::secret::{ct_eq_str, generate_token};
use maud::{html, Markup};

use super::session::{cookie, Cookie};

/// The hidden field's name.
pub const FIELD: &str = "csrf";

/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: Cookie = Cookie {
    name: "hookrelay_login_csrf",
    path: "/dashboard/login",
};

/// Whether `given` is `expected` (and `expected` is a real token).
pub fn matches(expected: &str, given: Option<&str>) -> bool {
    match given {
        Some(given) if !expected.is_empty() => ct_eq_str(expected, given),
        _ => false,
    }
}

/// The hidden field carrying `token`.
pub fn field(token: &str) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(token); }
}

/// The sign-in form's token: the browser's, if it has one, else a new one
/// (`true`: set it as the cookie).
pub fn login_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, LOGIN_COOKIE.name) {
        Some(t) if (32..=64).contains(&t.len()) => (t.to_owned(), false),
        _ => (generate_token().expose().to_owned(), true),
    }
}

/// Whether a sign-in POST brought the same token in its cookie and form.
pub fn login_matches(headers: &HeaderMap, given: Option<&str>) -> bool {
    cookie(headers, LOGIN_COOKIE.name).is_some_and(|c| matches(c, given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_exactly() {
        assert!(matches("abc", Some("abc")));
        assert!(!matches("abc", Some("abd")));
        assert!(!matches("abc", Some("ab")));
        assert!(!matches("abc", None));
        assert!(!matches("", Some("")), "an empty token matches nothing");
    }

    #[test]
    fn the_login_token_is_the_cookies_or_new() {
        let mut h = HeaderMap::new();
        let (fresh, set) = login_token(&h);
        assert!(set);
        h.insert(
            "cookie",
            format!("other=1; hookrelay_login_csrf={fresh}")
                .parse()
                .unwrap(),
        );
        assert_eq!(login_token(&h), (fresh.clone(), false));
        assert!(login_matches(&h, Some(&fresh)));
        assert!(!login_matches(&h, Some("forged")));
        assert!(!login_matches(&HeaderMap::new(), Some(&fresh)));
    }
}
