//! TLS to PostgreSQL, against real servers: the test server
//! (`HOOKRELAY_TEST_POSTGRES_URL`, which is expected to have TLS on, as
//! Debian's default snakeoil setup does) for `require` and `disable`, and a
//! private cluster with a CA made here ([`cluster`]) for the verifying modes.
//! Every case opens a [`PostgresStore`], the way `hookrelay serve` does.

mod cluster;

use std::time::Duration;

use hookrelay_core::ids::WorkspaceId;
use hookrelay_core::time::Timestamp;
use hookrelay_store::postgres::scratch::ScratchSchema;
use hookrelay_store::postgres::{connect_client, PostgresOptions, PostgresStore};
use hookrelay_store::{Store, StoreError, Workspace};

use cluster::{Ca, Cluster, SCRAM_PASSWORD};

/// Bounds a connection attempt: a hang fails the test instead.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("did not finish within 30 s")
}

async fn open(url: &str) -> Result<PostgresStore, StoreError> {
    bounded(PostgresStore::connect_with(
        url,
        PostgresOptions { pool_size: 2 },
    ))
    .await
}

/// A unique `application_name`, to find a store's connections in
/// `pg_stat_activity`.
fn app_name() -> String {
    format!("hr_tls_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Whether each server connection named `app` is TLS (`pg_stat_ssl`), asked
/// over `observer`.
async fn tls_of(observer: &tokio_postgres::Client, app: &str) -> Vec<bool> {
    observer
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Proves the store works: writes a workspace and reads it back.
async fn round_trip(store: &PostgresStore) {
    let ws = Workspace {
        id: WorkspaceId::at(1_800_000_000_000),
        name: "tls".into(),
        created_at: Timestamp(1_800_000_000_000),
    };
    bounded(store.create_workspace(&ws)).await.unwrap();
    let back = bounded(store.get_workspace(&ws.id)).await.unwrap();
    assert_eq!(back.map(|w| w.name).as_deref(), Some("tls"));
}

/// `url` with `params` appended to its query.
fn with(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

#[tokio::test]
async fn require_is_tls_and_disable_is_not_on_the_test_server() {
    let Some(schema) = ScratchSchema::from_test_env("hr_tls").await else {
        return;
    };
    let observer = schema.client().await.unwrap();

    let app = app_name();
    let store = open(&with(
        &schema.url(),
        &format!("sslmode=require&application_name={app}"),
    ))
    .await
    .unwrap_or_else(|e| panic!("sslmode=require on the test server (it needs ssl=on): {e}"));
    round_trip(&store).await;
    let tls = tls_of(&observer, &app).await;
    // The pool's connection and the listener's, at least.
    assert!(tls.len() >= 2, "{tls:?}");
    assert!(
        tls.iter().all(|t| *t),
        "sslmode=require made a plain connection: {tls:?}"
    );
    store.close().await;

    let app = app_name();
    let store = open(&with(
        &schema.url(),
        &format!("sslmode=disable&application_name={app}"),
    ))
    .await
    .unwrap();
    round_trip(&store).await;
    let tls = tls_of(&observer, &app).await;
    assert!(tls.len() >= 2, "{tls:?}");
    assert!(
        tls.iter().all(|t| !*t),
        "sslmode=disable made a TLS connection: {tls:?}"
    );
    store.close().await;

    // The same through a single connection, asked from inside it.
    for (mode, expected) in [("require", true), ("disable", false), ("prefer", true)] {
        let client = bounded(connect_client(&with(
            schema.base_url(),
            &format!("sslmode={mode}"),
        )))
        .await
        .unwrap();
        let ssl: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(ssl, expected, "sslmode={mode}");
    }
    drop(observer);
    schema.remove().await.unwrap();
}

/// Whether the store's own connections to the cluster are TLS.
async fn all_tls(cluster: &Cluster, app: &str) -> bool {
    let observer = bounded(connect_client(&cluster.url("127.0.0.1", "sslmode=disable")))
        .await
        .unwrap();
    let tls = tls_of(&observer, app).await;
    assert!(!tls.is_empty(), "no connection named {app}");
    tls.iter().all(|t| *t)
}

#[tokio::test]
async fn the_right_ca_is_accepted() {
    let Some((cluster, ca)) = Cluster::start() else {
        return;
    };
    let root = ca.path.display().to_string();
    let cases = [
        // Chain and name: the certificate is for localhost.
        (
            "localhost",
            format!("sslmode=verify-full&sslrootcert={root}"),
        ),
        // Chain only: any name, even one the certificate lacks.
        ("127.0.0.1", format!("sslmode=verify-ca&sslrootcert={root}")),
        // With a root certificate, require checks the chain (as libpq).
        ("127.0.0.1", format!("sslmode=require&sslrootcert={root}")),
        // No root certificate: encrypted, nothing checked.
        ("127.0.0.1", "sslmode=require".to_owned()),
        ("localhost", "sslmode=prefer".to_owned()),
    ];
    for (host, query) in cases {
        let app = app_name();
        let url = cluster.url(host, &format!("{query}&application_name={app}"));
        let store = open(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        round_trip(&store).await;
        assert!(all_tls(&cluster, &app).await, "{url}: not TLS");
        store.close().await;
    }

    // The key=value form reads the same parameters.
    let app = app_name();
    let keywords = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full \
         sslrootcert='{root}' application_name={app}",
        cluster.port
    );
    let store = open(&keywords)
        .await
        .unwrap_or_else(|e| panic!("{keywords}: {e}"));
    assert!(all_tls(&cluster, &app).await);
    store.close().await;
}

fn open_error(result: Result<PostgresStore, StoreError>, url: &str) -> String {
    match result {
        Ok(_) => panic!("{url}: connected, but should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_wrong_name_or_a_wrong_ca_is_refused_clearly() {
    let Some((cluster, ca)) = Cluster::start() else {
        return;
    };
    let root = ca.path.display().to_string();

    // verify-full checks the name: the certificate is for localhost only.
    let url = cluster.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let e = open_error(open(&url).await, &url);
    assert!(
        e.contains(
            "database TLS: the server's certificate is not valid for the host name \"127.0.0.1\": it is for localhost only"
        ),
        "{e}"
    );

    // Another CA signed nothing the server has.
    let other = Ca::new(cluster.dir(), "other-ca");
    let other_root = other.path.display().to_string();
    for (host, mode) in [
        ("localhost", "verify-full"),
        ("127.0.0.1", "verify-ca"),
        ("127.0.0.1", "require"),
    ] {
        let url = cluster.url(host, &format!("sslmode={mode}&sslrootcert={other_root}"));
        let e = open_error(open(&url).await, &url);
        assert!(
            e.contains(&format!(
                "database TLS: unknown issuer: the server's certificate is not signed by the CA in sslrootcert={other_root}"
            )),
            "sslmode={mode}: {e}"
        );
    }

    // A root file that is not there is named.
    let missing = cluster.dir().join("missing.pem");
    let url = cluster.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", missing.display()),
    );
    let e = open_error(open(&url).await, &url);
    assert!(
        e.contains(&format!("sslrootcert={}", missing.display())),
        "{e}"
    );

    // None of it created anything.
    assert_eq!(
        cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );
}

#[tokio::test]
async fn scram_binds_to_the_tls_channel() {
    let Some((cluster, ca)) = Cluster::start() else {
        return;
    };
    let root = ca.path.display().to_string();
    // channel_binding=require fails unless the client offers the binding
    // (the server's certificate hash) and the server agrees with it.
    for query in [
        format!("sslmode=verify-full&sslrootcert={root}&channel_binding=require"),
        "sslmode=require&channel_binding=require".to_owned(),
    ] {
        let url = format!(
            "postgres://scram:{SCRAM_PASSWORD}@localhost:{}/postgres?{query}",
            cluster.port
        );
        let client = bounded(connect_client(&url))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let ssl: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(ssl);
    }
}

#[tokio::test]
async fn a_server_without_tls_is_plain_under_prefer_and_refused_under_require() {
    let Some((cluster, _ca)) = Cluster::start() else {
        return;
    };
    cluster.psql("ALTER SYSTEM SET ssl = off");
    cluster.psql("SELECT pg_reload_conf()");
    // The reload is asynchronous: wait until new connections are plain.
    let prefer = cluster.url("localhost", "sslmode=prefer");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let client = bounded(connect_client(&prefer)).await.unwrap();
        let ssl: bool = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if !ssl {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server still speaks TLS after reloading with ssl = off"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = cluster.url("localhost", "sslmode=require");
    let e = open_error(open(&url).await, &url);
    assert!(
        e.contains("database TLS: the server does not accept TLS connections, and sslmode=require requires TLS"),
        "{e}"
    );
}
