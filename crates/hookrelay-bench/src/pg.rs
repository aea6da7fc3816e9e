//! PostgreSQL for `--database-url postgres://…`: every phase gets a fresh
//! schema `bench_<nanos>_<pid>`, created and dropped (`DROP SCHEMA … CASCADE`)
//! by a small `tokio-postgres` client on the given URL. The servers are
//! pointed at it by appending `options=-csearch_path%3D<schema>` to the URL,
//! so the migrations the first node applies, and everything the run writes,
//! land in that schema and runs do not see each other's data. (LISTEN/NOTIFY
//! channels are per database, not per schema: concurrent runs on the same
//! database only see each other's change notifications.)

use std::time::Duration;

use anyhow::Context;

use crate::unix_nanos;

/// How long creating or dropping the schema may take.
const TIMEOUT: Duration = Duration::from_secs(30);

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

/// `url` with `options=-csearch_path%3D<schema>` appended to its query.
pub fn with_search_path(url: &str, schema: &str) -> anyhow::Result<String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    anyhow::ensure!(
        !query.split('&').any(|p| p.starts_with("options=")),
        "--database-url already has an `options=` parameter; the bench sets `options=-csearch_path%3D<schema>` itself: remove it"
    );
    let sep = if url.contains('?') {
        if url.ends_with('?') || url.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    Ok(format!("{url}{sep}options=-csearch_path%3D{schema}"))
}

/// A schema created for one phase; [`Schema::drop`] removes it.
#[derive(Debug)]
pub struct Schema {
    /// The URL the bench connects with (as given).
    admin_url: String,
    pub name: String,
    /// The URL the servers get: the given one with the schema as search_path.
    pub server_url: String,
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) =
        tokio::time::timeout(TIMEOUT, tokio_postgres::connect(url, tokio_postgres::NoTls))
            .await
            .with_context(|| format!("connecting to {} timed out", redact(url)))?
            .with_context(|| format!("connecting to {}", redact(url)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl Schema {
    /// Creates a fresh, empty schema on `url`.
    pub async fn create(url: &str) -> anyhow::Result<Schema> {
        let name = format!("bench_{}_{}", unix_nanos(), std::process::id());
        let server_url = with_search_path(url, &name)?;
        let client = connect(url).await?;
        tokio::time::timeout(
            TIMEOUT,
            client.batch_execute(&format!("CREATE SCHEMA \"{name}\"")),
        )
        .await
        .context("creating the bench schema timed out")?
        .with_context(|| format!("creating schema {name} on {}", redact(url)))?;
        Ok(Schema {
            admin_url: url.to_owned(),
            name,
            server_url,
        })
    }

    /// `DROP SCHEMA … CASCADE`, retried a few times (a server killed a moment
    /// ago may still hold a lock until PostgreSQL notices it is gone).
    pub async fn drop(self) -> anyhow::Result<()> {
        let sql = format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.name
        );
        let mut last = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let r = async {
                let client = connect(&self.admin_url).await?;
                tokio::time::timeout(TIMEOUT, client.batch_execute(&sql))
                    .await
                    .context("timed out")?
                    .map_err(anyhow::Error::from)
            }
            .await;
            match r {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("not dropped"))).with_context(|| {
            format!(
                "dropping schema {} on {} (drop it by hand: DROP SCHEMA \"{}\" CASCADE)",
                self.name,
                redact(&self.admin_url),
                self.name
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_goes_into_the_query() {
        assert_eq!(
            with_search_path("postgres://u@h:5432/db", "bench_1").unwrap(),
            "postgres://u@h:5432/db?options=-csearch_path%3Dbench_1"
        );
        assert_eq!(
            with_search_path("postgres://u@h/db?sslmode=disable", "s").unwrap(),
            "postgres://u@h/db?sslmode=disable&options=-csearch_path%3Ds"
        );
        assert!(with_search_path("postgres://h/db?options=-cx%3Dy", "s").is_err());
    }

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
