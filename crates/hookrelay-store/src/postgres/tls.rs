//! TLS to PostgreSQL: reading a database URL's `sslmode` and `sslrootcert`
//! the way libpq does, and the rustls connector (ring provider) every
//! connection of the backend uses — the pool's, the listener's and the
//! housekeeping ones.
//!
//! tokio-postgres itself only knows `sslmode=disable|prefer|require` and
//! refuses `verify-ca`, `verify-full` and `sslrootcert` as unknown, so
//! [`parse`] takes those two parameters out of the URL (either form:
//! `postgres://…?sslmode=…` or `key=value …`), hands the rest to
//! tokio-postgres, and keeps what they ask for in the [`MakeRustls`]
//! connector:
//!
//! | `sslmode`     | TLS                    | certificate checked                    |
//! |---------------|------------------------|----------------------------------------|
//! | `disable`     | never                  | —                                      |
//! | `prefer`      | if the server offers it| only if a root certificate is given    |
//! | `require`     | always                 | only if a root certificate is given    |
//! | `verify-ca`   | always                 | chain, against the root certificate    |
//! | `verify-full` | always                 | chain and host name (or IP address)    |
//!
//! As in libpq, the root certificate is `sslrootcert=PATH` (PEM, one or
//! more CAs), else `~/.postgresql/root.crt` when that file exists;
//! `verify-ca`/`verify-full` without either is an error. With a root
//! certificate, `prefer` and `require` check the chain like `verify-ca` (libpq
//! keeps this for compatibility; it means pointing at a CA is never silently
//! ignored). `sslrootcert=system` trusts the web PKI roots compiled in
//! (webpki-roots, so the result does not depend on the host's CA bundle) and,
//! as in libpq 16+, defaults `sslmode` to `verify-full` and refuses any weaker
//! mode, since a public CA vouches for names, not for servers.
//!
//! Under `prefer`, a server that offers TLS and then fails the handshake
//! (or, with a root certificate, fails the check) is an error here, where
//! libpq would retry without TLS: quietly falling back to plain text is what
//! an attacker in the middle would want, and a broken TLS setup is better
//! reported than hidden.
//!
//! Failures say what went wrong in the operator's terms ("not valid for
//! the host name", "not signed by the CA in sslrootcert=…"): the handshake's
//! error is a [`TlsFailure`], found again by [`failure_message`] under
//! tokio-postgres's generic "error performing TLS handshake".
//!
//! Channel binding (`tls-server-end-point`) is offered to SCRAM
//! authentication: the hash of the server's certificate, with the hash its
//! signature uses (SHA-256 at least).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Config;

use crate::StoreError;

/// The modes of libpq's `sslmode` this backend knows (`allow` is refused:
/// trying plain first and TLS second buys nothing over `prefer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            "allow" => {
                return Err(bad(
                    "sslmode=allow is not supported: use prefer (TLS when the server offers it) or disable",
                ))
            }
            other => {
                return Err(bad(format!(
                    "sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                )))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Roots {
    /// No certificate check.
    None,
    /// A PEM file: `sslrootcert=PATH` or the default `~/.postgresql/root.crt`.
    File(PathBuf),
    /// `sslrootcert=system`: the web PKI roots.
    System,
}

fn bad(message: impl Into<String>) -> StoreError {
    StoreError::Open(format!("bad database URL: {}", message.into()))
}

/// The TLS parameters pulled out of a connection string.
#[derive(Debug, Default, PartialEq, Eq)]
struct Extracted {
    /// The connection string without them, for tokio-postgres.
    rest: String,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

/// libpq TLS parameters with no meaning here, refused by name (tokio-postgres
/// would only say "unknown option").
const UNSUPPORTED: &[&str] = &[
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslcompression",
    "sslsni",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requiressl",
];

fn unsupported(key: &str) -> Result<(), StoreError> {
    if UNSUPPORTED.contains(&key) {
        let what = match key {
            "sslcert" | "sslkey" | "sslpassword" => {
                " (client certificates are not supported; authenticate with a password)"
            }
            _ => "",
        };
        return Err(bad(format!("{key} is not supported{what}")));
    }
    Ok(())
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query.
fn extract_from_url(url: &str) -> Result<Extracted, StoreError> {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, q),
        None => {
            return Ok(Extracted {
                rest: url.to_owned(),
                ..Default::default()
            })
        }
    };
    let mut out = Extracted::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k);
        unsupported(&key)?;
        match key.as_str() {
            "sslmode" => out.sslmode = Some(percent_decode(v)),
            "sslrootcert" => out.sslrootcert = Some(percent_decode(v)),
            _ => kept.push(pair),
        }
    }
    out.rest = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes `sslmode` and `sslrootcert` out of a libpq `key=value …` string
/// (values may be single-quoted, with `\` escapes), writing the rest back
/// quoted.
fn extract_from_keywords(s: &str) -> Result<Extracted, StoreError> {
    let mut out = Extracted::default();
    let mut kept = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(bad(format!("expected `=` after {key:?}")));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(bad(format!("unterminated quoted value of {key:?}"))),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        unsupported(&key)?;
        match key.as_str() {
            "sslmode" => out.sslmode = Some(value),
            "sslrootcert" => out.sslrootcert = Some(value),
            _ => kept.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            )),
        }
    }
    out.rest = kept.join(" ");
    Ok(out)
}

