//! Throwaway schemas for tests and benchmarks: a uniquely named, empty
//! schema on a server, a URL that puts every connection in it (the
//! `options=-csearch_path%3D<schema>` query parameter, so the store's
//! migrations and everything written land there), and its removal with
//! everything in it.
//!
//! [`ScratchSchema::from_test_env`] reads the test suites' convention:
//! `HOOKRELAY_TEST_POSTGRES_URL` names the server; without it, or when the
//! server is unreachable, PostgreSQL tests print why and skip, unless
//! `HOOKRELAY_REQUIRE_POSTGRES=1`, which turns either into a panic (CI sets
//! it, so a missing server can never pass for green).

use std::time::Duration;

use crate::{Result, StoreError};

/// How long connecting, creating or dropping may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// See the module docs. Not dropped automatically: call
/// [`ScratchSchema::remove`] (async) or [`ScratchSchema::remove_blocking`]
/// (from a `Drop`).
#[derive(Debug)]
pub struct ScratchSchema {
    /// The server URL as given.
    base_url: String,
    name: String,
}

impl ScratchSchema {
    /// Creates `<prefix>_<ulid>` on the server at `base_url`.
    pub async fn create(base_url: &str, prefix: &str) -> Result<Self> {
        let query = base_url.split_once('?').map_or("", |(_, q)| q);
        if query.split('&').any(|p| p.starts_with("options=")) {
            return Err(StoreError::Open(
                "the URL already has an `options=` parameter; a scratch schema sets its own search_path"
                    .into(),
            ));
        }
        let name = format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase());
        let client = connect(base_url).await?;
        timed(client.batch_execute(&format!("CREATE SCHEMA \"{name}\""))).await?;
        Ok(Self {
            base_url: base_url.to_owned(),
            name,
        })
    }

    /// A schema on the test server (see the module docs); `None`: skip.
    pub async fn from_test_env(prefix: &str) -> Option<Self> {
        let required = std::env::var("HOOKRELAY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let skip = |why: String| {
            assert!(!required, "HOOKRELAY_REQUIRE_POSTGRES=1 but {why}");
            eprintln!("skipping a PostgreSQL test: {why}");
            None
        };
        let base = match std::env::var("HOOKRELAY_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => return skip("HOOKRELAY_TEST_POSTGRES_URL is not set".into()),
        };
        if let Err(e) = connect(&base).await {
            return skip(format!("cannot reach {base}: {e}"));
        }
        match Self::create(&base, prefix).await {
            Ok(s) => Some(s),
            Err(e) => panic!("creating a schema on {base}: {e}"),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server URL as given (no schema in it).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The server URL with this schema as every connection's search_path.
    pub fn url(&self) -> String {
        let sep = match self.base_url.split_once('?') {
            None => "?",
            Some((_, "")) => "",
            Some(_) if self.base_url.ends_with('&') => "",
            Some(_) => "&",
        };
        format!(
            "{}{sep}options=-csearch_path%3D{}",
            self.base_url, self.name
        )
    }

    /// A connection to the server, for looking behind the store.
    pub async fn client(&self) -> Result<tokio_postgres::Client> {
        connect(&self.base_url).await
    }

    /// `DROP SCHEMA … CASCADE`, tried three times (a server killed a moment
    /// ago may hold a lock until PostgreSQL notices it is gone).
    pub async fn remove(&self) -> Result<()> {
        let sql = format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.name
        );
        let mut last = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let r = async { timed(connect(&self.base_url).await?.batch_execute(&sql)).await };
            match r.await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(StoreError::Closed))
    }

    /// [`ScratchSchema::remove`] from synchronous code (a `Drop` inside a
    /// test's runtime): on a thread with a runtime of its own. Failures are
    /// printed, naming the schema to drop by hand.
    pub fn remove_blocking(&self) {
        let result = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::Open(e.to_string()))?
                    .block_on(self.remove())
            })
            .join()
        });
        if !matches!(result, Ok(Ok(()))) {
            eprintln!(
                "could not drop schema {0} (drop it by hand: DROP SCHEMA \"{0}\" CASCADE)",
                self.name
            );
        }
    }
}

/// A connection (driven by a task of its own, with TLS as the URL says)
/// for schema housekeeping.
async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    match tokio::time::timeout(TIMEOUT, super::connect_client(url)).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::unavailable("connecting timed out")),
    }
}

async fn timed<T>(
    f: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> Result<T> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(StoreError::unavailable(
            "the scratch schema statement timed out",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(base_url: &str, name: &str) -> ScratchSchema {
        ScratchSchema {
            base_url: base_url.into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_search_path_goes_into_the_query() {
        assert_eq!(
            on("postgres://u@h:5432/db", "bench_1").url(),
            "postgres://u@h:5432/db?options=-csearch_path%3Dbench_1"
        );
        assert_eq!(
            on("postgres://u@h/db?sslmode=disable", "s").url(),
            "postgres://u@h/db?sslmode=disable&options=-csearch_path%3Ds"
        );
        assert_eq!(
            on("postgres://u@h/db?", "s").url(),
            "postgres://u@h/db?options=-csearch_path%3Ds"
        );
    }

    #[tokio::test]
    async fn a_url_with_its_own_options_is_refused() {
        let e = ScratchSchema::create("postgres://127.0.0.1:1/db?options=-cx%3Dy", "s")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("options="), "{e}");
    }
}
