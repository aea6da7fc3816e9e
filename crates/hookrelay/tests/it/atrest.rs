//! Secrets at rest, end to end: signing secrets and custom header values
//! never reach the database files (or PostgreSQL's columns) in plaintext,
//! history shows custom header values as `***`, a restart with the same key
//! signs as before, a wrong or missing key stops the start with a clear
//! error and changes nothing, a key rotation runs while the service does,
//! and the data directory and files are this user's alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookrelay::config::{Database, Settings};
use hookrelay::serve::Server;
use serde_json::{json, Value};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);
const HEADER: &str = "X-Api-Token";
const HEADER_VALUE: &str = "tok_at_rest_3c8e1f0a9b7d";
const KEY_A: &str = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=";
const KEY_B: &str = "YmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmJiYmI=";

/// The id of a base64 key, as errors and the rotation name it.
fn key_id(text: &str) -> String {
    keyring(text).newest().id().to_owned()
}

/// Creates an endpoint to `r` with a custom header; returns its id and
/// signing secret.
async fn secret_endpoint(s: &TestServer, r: &Receiver) -> (String, String) {
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"advancedOptions": {"headers": {HEADER: HEADER_VALUE}}}),
        )
        .await;
    (
        ep["id"].as_str().unwrap().to_owned(),
        ep["signingSecret"].as_str().unwrap().to_owned(),
    )
}

/// Publishes one event and checks the `n`th request `r` gets is signed
/// with `secret` and carries the custom header; returns the delivery.
async fn delivered_signed(s: &TestServer, r: &Receiver, n: usize, secret: &str) -> Value {
    let ev = s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(n, WAIT).await;
    let last = &got[n - 1];
    verify_extend(last, secret).expect("signed with the endpoint's secret");
    assert_eq!(last.header(HEADER).as_deref(), Some(HEADER_VALUE));
    let d = s.delivery_of(ev["id"].as_str().unwrap()).await;
    s.wait_delivery(d["id"].as_str().unwrap(), WAIT, |d| {
        d["status"] == "succeeded"
    })
    .await
}

