//! The dashboard's stylesheet and script, embedded in the binary (nothing
//! is fetched from elsewhere, so it works offline) and served under
//! `/dashboard/assets/<name>.<hash>.<ext>`: the hash is of the content, so
//! a browser may keep each for a year, and a new build's pages name new
//! files.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// An embedded file.
#[derive(Debug)]
pub struct Asset {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// FNV-1a of `body`: only tells versions apart, guards nothing.
    hash: u64,
}

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

impl Asset {
    const fn new(
        stem: &'static str,
        ext: &'static str,
        content_type: &'static str,
        body: &'static [u8],
    ) -> Self {
        Self {
            stem,
            ext,
            content_type,
            body,
            hash: fnv1a(body),
        }
    }

    fn file_name(&self) -> String {
        format!("{}.{:016x}.{}", self.stem, self.hash, self.ext)
    }

    /// Where pages link to it.
    pub fn href(&self) -> String {
        format!("/dashboard/assets/{}", self.file_name())
    }
}

pub const STYLE: Asset = Asset::new(
    "style",
    "css",
    "text/css; charset=utf-8",
    include_bytes!("assets/style.css"),
);

pub const SCRIPT: Asset = Asset::new(
    "app",
    "js",
    "text/javascript; charset=utf-8",
    include_bytes!("assets/app.js"),
);

const ALL: [&Asset; 2] = [&STYLE, &SCRIPT];

/// `GET /dashboard/assets/{file}`: only the current names are found.
pub async fn serve(Path(file): Path<String>) -> Result<Response, ApiError> {
    let asset = ALL
        .iter()
        .find(|a| a.file_name() == file)
        .ok_or_else(|| ApiError::not_found("asset"))?;
    let mut resp = (StatusCode::OK, asset.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_a_hash_of_the_content() {
        assert!(STYLE.href().starts_with("/dashboard/assets/style."));
        assert!(STYLE.href().ends_with(".css"));
        assert_ne!(STYLE.hash, SCRIPT.hash);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }

    /// Every rule of the style sheet is closed, and rules nest only inside
    /// at-rules such as `@media`: an unclosed block would swallow the rules
    /// after it, which browsers then drop without a word.
    #[test]
    fn the_style_sheet_closes_every_block() {
        let css = std::str::from_utf8(STYLE.body).unwrap();
        let mut open: Vec<(bool, usize)> = Vec::new(); // (an at-rule?, line)
        let mut prelude = String::new();
        let mut line = 1;
        let mut rest = css;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("/*") {
                let end = after.find("*/").expect("a comment is closed");
                line += after[..end].matches('\n').count();
                rest = &after[end + 2..];
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '\n' => {
                    line += 1;
                    prelude.push(' ');
                }
                '{' => {
                    let at_rule = prelude.trim_start().starts_with('@');
                    if let Some(&(false, start)) = open.last() {
                        panic!(
                            "style.css:{line}: a rule inside the rule opened on line {start} \
                             (is a `}}` missing there?)"
                        );
                    }
                    open.push((at_rule, line));
                    prelude.clear();
                }
                '}' => {
                    assert!(
                        open.pop().is_some(),
                        "style.css:{line}: `}}` closes nothing"
                    );
                    prelude.clear();
                }
                ';' => prelude.clear(),
                c => prelude.push(c),
            }
        }
        assert_eq!(open, [], "style.css: blocks left open at the end");
    }
}
