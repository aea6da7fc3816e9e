//! `hookrelay serve --database-url 'postgres://…?sslmode=…'` against a
//! private PostgreSQL cluster with a certificate from a CA made in the test
//! (see `pg_cluster`): it starts and gets ready when the CA is the right
//! one, and refuses to start, saying why and writing nothing, when not.

use std::process::Stdio;
use std::time::Duration;

use crate::pg_cluster::{Ca, Cluster};
use crate::support::{eventually, free_port, KEY, PG_ENCRYPTION_KEY};

/// `hookrelay serve` on `database_url`, in `cwd`, on a free port.
fn serve(
    database_url: &str,
    cwd: &std::path::Path,
    stderr: Stdio,
) -> (tokio::process::Child, String) {
    let port = free_port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .arg("serve")
        .arg("--database-url")
        .arg(database_url)
        .current_dir(cwd)
        .env_remove("HOOKRELAY_DATABASE_URL")
        .env("HOOKRELAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOOKRELAY_API_KEY", KEY)
        .env("HOOKRELAY_ENCRYPTION_KEY", PG_ENCRYPTION_KEY)
        .env("HOOKRELAY_DEV", "1")
        .env("HOOKRELAY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hookrelay");
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn serve_on_postgres_with_verify_full_gets_ready() {
    let Some((cluster, ca)) = Cluster::start() else {
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    let url = cluster.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&application_name=hr_it_tls",
            ca.path.display()
        ),
    );
    let (_child, base) = serve(&url, cwd.path(), Stdio::inherit());
    eventually(Duration::from_secs(30), || async {
        match reqwest::get(format!("{base}/readyz")).await {
            Ok(r) if r.status() == 200 => Ok(()),
            other => Err(format!("{base}/readyz: {other:?}")),
        }
    })
    .await;
    // Every connection the server holds is TLS, and it did migrate.
    assert_eq!(
        cluster.psql(
            "SELECT count(*) > 0 AND bool_and(s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name = 'hr_it_tls'"
        ),
        "t"
    );
    assert_ne!(
        cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );
}

#[tokio::test]
async fn serve_refuses_a_database_certificate_from_another_ca() {
    let Some((cluster, _ca)) = Cluster::start() else {
        return;
    };
    let other = Ca::new(cluster.dir(), "other-ca");
    let cwd = tempfile::tempdir().unwrap();
    let url = cluster.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", other.path.display()),
    );
    let (child, _) = serve(&url, cwd.path(), Stdio::piped());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("hookrelay serve did not exit within 30 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exited with {}: {stderr}",
        out.status
    );
    assert!(
        stderr.contains(&format!(
            "database TLS: unknown issuer: the server's certificate is not signed by the CA in sslrootcert={}",
            other.path.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0",
        "tables were created"
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "files were created"
    );
}
