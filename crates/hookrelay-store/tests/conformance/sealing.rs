//! Secrets at rest (`hookrelay_store::crypt`): what every backend promises
//! with a keyring (the suite's stores all have one), and, per backend, what
//! is really in the database: no secret in plaintext, values bound to their
//! rows, plaintext rows sealed, rows re-sealed under a new key, and a
//! missing key named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hookrelay_core::model::Endpoint;
use hookrelay_core::secret::Secret;
use hookrelay_store::crypt::{Crypt, Reseal};
use hookrelay_store::postgres::PostgresStore;
use hookrelay_store::sqlite::SqliteStore;
use hookrelay_store::Store;

use crate::backends::{keys, PgSchema};
use crate::support::*;

const SECRET: &str = "wss_sealing_test_secret_5b1d0c9e7a";
const PREVIOUS: &str = "wss_sealing_test_previous_41c7e2";
const HEADER_VALUE: &str = "Bearer sealing-test-header-value-9f3a";

/// An endpoint with a previous secret and a custom header.
fn secret_endpoint(
    ws: &hookrelay_core::ids::WorkspaceId,
    at: hookrelay_core::time::Timestamp,
) -> Endpoint {
    let mut e = endpoint(ws, at);
    e.secrets.secret = Secret::new(SECRET.into());
    e.secrets.previous = Some(Secret::new(PREVIOUS.into()));
    e.secrets.previous_until = Some(t(HOUR));
    e.advanced_options.headers = Some(BTreeMap::from([
        ("Authorization".to_owned(), HEADER_VALUE.to_owned()),
        ("X-Tenant".to_owned(), "t-1".to_owned()),
    ]));
    e
}

pub async fn endpoint_secrets_and_headers_read_back_from_sealed_rows(store: Arc<dyn Store>) {
    let ws = workspace(&*store, "acme").await;
    let e = secret_endpoint(&ws, t(0));
    store.insert_endpoint(&e, None).await.unwrap();
    assert_eq!(get_endpoint(&*store, &e).await, e);
    let (eps, _) = store.load_routing(None).await.unwrap();
    assert_eq!(eps, vec![e.clone()]);
    let listed = store
        .list_endpoints(&ws, &Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![e.clone()]);

    // An update seals the new values too.
    let mut changed = e.clone();
    changed.secrets.secret = Secret::new("wss_rotated_secret".into());
    changed.updated_at = t(1);
    assert!(store.update_endpoint(&changed, e.updated_at).await.unwrap());
    assert_eq!(get_endpoint(&*store, &e).await, changed);

    let census = store.sealing().await.unwrap();
    let key = store.sealing_key().expect("the suite's stores have keys");
    assert_eq!(census.rows, 1);
    assert_eq!(census.plaintext, 0);
    assert_eq!(census.whole.get(&key), Some(&1));
    // Nothing to do: every row is under the newest key.
    assert_eq!(store.reseal(Reseal::All).await.unwrap(), 0);
}

pub async fn a_server_key_reads_back_from_a_sealed_row(store: Arc<dyn Store>) {
    let k = store
        .server_key("payload_urls", vec![42; 32])
        .await
        .unwrap();
    assert_eq!(k, vec![42; 32]);
    assert_eq!(store.server_key("payload_urls", vec![1]).await.unwrap(), k);
    let census = store.sealing().await.unwrap();
    assert_eq!((census.rows, census.plaintext), (1, 0));
}

