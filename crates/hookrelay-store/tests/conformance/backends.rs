//! One factory per backend: each call gives a fresh, empty, migrated store and
//! a guard that keeps (and finally removes) whatever backs it.
//!
//! A PostgreSQL factory goes here: create a uniquely named schema (or
//! database) on `HOOKRELAY_TEST_POSTGRES_URL`, open the store on it, and return
//! a guard that drops it. It should panic, not skip, when
//! `HOOKRELAY_REQUIRE_POSTGRES=1` and the server is unreachable.

use std::any::Any;
use std::sync::Arc;

use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::Store;

/// Keeps a test database alive; dropping it cleans up.
pub type Guard = Box<dyn Any + Send>;

/// A new SQLite database in a temporary directory of its own.
pub async fn sqlite_store() -> (Arc<dyn Store>, Guard) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hookrelay.db")).expect("open sqlite store");
    (Arc::new(store), Box::new(dir))
}
