//! Deliveries over HTTPS and the sender's connection pool: certificates are
//! checked against the trusted roots (the web PKI plus
//! `--endpoint-ca-file`), keep-alive connections are reused, and a pooled
//! connection the endpoint closed meanwhile costs no failed attempt.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{eventually, verify_extend, Receiver, TestServer};

const WAIT: Duration = Duration::from_secs(15);

/// A test CA, and a TLS configuration for `localhost` signed by it.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hookrelay test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// Publishes one event and waits until its only delivery is no longer pending.
async fn deliver_one(s: &TestServer, n: usize) -> serde_json::Value {
    let ev = s
        .publish("extract_run.processed", json!({"id": format!("run_{n}")}))
        .await;
    let id = s.delivery_of(ev["id"].as_str().unwrap()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_delivery(&id, WAIT, |d| d["status"] != "pending")
        .await
}

#[tokio::test]
async fn https_endpoint_under_a_trusted_ca_gets_signed_deliveries_over_one_connection() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let roots = hookrelay_dispatch::client::read_pem_roots(&ca_file).unwrap();
    let s = TestServer::start_with(|st| st.endpoint_roots = roots).await;
    let (r, connections) = Receiver::start_tls(pki.server.clone()).await;
    let ep = s
        .endpoint(
            &format!("{}/hook", r.url),
            &["extract_run.processed"],
            json!({"retrySchedule": []}),
        )
        .await;
    let secret = ep["signingSecret"].as_str().unwrap();

    for n in 0..5 {
        let d = deliver_one(&s, n).await;
        assert_eq!(d["status"], "succeeded", "{d:#}");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
    }
    let got = r.wait_for(5, WAIT).await;
    for g in &got {
        verify_extend(g, secret).expect("signed for the endpoint");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one keep-alive connection carries every delivery"
    );
}

#[tokio::test]
async fn https_endpoint_with_an_untrusted_certificate_fails_as_tls() {
    let pki = pki();
    let s = TestServer::start().await;
    let (r, connections) = Receiver::start_tls(pki.server.clone()).await;
    s.endpoint(
        &format!("{}/hook", r.url),
        &["extract_run.processed"],
        json!({"retrySchedule": []}),
    )
    .await;
    let d = deliver_one(&s, 0).await;
    assert_eq!(d["status"], "failed", "{d:#}");
    let a = &d["attempts"][0];
    assert_eq!(a["errorKind"], "tls", "{a:#}");
    assert!(
        a["errorMessage"].as_str().unwrap().contains("certificate"),
        "{a:#}"
    );
    assert!(r.received().is_empty());
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_bad_endpoint_ca_file_stops_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let e = hookrelay_dispatch::client::read_pem_roots(&empty).unwrap_err();
    assert!(e.contains("no certificate"), "{e}");
    let e =
        hookrelay_dispatch::client::read_pem_roots(&dir.path().join("missing.pem")).unwrap_err();
    assert!(e.contains("missing.pem"), "{e}");
}

/// An HTTP/1.1 endpoint that answers each connection's first request with
/// 200 and keep-alive, then closes the connection 50 ms later; returns its
/// URL, how many connections it served, and how many it has closed.
async fn closing_endpoint() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (counter, closes) = (served.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (counter, closes) = (counter.clone(), closes.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let n = tcp.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = tcp.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
                    )
                    .await;
                // The endpoint's own behaviour: it closes a kept-alive
                // connection a little after answering.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tcp.shutdown().await;
                closes.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), served, closed)
}

#[tokio::test]
async fn a_pooled_connection_the_endpoint_closed_costs_no_failed_attempt() {
    let s = TestServer::start().await;
    let (url, served, closed) = closing_endpoint().await;
    s.endpoint(
        &url,
        &["extract_run.processed"],
        json!({"retrySchedule": [1]}),
    )
    .await;
    for n in 0..3 {
        let d = deliver_one(&s, n).await;
        assert_eq!(d["status"], "succeeded", "{d:#}");
        assert_eq!(
            d["attempts"].as_array().unwrap().len(),
            1,
            "no attempt went to a closed connection: {d:#}"
        );
        // The endpoint has closed the connection now in the pool.
        eventually(WAIT, || async {
            match closed.load(Ordering::SeqCst) {
                c if c > n => Ok(()),
                c => Err(format!("{c} connections closed")),
            }
        })
        .await;
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        3,
        "one connection per delivery"
    );
}
