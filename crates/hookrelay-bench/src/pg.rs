//! PostgreSQL for `--database-url postgres://…`: every phase gets a fresh
//! schema `bench_<ulid>`, created and dropped (`DROP SCHEMA … CASCADE`)
//! through the store's `ScratchSchema`. The servers are
//! pointed at it by appending `options=-csearch_path%3D<schema>` to the URL,
//! so the migrations the first node applies, and everything the run writes,
//! land in that schema and runs do not see each other's data. (LISTEN/NOTIFY
//! channels are per database, not per schema: concurrent runs on the same
//! database only see each other's change notifications.)

use anyhow::Context;
use hookrelay_store::postgres::scratch::ScratchSchema;

/// `postgres://` or `postgresql://`.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// What the database is, for the header and the JSON.
pub fn kind(url: Option<&str>) -> &'static str {
    match url {
        None => "sqlite",
        Some(u) if is_postgres(u) => "postgres",
        Some(u) if u.starts_with("sqlite:") => "sqlite",
        Some(_) => "other",
    }
}

/// The URL with any password replaced by `***` (for printing).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A schema created for one phase; [`Schema::drop`] removes it.
#[derive(Debug)]
pub struct Schema {
    scratch: ScratchSchema,
    pub name: String,
    /// The URL the servers get: the given one with the schema as search_path.
    pub server_url: String,
}

impl Schema {
    /// Creates a fresh, empty schema on `url`.
    pub async fn create(url: &str) -> anyhow::Result<Schema> {
        let scratch = ScratchSchema::create(url, "bench")
            .await
            .with_context(|| format!("creating the bench schema on {}", redact(url)))?;
        Ok(Schema {
            name: scratch.name().to_owned(),
            server_url: scratch.url(),
            scratch,
        })
    }

    /// Drops the schema with everything in it.
    pub async fn drop(self) -> anyhow::Result<()> {
        self.scratch.remove().await.with_context(|| {
            format!(
                "dropping schema {} on {} (drop it by hand: DROP SCHEMA \"{}\" CASCADE)",
                self.name,
                redact(self.scratch.base_url()),
                self.name
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://hr:s3cret@db:5432/x?a=b"),
            "postgres://hr:***@db:5432/x?a=b"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(kind(Some("postgresql://h/db")), "postgres");
        assert_eq!(kind(None), "sqlite");
    }
}