/// libpq's default root certificate, when `sslrootcert` is not given.
fn default_root_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".postgresql").join("root.crt"))
}

/// Parses a connection string (`postgres://…` or `key=value …`) into the
/// driver's configuration and the TLS connector its `sslmode` and
/// `sslrootcert` call for. Errors are [`StoreError::Open`], worded for the
/// operator.
pub fn parse(url: &str) -> Result<(Config, MakeRustls), StoreError> {
    parse_with_default_root(url, default_root_file())
}

fn parse_with_default_root(
    url: &str,
    default_root: Option<PathBuf>,
) -> Result<(Config, MakeRustls), StoreError> {
    let extracted = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        extract_from_url(url)?
    } else {
        extract_from_keywords(url)?
    };
    let mut config: Config = extracted
        .rest
        .parse()
        .map_err(|e: tokio_postgres::Error| bad(crate::error::pg_message(&e)))?;

    let system = extracted.sslrootcert.as_deref() == Some("system");
    let mode = match extracted.sslmode.as_deref() {
        Some(m) => Mode::parse(m)?,
        // libpq's default, except that trusting the public roots only
        // makes sense when the name is checked too.
        None if system => Mode::VerifyFull,
        None => Mode::Prefer,
    };
    if system && mode != Mode::VerifyFull {
        return Err(bad(format!(
            "sslmode={} may not be used with sslrootcert=system (use sslmode=verify-full: \
             the public CAs vouch for host names, so the name must be checked)",
            mode.name()
        )));
    }
    let roots = match (mode, extracted.sslrootcert) {
        (Mode::Disable, _) => Roots::None,
        (_, Some(s)) if s == "system" => Roots::System,
        (_, Some(path)) if !path.is_empty() => Roots::File(PathBuf::from(path)),
        _ => match default_root.filter(|p| p.exists()) {
            Some(p) => Roots::File(p),
            None if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) => {
                return Err(bad(format!(
                    "sslmode={} needs the CA certificate to check the server's certificate \
                     against: add sslrootcert=/path/to/ca.pem (or sslrootcert=system for the \
                     public CAs), or place it at ~/.postgresql/root.crt",
                    mode.name()
                )))
            }
            None => Roots::None,
        },
    };

    // PostgreSQL never speaks TLS over a Unix socket (libpq does not ask).
    let only_unix = !config.get_hosts().is_empty()
        && config
            .get_hosts()
            .iter()
            .all(|h| !matches!(h, Host::Tcp(_)));
    config.ssl_mode(match mode {
        _ if only_unix => SslMode::Disable,
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    let tls = MakeRustls::new(mode, roots)?;
    Ok((config, tls))
}

/// The policy of the [`MakeRustls`] behind a connection.
struct Policy {
    config: Arc<rustls::ClientConfig>,
    mode: Mode,
    roots: Roots,
}

/// A `MakeTlsConnect` over tokio-rustls for one database URL; see the
/// module docs. Cheap to clone.
#[derive(Clone)]
pub struct MakeRustls {
    policy: Arc<Policy>,
}

impl std::fmt::Debug for MakeRustls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MakeRustls")
            .field("mode", &self.policy.mode)
            .field("roots", &self.policy.roots)
            .finish()
    }
}

