//! A submitted HTML form (`application/x-www-form-urlencoded`), read
//! within the body limits every route has, with its fields in order and
//! repeated names kept (checkboxes, multi-selects).

use axum::extract::Request;

use crate::error::ApiResult;
use crate::extract::read_body;
use crate::AppState;

/// The fields of a submitted form.
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Reads a request's body as a form.
    pub(crate) async fn read(req: Request, state: &AppState) -> ApiResult<Self> {
        let body = read_body(req, state.inner.config.max_body_bytes).await?;
        Ok(Self::parse(&body))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "" without one.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_owned()
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_are_kept_in_order_and_decoded() {
        let f = Form::parse(b"csrf=a%2Bb&ev=x.one&name=+My+hook+&ev=y.two");
        assert_eq!(f.get("csrf"), Some("a+b"));
        assert_eq!(f.text("name"), "My hook");
        assert_eq!(f.all("ev").collect::<Vec<_>>(), ["x.one", "y.two"]);
        assert_eq!(f.get("missing"), None);
        assert_eq!(f.text("missing"), "");
    }
}
