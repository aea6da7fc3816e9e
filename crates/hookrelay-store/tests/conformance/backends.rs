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

use hookrelay_store::crypt::{Crypt, Key, Keyring};
use hookrelay_store::postgres::scratch::ScratchSchema;
use hookrelay_store::postgres::{PostgresOptions, PostgresStore};
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::Store;

/// Keeps a test database alive; dropping it cleans up.
pub type Guard = Box<dyn Any + Send>;

/// A keyring of fixed test keys, `n` the first byte of each (newest first).
pub fn keys(n: &[u8]) -> Crypt {
    Crypt::new(Arc::new(
        Keyring::new(n.iter().map(|b| Key::from_bytes(&[*b; 32])).collect()).expect("keys"),
    ))
}

/// The keyring every suite store seals with, so the whole suite runs on
/// sealed secrets.
pub fn suite_keys() -> Crypt {
    keys(&[0x5e])
}

/// A new SQLite database in a temporary directory of its own.
pub async fn sqlite_store() -> Option<(Arc<dyn Store>, Guard)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hookrelay.db"))
        .expect("open sqlite store")
        .with_crypt(suite_keys());
    Some((Arc::new(store), Box::new(dir)))
}

/// A new PostgreSQL store in a schema of its own (see the module docs).
pub async fn postgres_store() -> Option<(Arc<dyn Store>, Guard)> {
    let schema = PgSchema::create().await?;
    let store = schema.connect().await.with_crypt(suite_keys());
    Some((Arc::new(store), Box::new(schema)))
}

/// A uniquely named, initially empty schema on the test server, dropped
/// (with everything in it) when this is dropped.
pub struct PgSchema {
    scratch: ScratchSchema,
    pub name: String,
}

impl PgSchema {
    /// Creates the schema, or skips (see the module docs).
    pub async fn create() -> Option<Self> {
        let scratch = ScratchSchema::from_test_env("hr_test").await?;
        let name = scratch.name().to_owned();
        Some(Self { scratch, name })
    }

    /// The server URL with the schema as the connection's search_path.
    pub fn url(&self) -> String {
        self.scratch.url()
    }

    /// A plain connection to the server, for looking behind the store.
    pub async fn client(&self) -> tokio_postgres::Client {
        self.scratch
            .client()
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
        self.scratch.remove_blocking();
    }
}