impl MakeRustls {
    fn new(mode: Mode, roots: Roots) -> Result<Self, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match &roots {
            Roots::None => Arc::new(NoCheck(provider.clone())),
            Roots::File(_) | Roots::System => {
                let store = match &roots {
                    Roots::File(path) => read_roots(path)?,
                    _ => RootCertStore {
                        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                    },
                };
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                        .build()
                        .map_err(|e| StoreError::Open(format!("database TLS: {e}")))?;
                if mode == Mode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Open(format!("database TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self {
            policy: Arc::new(Policy {
                config: Arc::new(config),
                mode,
                roots,
            }),
        })
    }

    /// The `sslmode` this connector was made for.
    pub fn mode(&self) -> Mode {
        self.policy.mode
    }
}

/// The CA certificates of a PEM file, all of which must be usable.
fn read_roots(path: &Path) -> Result<RootCertStore, StoreError> {
    let fail = |why: String| {
        StoreError::Open(format!(
            "database TLS: sslrootcert={}: {why}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("not a PEM file of certificates: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no certificate in it".into()));
    }
    let mut store = RootCertStore::empty();
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| fail(format!("a certificate in it is not usable as a CA: {e}")))?;
    }
    Ok(store)
}

/// `require`/`prefer` without a root certificate: encryption against
/// passive eavesdroppers only, as in libpq. The handshake's signatures are
/// still checked against the certificate's key.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the web PKI check of the chain, but any name. The webpki
/// verifier checks the chain first and the name last, so a name mismatch
/// is the only failure left to forgive.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = TlsFailure;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, TlsFailure> {
        Ok(RustlsConnect {
            policy: self.policy.clone(),
            host: domain.to_owned(),
        })
    }
}

/// One connection's handshake (see [`MakeRustls`]).
pub struct RustlsConnect {
    policy: Arc<Policy>,
    host: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsFailure;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsFailure>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = ServerName::try_from(self.host.clone()).map_err(|_| {
                TlsFailure(format!(
                    "database TLS: {:?} is not a host name or IP address a certificate can be \
                     checked against",
                    self.host
                ))
            })?;
            tokio_rustls::TlsConnector::from(self.policy.config.clone())
                .connect(name, stream)
                .await
                .map(RustlsStream)
                .map_err(|e| TlsFailure(describe(&e, &self.host, &self.policy)))
        })
    }
}

/// Why a handshake failed, in the operator's terms.
fn describe(e: &io::Error, host: &str, policy: &Policy) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return format!("database TLS: the handshake with {host} failed: {e}");
    };
    let roots = match &policy.roots {
        Roots::File(p) => format!("the CA in sslrootcert={}", p.display()),
        Roots::System => "any of the public CAs (sslrootcert=system)".to_owned(),
        Roots::None => "a trusted CA".to_owned(),
    };
    match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::NotValidForName => format!(
                "database TLS: the server's certificate is not valid for the host name {host:?} \
                 (sslmode=verify-full checks it: connect by a name the certificate has, or use \
                 sslmode=verify-ca)"
            ),
            CertificateError::NotValidForNameContext { presented, .. } => {
                let names: Vec<String> = presented.iter().map(|p| tidy_name(p)).collect();
                format!(
                    "database TLS: the server's certificate is not valid for the host name \
                     {host:?}: it is for {} only (sslmode=verify-full checks the host name: \
                     connect by a name the certificate has, or use sslmode=verify-ca)",
                    if names.is_empty() {
                        "no host name".to_owned()
                    } else {
                        names.join(", ")
                    }
                )
            }
            CertificateError::UnknownIssuer => format!(
                "database TLS: unknown issuer: the server's certificate is not signed by {roots}"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("database TLS: the server's certificate has expired ({c:?})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("database TLS: the server's certificate is not valid yet ({c:?})")
            }
            other => format!("database TLS: the server's certificate is refused: {other}"),
        },
        other => format!("database TLS: the handshake with {host} failed: {other}"),
    }
}

/// `DnsName("db.example")` / `IpAddress(10.0.0.1)` (webpki's debug form of
/// the names a certificate presents) as `db.example` / `10.0.0.1`.
fn tidy_name(presented: &str) -> String {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|s| s.strip_suffix(')'))
        })
        .unwrap_or(presented)
        .to_owned()
}