/// One database, opened as often as a test likes with the keys it likes,
/// and read behind the store's back.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Db {
    fn path(dir: &Path) -> PathBuf {
        dir.join("hookrelay.db")
    }

    async fn open(&self, crypt: Crypt) -> Arc<dyn Store> {
        match self {
            Db::Sqlite(dir) => Arc::new(
                SqliteStore::open(&Self::path(dir.path()))
                    .unwrap()
                    .with_crypt(crypt),
            ),
            Db::Postgres(schema) => {
                let s: PostgresStore = schema.connect().await;
                Arc::new(s.with_crypt(crypt))
            }
        }
    }

    /// Everything stored, as text: the SQLite files (database and WAL)
    /// byte for byte, or PostgreSQL's secret columns.
    async fn raw(&self) -> String {
        match self {
            Db::Sqlite(dir) => {
                let mut all = Vec::new();
                for suffix in ["", "-wal"] {
                    let mut p = Self::path(dir.path()).into_os_string();
                    p.push(suffix);
                    if let Ok(b) = std::fs::read(&p) {
                        all.extend(b);
                    }
                }
                String::from_utf8_lossy(&all).into_owned()
            }
            Db::Postgres(schema) => {
                let c = schema.client().await;
                c.batch_execute(&format!("SET search_path TO {}", schema.name))
                    .await
                    .unwrap();
                let mut out = String::new();
                for r in c
                    .query(
                        "SELECT secret, COALESCE(previous_secret, ''), advanced_options FROM endpoints",
                        &[],
                    )
                    .await
                    .unwrap()
                {
                    for i in 0..3 {
                        out.push_str(r.get::<_, &str>(i));
                        out.push('\n');
                    }
                }
                for r in c
                    .query("SELECT encode(key, 'escape') FROM server_keys", &[])
                    .await
                    .unwrap()
                {
                    out.push_str(r.get::<_, &str>(0));
                    out.push('\n');
                }
                for r in c
                    .query("SELECT request_headers FROM attempts", &[])
                    .await
                    .unwrap()
                {
                    out.push_str(r.get::<_, &str>(0));
                    out.push('\n');
                }
                out
            }
        }
    }

    /// Copies endpoint `from`'s stored secret onto endpoint `to`.
    async fn copy_secret(&self, from: &str, to: &str) {
        let sql = "UPDATE endpoints SET secret = (SELECT secret FROM endpoints WHERE id = $1) WHERE id = $2";
        match self {
            Db::Sqlite(dir) => {
                let c = rusqlite::Connection::open(Self::path(dir.path())).unwrap();
                c.execute(&sql.replace('$', "?"), [from, to]).unwrap();
            }
            Db::Postgres(schema) => {
                let c = schema.client().await;
                c.batch_execute(&format!("SET search_path TO {}", schema.name))
                    .await
                    .unwrap();
                c.execute(sql, &[&from, &to]).await.unwrap();
            }
        }
    }
}

impl Db {
    /// Makes the database forget the last migration it applied, so the
    /// next open applies it again (to test it on rows of one's choosing).
    async fn forget_last_migration(&self) {
        match self {
            Db::Sqlite(dir) => {
                let c = rusqlite::Connection::open(Self::path(dir.path())).unwrap();
                let v: i64 = c
                    .query_row("PRAGMA user_version", [], |r| r.get(0))
                    .unwrap();
                c.execute_batch(&format!("PRAGMA user_version = {}", v - 1))
                    .unwrap();
            }
            Db::Postgres(schema) => {
                let c = schema.client().await;
                c.batch_execute(&format!(
                    "DELETE FROM {}.hookrelay_migrations WHERE version = \
                     (SELECT MAX(version) FROM {}.hookrelay_migrations)",
                    schema.name, schema.name
                ))
                .await
                .unwrap();
            }
        }
    }
}

async fn close(store: Arc<dyn Store>) {
    store.close().await;
    drop(store);
}

/// The whole life of secrets at rest on one database: written in
/// plaintext (before keys), sealed by a start with key A, unreadable and
/// named with key B alone, re-sealed under B with [B, A], readable with B
/// alone; a sealed value moved to another row does not open.
async fn secrets_at_rest_life(db: Db) {
    let (a, b) = (keys(&[0xa1]), keys(&[0xb2]));
    let a_id = a.newest_id().unwrap().to_owned();
    let b_id = b.newest_id().unwrap().to_owned();

    // Before keys: plaintext, as an older version wrote it.
    let store = db.open(Crypt::none()).await;
    let ws = workspace(&*store, "acme").await;
    let e = secret_endpoint(&ws, t(0));
    store.insert_endpoint(&e, None).await.unwrap();
    let other = add_endpoint(&*store, &ws, t(1)).await;
    let url_key = store
        .server_key(
            "payload_urls",
            b"server-key-bytes-0123456789abcdef".to_vec(),
        )
        .await
        .unwrap();
    close(store).await;
    assert!(
        db.raw().await.contains(SECRET),
        "the plaintext starting point"
    );

    // A start with key A seals what is in plaintext.
    let store = db.open(a.clone()).await;
    let census = store.sealing().await.unwrap();
    assert_eq!((census.rows, census.plaintext), (3, 3));
    assert!(census.missing_keys(a.keys().unwrap()).is_empty());
    assert_eq!(store.reseal(Reseal::Plaintext).await.unwrap(), 3);
    assert_eq!(get_endpoint(&*store, &e).await, e);
    assert_eq!(
        store.server_key("payload_urls", vec![]).await.unwrap(),
        url_key
    );
    let census = store.sealing().await.unwrap();
    assert_eq!((census.plaintext, census.whole.get(&a_id)), (0, Some(&3)));
    close(store).await;
    let raw = db.raw().await;
    for secret in [SECRET, PREVIOUS, HEADER_VALUE, "server-key-bytes"] {
        assert!(!raw.contains(secret), "{secret} is stored in plaintext");
    }
    assert!(raw.contains("Authorization"), "header names stay readable");

    // Key B alone: the rows name the key they need; reading fails.
    let store = db.open(b.clone()).await;
    let census = store.sealing().await.unwrap();
    assert_eq!(census.missing_keys(b.keys().unwrap()), vec![a_id.clone()]);
    let err = store
        .get_endpoint(&ws, &e.id)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&a_id) && err.contains("not configured"),
        "{err}"
    );
    assert!(!err.contains(SECRET));
    close(store).await;

    // [B, A]: everything opens; a rotation re-seals it all under B.
    let store = db.open(keys(&[0xb2, 0xa1])).await;
    assert_eq!(get_endpoint(&*store, &e).await, e);
    assert_eq!(store.reseal(Reseal::Plaintext).await.unwrap(), 0);
    assert_eq!(store.reseal(Reseal::All).await.unwrap(), 3);
    let census = store.sealing().await.unwrap();
    assert_eq!(census.whole.get(&b_id), Some(&3));
    assert_eq!(census.by_key.get(&a_id), None);
    close(store).await;

    // B alone reads everything.
    let store = db.open(b.clone()).await;
    assert_eq!(get_endpoint(&*store, &e).await, e);
    assert_eq!(get_endpoint(&*store, &other).await, other);
    assert_eq!(
        store.server_key("payload_urls", vec![]).await.unwrap(),
        url_key
    );
    close(store).await;

    // A sealed value copied onto another row does not open there.
    db.copy_secret(e.id.as_str(), other.id.as_str()).await;
    let store = db.open(b).await;
    let err = store
        .get_endpoint(&ws, &other.id)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not open"), "{err}");
    assert_eq!(get_endpoint(&*store, &e).await, e);
    close(store).await;
}

