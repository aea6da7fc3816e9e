//! `hookrelay verify`, the real binary, on real deliveries of each wire
//! profile: a capture verifies as received, and each way it can fail is
//! explained by its kind with exit status 1 (2 for bad usage).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{Received, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(15);
const DAY: i64 = 86_400;

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `hookrelay verify <args>` with `body` on stdin.
async fn verify(args: Vec<String>, body: Vec<u8>) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("verify")
            .args(&args)
            // Only the flags given count, not the environment of the test run.
            .env_remove("HOOKRELAY_WEBHOOK_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookrelay verify");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&body)
            .expect("write the body");
        let out = child.wait_with_output().expect("hookrelay verify ran");
        Run {
            code: out.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// A delivery of `profile` captured by a real receiver, and its endpoint's
/// secret.
async fn capture(profile: &str) -> (Received, String) {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": profile}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap().to_owned();
    s.publish("extract_run.processed", json!({"id": "exr_1"}))
        .await;
    let got = r.wait_for(1, WAIT).await;
    (got[0].clone(), secret)
}

/// `--secret S --profile P` and a `--header` for each of `headers`.
fn args(secret: &str, profile: &str, headers: &[(String, String)], extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "--secret".to_owned(),
        secret.to_owned(),
        "--profile".to_owned(),
        profile.to_owned(),
    ];
    for (k, v) in headers {
        a.push("--header".into());
        a.push(format!("{k}: {v}"));
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// The capture's headers with `name`'s value replaced.
fn with_header(r: &Received, name: &str, value: &str) -> Vec<(String, String)> {
    r.header_pairs()
        .into_iter()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_owned())
            } else {
                (k, v)
            }
        })
        .collect()
}

fn valid(run: &Run) {
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("valid: "), "{run:?}");
}

fn invalid(run: &Run, says: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.starts_with("invalid: "), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
    assert!(run.stderr.contains(says), "expected {says:?}: {run:?}");
}

/// The checks every profile passes: as captured, tampered body, wrong
/// secret, malformed signature header.
async fn common_checks(r: &Received, secret: &str, profile: &str, wrong_secret: &str, sig: &str) {
    let headers = r.header_pairs();
    let body = r.body.to_vec();

    let ok = verify(args(secret, profile, &headers, &[]), body.clone()).await;
    valid(&ok);
    assert!(ok.stdout.contains(sig), "{ok:?}");

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let run = verify(args(secret, profile, &headers, &[]), tampered).await;
    invalid(&run, "no signature matches this secret");

    let run = verify(args(wrong_secret, profile, &headers, &[]), body.clone()).await;
    invalid(&run, "no signature matches this secret");

    let run = verify(
        args(
            secret,
            profile,
            &with_header(r, sig, "not-a-signature"),
            &[],
        ),
        body.clone(),
    )
    .await;
    invalid(&run, &format!("malformed header {sig}"));
}

/// The checks of the profiles with a timestamp: an old capture checked far
/// later is too old (and valid at the time it was received), and one checked
/// far earlier is in the future.
async fn timestamp_checks(r: &Received, secret: &str, profile: &str, ts_header: &str) {
    let headers = r.header_pairs();
    let body = r.body.to_vec();
    let ts: i64 = r.header(ts_header).unwrap().parse().unwrap();

    let later = (ts + DAY).to_string();
    let run = verify(
        args(secret, profile, &headers, &["--now", &later]),
        body.clone(),
    )
    .await;
    invalid(&run, "timestamp too old by");
    assert!(
        run.stderr.contains(&format!("too old by {} s", DAY - 300)),
        "{run:?}"
    );
    let run = verify(
        args(
            secret,
            profile,
            &headers,
            &["--now", &later, "--max-age", "0"],
        ),
        body.clone(),
    )
    .await;
    valid(&run);
    assert!(run.stdout.contains("age check off"), "{run:?}");

    let earlier = (ts - DAY).to_string();
    let run = verify(
        args(secret, profile, &headers, &["--now", &earlier]),
        body.clone(),
    )
    .await;
    invalid(&run, "timestamp in the future");

    let run = verify(
        args(secret, profile, &with_header(r, ts_header, "soon"), &[]),
        body,
    )
    .await;
    invalid(&run, &format!("malformed header {ts_header}"));
}