/// A failed handshake, already worded for the operator (see the module
/// docs).
#[derive(Debug)]
pub struct TlsFailure(String);

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// What to tell the operator about a failed connection when it failed in
/// TLS: the [`TlsFailure`] under tokio-postgres's "error performing TLS
/// handshake", or its own "server does not support TLS" reworded.
pub(crate) fn failure_message(e: &tokio_postgres::Error, mode: Mode) -> Option<String> {
    let source = std::error::Error::source(e)?;
    if let Some(f) = source.downcast_ref::<TlsFailure>() {
        return Some(f.0.clone());
    }
    if e.to_string() == "error performing TLS handshake"
        && source.to_string() == "server does not support TLS"
    {
        return Some(format!(
            "database TLS: the server does not accept TLS connections, and sslmode={} requires \
             TLS (turn ssl on in the server, or use sslmode=prefer or disable)",
            mode.name()
        ));
    }
    None
}

/// A TLS connection to the server.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let cert = self
            .0
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first());
        match cert.and_then(|c| server_end_point(c.as_ref())) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash),
            None => ChannelBinding::none(),
        }
    }
}

/// RFC 5929's `tls-server-end-point`: the certificate hashed with its
/// signature's hash, SHA-256 when that is weaker (MD5, SHA-1). `None` for
/// signatures with no single hash (Ed25519, RSA-PSS), as the server has no
/// binding for them either.
fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const SHA256: &[&[u8]] = &[
        // sha256WithRSAEncryption, sha1WithRSAEncryption, md5WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
        // ecdsa-with-SHA256, ecdsa-with-SHA1
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
    ];
    const SHA384: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ];
    const SHA512: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ];
    let oid = signature_oid(cert)?;
    if SHA256.contains(&oid) {
        Some(sha2::Sha256::digest(cert).to_vec())
    } else if SHA384.contains(&oid) {
        Some(sha2::Sha384::digest(cert).to_vec())
    } else if SHA512.contains(&oid) {
        Some(sha2::Sha512::digest(cert).to_vec())
    } else {
        None
    }
}

