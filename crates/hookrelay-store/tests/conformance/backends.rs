//! One factory per backend: each call gives a fresh, empty, migrated store and
//! a guard that keeps (and finally removes) whatever backs it, or `None` when
//! the backend cannot be tested here (the test then skips).
//!
//! PostgreSQL runs when `HOOKRELAY_TEST_POSTGRES_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`): each store gets a schema of
//! its own (`hr_test_<ulid>`, chosen through the URL's `options` parameter
//! and dropped by the guard). Without the variable, or when the server is
//! unreachable, PostgreSQL tests print why and skip, unless
//! `HOOKRELAY_REQUIRE_POSTGRES=1`, in which case they panic (CI sets it so a
//! missing server can never pass for green).

use std::any::Any;
use std::sync::Arc;

use hookrelay_store::postgres::{PostgresOptions, PostgresStore};
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::Store;

/// Keeps a test database alive; dropping it cleans up.
pub type Guard = Box<dyn Any + Send>;

/// A new SQLite database in a temporary directory of its own.
pub async fn sqlite_store() -> Option<(Arc<dyn Store>, Guard)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hookrelay.db")).expect("open sqlite store");
    Some((Arc::new(store), Box::new(dir)))
}

/// A new PostgreSQL store in a schema of its own (see the module docs).
pub async fn postgres_store() -> Option<(Arc<dyn Store>, Guard)> {
    let schema = PgSchema::create().await?;
    let store = schema.connect().await;
    Some((Arc::new(store), Box::new(schema)))
}

fn require_postgres() -> bool {
    std::env::var("HOOKRELAY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Skips (returning `None`) or, when PostgreSQL is required, panics.
fn skip<T>(why: &str) -> Option<T> {
    if require_postgres() {
        panic!("HOOKRELAY_REQUIRE_POSTGRES=1 but {why}");
    }
    eprintln!("skipping a PostgreSQL test: {why}");
    None
}

/// A uniquely named, initially empty schema on the test server, dropped
/// (with everything in it) when this is dropped.
pub struct PgSchema {
    /// The server URL as given.
    base_url: String,
    pub name: String,
}

impl PgSchema {
    /// Creates the schema, or skips (see the module docs).
    pub async fn create() -> Option<Self> {
        let Ok(base_url) = std::env::var("HOOKRELAY_TEST_POSTGRES_URL") else {
            return skip("HOOKRELAY_TEST_POSTGRES_URL is not set");
        };
        let name = format!("hr_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        let client = match connect(&base_url).await {
            Ok(c) => c,
            Err(e) => {
                let why =
                    std::error::Error::source(&e).map_or_else(String::new, |s| format!(" ({s})"));
                return skip(&format!("cannot reach {base_url}: {e}{why}"));
            }
        };
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| panic!("create schema {name}: {e:?}"));
        Some(Self { base_url, name })
    }

    /// The server URL with the schema as the connection's search_path.
    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-csearch_path%3D{}",
            self.base_url, self.name
        )
    }

    /// A plain connection to the server, for looking behind the store.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.base_url)
            .await
            .expect("connect to the test server")
    }

    /// A store (one node) on this schema, with a pool small enough for
    /// tests running side by side to stay under the server's connection limit.
    pub async fn connect(&self) -> PostgresStore {
        let options = PostgresOptions { pool_size: 8 };
        PostgresStore::connect_with(&self.url(), options)
            .await
            .unwrap_or_else(|e| panic!("connect to schema {}: {e}", self.name))
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop is synchronous: a short-lived thread with a runtime of its own.
        let (url, name) = (self.base_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let client = connect(&url).await.map_err(|e| e.to_string())?;
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"
                    ))
                    .await
                    .map_err(|e| format!("{e:?}"))
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test schema {}", self.name),
        }
    }
}

/// A plain connection (driven by a task of its own) for schema housekeeping.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(std::time::Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}