/// The migration that redacts history: attempts recorded with a custom
/// header's value (as earlier versions did) show `***` after it, by the
/// endpoint's header names, any case; other headers and endpoints stay.
async fn history_redaction_migration(db: Db) {
    let store = db.open(Crypt::none()).await;
    let ws = workspace(&*store, "acme").await;
    let e = secret_endpoint(&ws, t(0));
    store.insert_endpoint(&e, None).await.unwrap();
    let plain = add_endpoint(&*store, &ws, t(1)).await;
    let (_, ids) = publish(&*store, &ws, t(SEC), &[&e, &plain]).await;
    let mut outcomes = Vec::new();
    for (id, ep) in ids.iter().zip([&e, &plain]) {
        let mut o = outcome(
            id,
            &ep.id,
            t(2 * SEC),
            Some(200),
            hookrelay_core::model::DeliveryStatus::Succeeded,
            1,
            None,
        );
        let a = o.attempt.as_mut().unwrap();
        a.request_headers
            .push(("authorization".into(), HEADER_VALUE.into()));
        a.request_headers.push(("x-tenant".into(), "t-1".into()));
        outcomes.push(o);
    }
    store.record_outcomes(outcomes).await.unwrap();
    close(store).await;
    db.forget_last_migration().await;

    let store = db.open(keys(&[3])).await;
    let headers = |d: &(
        hookrelay_core::model::Delivery,
        Vec<hookrelay_core::model::Attempt>,
    )| { d.1[0].request_headers.clone() };
    let redacted = headers(&get_delivery(&*store, &ws, &ids[0]).await);
    assert_eq!(
        redacted[0],
        ("content-type".into(), "application/json".into())
    );
    assert!(
        redacted.contains(&("authorization".into(), "***".into())),
        "{redacted:?}"
    );
    assert!(
        redacted.contains(&("x-tenant".into(), "***".into())),
        "{redacted:?}"
    );
    assert_eq!(redacted.len(), 4, "nothing added or lost: {redacted:?}");
    let kept = headers(&get_delivery(&*store, &ws, &ids[1]).await);
    assert!(
        kept.contains(&("authorization".into(), HEADER_VALUE.into())),
        "{kept:?}"
    );
    close(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history_redaction_migration() {
    history_redaction_migration(Db::Sqlite(tempfile::tempdir().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_redaction_migration() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    history_redaction_migration(Db::Postgres(schema)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_secrets_at_rest_life() {
    secrets_at_rest_life(Db::Sqlite(tempfile::tempdir().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_secrets_at_rest_life() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    secrets_at_rest_life(Db::Postgres(schema)).await;
}

/// Files SQLite keeps are this user's alone.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_creates_a_private_directory_and_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data/nested");
    let db = data.join("hookrelay.db");
    let store = SqliteStore::open(&db).unwrap().with_crypt(keys(&[1]));
    let ws = workspace(&store, "acme").await;
    add_endpoint(&store, &ws, t(0)).await;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        assert_eq!(mode(Path::new(&p)), 0o600, "{suffix}");
    }
    store.close().await;
    drop(store);

    // An existing database open to others is narrowed.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(mode(&db), 0o600);
    store.close().await;
}