#[tokio::test]
async fn verify_explains_an_extend_delivery() {
    let (r, secret) = capture("extend").await;
    common_checks(
        &r,
        &secret,
        "extend",
        "wss_not_the_endpoint_secret",
        "x-extend-request-signature",
    )
    .await;
    timestamp_checks(&r, &secret, "extend", "x-extend-request-timestamp").await;

    // Without a header the profile needs, the header is named.
    let headers: Vec<_> = r
        .header_pairs()
        .into_iter()
        .filter(|(k, _)| k != "x-extend-request-timestamp")
        .collect();
    let run = verify(args(&secret, "extend", &headers, &[]), r.body.to_vec()).await;
    invalid(&run, "missing header x-extend-request-timestamp");
}

#[tokio::test]
async fn verify_explains_a_standard_webhooks_delivery() {
    let (r, secret) = capture("standard-webhooks").await;
    common_checks(
        &r,
        &secret,
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "webhook-signature",
    )
    .await;
    timestamp_checks(&r, &secret, "standard-webhooks", "webhook-timestamp").await;

    // The id is signed too.
    let run = verify(
        args(
            &secret,
            "standard-webhooks",
            &with_header(&r, "webhook-id", "msg_other"),
            &[],
        ),
        r.body.to_vec(),
    )
    .await;
    invalid(&run, "no signature matches this secret");

    // Checked as the default profile, the headers give the right one away.
    let run = verify(
        vec!["--secret".into(), secret.clone()]
            .into_iter()
            .chain(
                r.header_pairs()
                    .iter()
                    .flat_map(|(k, v)| ["-H".into(), format!("{k}: {v}")]),
            )
            .collect(),
        r.body.to_vec(),
    )
    .await;
    invalid(&run, "--profile standard-webhooks");

    // A secret that is not whsec_<base64> is the user's mistake, not the
    // webhook's.
    let run = verify(
        args("whsec_!!", "standard-webhooks", &r.header_pairs(), &[]),
        r.body.to_vec(),
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--secret cannot be used"), "{run:?}");
}

#[tokio::test]
async fn verify_explains_a_body_hmac_delivery() {
    let (r, secret) = capture("body-hmac").await;
    common_checks(
        &r,
        &secret,
        "body-hmac",
        "whs_not_the_endpoint_secret",
        "x-webhook-signature",
    )
    .await;
    // No timestamp, so no age: checked as if in 2100 it still verifies, and
    // the answer says replays are not detected.
    let run = verify(
        args(
            &secret,
            "body-hmac",
            &r.header_pairs(),
            &["--now", "4102444800"],
        ),
        r.body.to_vec(),
    )
    .await;
    valid(&run);
    assert!(run.stdout.contains("no timestamp"), "{run:?}");
}

#[tokio::test]
async fn verify_names_the_matching_signature_during_a_standard_webhooks_rotation() {
    let s = TestServer::start().await;
    let r = Receiver::start().await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"signatureScheme": "standard-webhooks"}),
        )
        .await;
    let old = ep["signingSecret"].as_str().unwrap().to_owned();
    let (status, rot): (_, Value) = s
        .post(
            &format!(
                "/webhook_endpoints/{}/rotate_secret",
                ep["id"].as_str().unwrap()
            ),
            json!({"graceSeconds": 3600}),
        )
        .await;
    assert_eq!(status, 200, "{rot}");
    let new = rot["signingSecret"].as_str().unwrap().to_owned();
    s.publish("extract_run.processed", json!({"id": "exr_1"}))
        .await;
    let got = r.wait_for(1, WAIT).await;
    let mut answers = Vec::new();
    for secret in [&old, &new] {
        let run = verify(
            args(secret, "standard-webhooks", &got[0].header_pairs(), &[]),
            got[0].body.to_vec(),
        )
        .await;
        valid(&run);
        answers.push(run.stdout);
    }
    assert!(answers.iter().all(|a| a.contains(" of 2 ")), "{answers:?}");
    assert_ne!(
        answers[0], answers[1],
        "each secret matches its own signature"
    );
}

#[tokio::test]
async fn verify_refuses_a_header_flag_without_a_colon() {
    let run = verify(
        vec![
            "--secret".into(),
            "wss_x".into(),
            "--header".into(),
            "x-extend-request-timestamp 1".into(),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no colon"), "{run:?}");
}

#[tokio::test]
async fn verify_help_has_an_example() {
    let run = verify(vec!["--help".into()], Vec::new()).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Example:"), "{run:?}");
    assert!(run.stdout.contains("< body.json"), "{run:?}");
}