/// The OID (content bytes) of a certificate's `signatureAlgorithm`:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm
/// AlgorithmIdentifier, signature }`, `AlgorithmIdentifier ::= SEQUENCE {
/// algorithm OBJECT IDENTIFIER, … }`.
fn signature_oid(cert: &[u8]) -> Option<&[u8]> {
    /// One DER element: (tag, content, rest).
    fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, der) = der.split_first()?;
        let (&first, mut der) = der.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || der.len() < n {
                return None;
            }
            let (bytes, rest) = der.split_at(n);
            der = rest;
            bytes.iter().fold(0usize, |l, b| (l << 8) | usize::from(*b))
        };
        if der.len() < len {
            return None;
        }
        let (content, rest) = der.split_at(len);
        Some((tag, content, rest))
    }
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (SEQUENCE, certificate, _) = element(cert)? else {
        return None;
    };
    let (SEQUENCE, _, after_tbs) = element(certificate)? else {
        return None;
    };
    let (SEQUENCE, algorithm, _) = element(after_tbs)? else {
        return None;
    };
    let (OID, oid, _) = element(algorithm)? else {
        return None;
    };
    Some(oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(url: &str) -> Extracted {
        if url.starts_with("postgres") {
            extract_from_url(url).unwrap()
        } else {
            extract_from_keywords(url).unwrap()
        }
    }

    #[test]
    fn the_tls_parameters_come_out_of_a_url() {
        let e = ex("postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x");
        assert_eq!(e.rest, "postgres://u@h:5432/db?application_name=x");
        assert_eq!(e.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(e.sslrootcert.as_deref(), Some("/etc/ca.pem"));

        let e = ex("postgresql://h/db?sslrootcert=/etc/ca.pem&sslmode=verify-ca");
        assert_eq!(e.rest, "postgresql://h/db");
        assert_eq!(e.sslrootcert.as_deref(), Some("/etc/ca.pem"));

        let e = ex("postgres://h/db");
        assert_eq!(e.rest, "postgres://h/db");
        assert_eq!(e.sslmode, None);
    }

    #[test]
    fn the_tls_parameters_come_out_of_keywords() {
        let e = ex(
            "host=h  dbname = db sslmode=verify-full sslrootcert='/a b/c\\'s.pem' password='p w'",
        );
        assert_eq!(e.rest, "host='h' dbname='db' password='p w'");
        assert_eq!(e.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(e.sslrootcert.as_deref(), Some("/a b/c's.pem"));
        let config: Config = e.rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"p w"[..]));
        assert!(extract_from_keywords("host").is_err());
        assert!(extract_from_keywords("host='h").is_err());
    }

    fn parse_err(url: &str) -> String {
        parse_with_default_root(url, None).unwrap_err().to_string()
    }

    #[test]
    fn modes_map_onto_the_driver() {
        let cases = [
            ("postgres://h/db", SslMode::Prefer, Mode::Prefer),
            (
                "postgres://h/db?sslmode=disable",
                SslMode::Disable,
                Mode::Disable,
            ),
            (
                "postgres://h/db?sslmode=prefer",
                SslMode::Prefer,
                Mode::Prefer,
            ),
            (
                "postgres://h/db?sslmode=require",
                SslMode::Require,
                Mode::Require,
            ),
            ("host=h sslmode=require", SslMode::Require, Mode::Require),
            (
                "postgres://h/db?sslmode=verify-full&sslrootcert=system",
                SslMode::Require,
                Mode::VerifyFull,
            ),
            (
                "postgres://h/db?sslrootcert=system",
                SslMode::Require,
                Mode::VerifyFull,
            ),
            // No TLS over a Unix socket, whatever the mode.
            (
                "postgres:///db?host=/run/postgresql&sslmode=require",
                SslMode::Disable,
                Mode::Require,
            ),
        ];
        for (url, driver, mode) in cases {
            let (config, tls) = parse_with_default_root(url, None).unwrap();
            assert_eq!(config.get_ssl_mode(), driver, "{url}");
            assert_eq!(tls.mode(), mode, "{url}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let e = parse_err("postgres://h/db?sslmode=verify_full");
        assert!(e.contains("sslmode=\"verify_full\" is not one of disable, prefer, require, verify-ca, verify-full"), "{e}");
        let e = parse_err("postgres://h/db?sslmode=allow");
        assert!(e.contains("sslmode=allow is not supported"), "{e}");
        let e = parse_err("postgres://h/db?sslmode=verify-full");
        assert!(
            e.contains("sslmode=verify-full needs the CA certificate"),
            "{e}"
        );
        let e = parse_err("postgres://h/db?sslmode=verify-ca");
        assert!(
            e.contains("sslmode=verify-ca needs the CA certificate"),
            "{e}"
        );
        let e = parse_err("postgres://h/db?sslmode=require&sslrootcert=system");
        assert!(
            e.contains("sslmode=require may not be used with sslrootcert=system"),
            "{e}"
        );
        let e = parse_err("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem");
        assert!(e.contains("sslrootcert=/nonexistent/ca.pem"), "{e}");
        let e = parse_err("postgres://h/db?sslcert=/c.pem");
        assert!(e.contains("client certificates are not supported"), "{e}");
    }

    #[test]
    fn a_root_file_makes_require_check_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("root.crt");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let (_, tls) =
            parse_with_default_root("postgres://h/db?sslmode=require", Some(ca.clone())).unwrap();
        assert_eq!(tls.policy.roots, Roots::File(ca.clone()));
        let (_, tls) = parse_with_default_root(
            "postgres://h/db?sslmode=require",
            Some(dir.path().join("none")),
        )
        .unwrap();
        assert_eq!(tls.policy.roots, Roots::None);
        let (_, tls) =
            parse_with_default_root("postgres://h/db?sslmode=disable", Some(ca.clone())).unwrap();
        assert_eq!(tls.policy.roots, Roots::None);
        let (_, tls) =
            parse_with_default_root("postgres://h/db?sslmode=verify-ca", Some(ca.clone())).unwrap();
        assert_eq!(tls.policy.roots, Roots::File(ca));
    }

    #[test]
    fn names_a_certificate_presents_read_plainly() {
        assert_eq!(tidy_name("DnsName(\"localhost\")"), "localhost");
        assert_eq!(tidy_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(tidy_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn channel_binding_hashes_the_certificate_with_its_signature_hash() {
        // rcgen signs with ECDSA P-256 and SHA-256 by default.
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let der = cert.der().to_vec();
        assert_eq!(
            signature_oid(&der),
            Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02][..])
        );
        assert_eq!(
            server_end_point(&der),
            Some(sha2::Sha256::digest(&der).to_vec())
        );
        assert_eq!(signature_oid(&der[..der.len() / 2]), None);
        assert_eq!(server_end_point(b"not DER"), None);
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("%2Fa%20b"), "/a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