/// The SQLite database, WAL and shared-memory files, as text.
fn raw_files(db: &Path) -> String {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        if let Ok(b) = std::fs::read(PathBuf::from(p)) {
            all.extend(b);
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A server started with `settings` that must fail; its error, whole.
async fn failed_start(settings: Settings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    match Server::start(settings, listener).await {
        Ok(_) => panic!("the server started"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_secrets_stay_sealed_on_disk_and_a_restart_signs_with_them() {
    let s = TestServer::start_with(|st| {
        let Database::Sqlite(p) = &st.database else {
            unreachable!()
        };
        st.database = Database::Sqlite(p.parent().unwrap().join("data/hookrelay.db"));
    })
    .await;
    let db = s.db_path();
    let data = db.parent().unwrap().to_owned();
    let r = Receiver::start().await;
    let (_, secret) = secret_endpoint(&s, &r).await;
    let d = delivered_signed(&s, &r, 1, &secret).await;

    // History names the custom header, never its value.
    let attempts = d["attempts"].as_array().unwrap();
    let headers = &attempts[0]["request"]["headers"];
    assert_eq!(headers["x-api-token"], "***", "{headers}");
    assert!(!d.to_string().contains(HEADER_VALUE));

    // Neither the secret nor the header value is anywhere in the files.
    let raw = raw_files(&db);
    assert!(raw.contains("x-api-token"), "the files were read");
    assert!(!raw.contains(&secret), "the signing secret is on disk");
    assert!(!raw.contains(HEADER_VALUE), "the header value is on disk");

    // The generated key file, and everyone's modes.
    let key_file = data.join("encryption.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&key_file), 0o600);
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            assert_eq!(mode(Path::new(&p)), 0o600, "hookrelay.db{suffix}");
        }
    }

    // A restart reads the same key file (not a new one) and signs alike.
    let s = s.restart().await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key_text);
    delivered_signed(&s, &r, 2, &secret).await;

    // A wrong key: a clear error naming the key the rows need; nothing
    // written (the database reads as before with the right key).
    let settings = s.settings.clone();
    let generated = hookrelay_store::crypt::Keyring::parse(&key_text).unwrap();
    let needed = generated.newest().id().to_owned();
    let dir = s.dir.clone();
    s.shutdown().await;
    let before = std::fs::read(&db).unwrap();
    let mut wrong = settings.clone();
    wrong.encryption_keys = Some(keyring(KEY_B));
    let e = failed_start(wrong).await;
    assert!(
        e.contains(&needed) && e.contains("not configured") && e.contains(&key_id(KEY_B)),
        "{e}"
    );
    assert!(!e.contains(&secret) && !e.contains(KEY_B));
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");
    // A lost key file: a clear error, and no new key left in its place.
    std::fs::rename(&key_file, data.join("saved.key")).unwrap();
    let e = failed_start(settings.clone()).await;
    assert!(e.contains(&needed) && e.contains("is missing"), "{e}");
    assert!(
        !key_file.exists(),
        "a key that opens nothing was left behind"
    );
    std::fs::rename(data.join("saved.key"), &key_file).unwrap();
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database changed");

    let s = TestServer::start_with(|st| *st = settings.clone()).await;
    delivered_signed(&s, &r, 3, &secret).await;
    drop(dir);
}

/// A first start that fails after choosing to generate a key (here: the
/// database file is not a database) leaves no key file, so the next start
/// does not take a key that sealed nothing for the real one.
#[tokio::test(flavor = "multi_thread")]
async fn a_start_that_fails_leaves_no_generated_key_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let db = data.join("hookrelay.db");
    std::fs::write(&db, vec![b'x'; 8192]).unwrap();
    let mut settings = test_settings(&dir);
    settings.database = Database::Sqlite(db.clone());
    settings.encryption_keys = None;
    let e = failed_start(settings).await;
    assert!(e.contains(&db.display().to_string()), "{e}");
    assert!(
        !data.join("encryption.key").exists(),
        "a failed start left a generated key: {e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotation_runs_while_the_service_does() {
    let s = TestServer::start_with(|st| st.encryption_keys = Some(keyring(KEY_A))).await;
    let r = Receiver::start().await;
    let (_, secret) = secret_endpoint(&s, &r).await;
    delivered_signed(&s, &r, 1, &secret).await;

    // B becomes the newest key; A stays for what is sealed under it.
    let mut s = s;
    s.settings.encryption_keys = Some(keyring(&format!("{KEY_B},{KEY_A}")));
    let s = s.restart().await;
    delivered_signed(&s, &r, 2, &secret).await;

    // Only the admin may ask.
    let (status, body, _) = s
        .request(
            reqwest::Method::POST,
            "/admin/encryption/rotate",
            Some(KEY),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    for field in ["code", "message", "retryable", "requestId"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }

    // The command asks the running server.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .arg("rotate-encryption-key")
        .arg("--url")
        .arg(&s.url)
        .env("HOOKRELAY_ADMIN_KEY", ADMIN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The endpoint and the signed-URL server key.
    assert!(stdout.contains("re-encrypted 2 rows"), "{stdout}");
    assert!(stdout.contains(&key_id(KEY_B)), "{stdout}");
    // Asked again: nothing left to do.
    let (status, body, _) = s
        .request(
            reqwest::Method::POST,
            "/admin/encryption/rotate",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reencrypted"], 0);
    assert_eq!(body["remaining"], 0);
    assert_eq!(body["current"], body["rows"]);
    assert_eq!(body["keyId"], key_id(KEY_B));
    delivered_signed(&s, &r, 3, &secret).await;

    // B alone is enough now.
    let mut s = s;
    s.settings.encryption_keys = Some(keyring(KEY_B));
    let s = s.restart().await;
    delivered_signed(&s, &r, 4, &secret).await;

    // A alone is not: the error names B.
    let mut settings = s.settings.clone();
    let dir = s.dir.clone();
    s.shutdown().await;
    settings.encryption_keys = Some(keyring(KEY_A));
    let e = failed_start(settings).await;
    assert!(
        e.contains(&key_id(KEY_B)) && e.contains("not configured"),
        "{e}"
    );
    drop(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_needs_a_key_and_its_columns_hold_no_secret() {
    let Some(s) = TestServer::on(Backend::Postgres, |_| {}).await else {
        return;
    };
    let r = Receiver::start().await;
    let (id, secret) = secret_endpoint(&s, &r).await;
    let d = delivered_signed(&s, &r, 1, &secret).await;
    assert_eq!(d["attempts"][0]["request"]["headers"]["x-api-token"], "***");

    let pg = s.pg.clone().unwrap();
    let c = pg.client().await;
    let row = c
        .query_one(
            "SELECT secret, advanced_options FROM endpoints WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let (stored, options): (String, String) = (row.get(0), row.get(1));
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(!stored.contains(&secret));
    assert!(
        options.contains(HEADER) && !options.contains(HEADER_VALUE),
        "{options}"
    );
    for row in c
        .query("SELECT request_headers FROM attempts", &[])
        .await
        .unwrap()
    {
        let h: String = row.get(0);
        assert!(!h.contains(HEADER_VALUE), "{h}");
    }
    for row in c.query("SELECT key FROM server_keys", &[]).await.unwrap() {
        let k: Vec<u8> = row.get(0);
        assert!(k.starts_with(b"enc:v1:"), "the server key is sealed");
    }

    // Without a key PostgreSQL refuses to start.
    let mut settings = s.settings.clone();
    settings.encryption_keys = None;
    let e = failed_start(settings.clone()).await;
    assert!(e.contains("PostgreSQL needs an encryption key"), "{e}");
    // With a wrong one too, naming the key the rows need, and writing
    // nothing.
    settings.encryption_keys = Some(keyring(KEY_B));
    let e = failed_start(settings).await;
    assert!(
        e.contains(&key_id(PG_ENCRYPTION_KEY)) && e.contains("not configured"),
        "{e}"
    );
    let after: String = c
        .query_one("SELECT secret FROM endpoints WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, stored, "the row changed");
    s.shutdown().await;
    drop(pg);
}

/// The server's whole log, at debug level, while an endpoint with a known
/// secret and header value is created and delivered to (and fails once),
/// holds neither, nor the encryption key.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .arg("serve")
        .env("HOOKRELAY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "HOOKRELAY_DATABASE_URL",
            format!("sqlite://{}/data/hookrelay.db", dir.path().display()),
        )
        .env("HOOKRELAY_API_KEY", KEY)
        .env("HOOKRELAY_ADMIN_KEY", ADMIN)
        .env("HOOKRELAY_ENCRYPTION_KEY", KEY_A)
        .env("HOOKRELAY_DEV", "1")
        .env("HOOKRELAY_LOG", "debug")
        .env("NO_COLOR", "1")
        // The log goes to standard output; the banner too (it holds no
        // secret either: the API key is pinned, the encryption key given).
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let s = TestServer::remote(&url);
    eventually(WAIT, || async {
        match reqwest::get(format!("{url}/healthz")).await {
            Ok(r) if r.status() == 200 => Ok(()),
            other => Err(format!("not up: {other:?}")),
        }
    })
    .await;
    let r = Receiver::start().await;
    r.script(vec![Reply::Status(500)]);
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": [1], "advancedOptions": {"headers": {HEADER: HEADER_VALUE}}}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap().to_owned();
    s.publish("extract_run.processed", json!({"id": "x"})).await;
    let got = r.wait_for(2, WAIT).await;
    verify_extend(&got[1], &secret).unwrap();
    // Stop it the way an operator does, so everything is flushed.
    let pid = child.id().unwrap() as i32;
    assert_eq!(kill(pid, libc::SIGTERM), 0);
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();

    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("DEBUG"),
        "the log was written at debug level: {text}"
    );
    for (what, needle) in [
        ("signing secret", secret.as_str()),
        ("header value", HEADER_VALUE),
        ("encryption key", KEY_A),
    ] {
        assert!(!text.contains(needle), "the {what} is in the log");
    }
}
