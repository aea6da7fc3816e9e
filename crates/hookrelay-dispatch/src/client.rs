//! The outbound HTTP client: HTTP/1.1 over hyper's `client::conn`, a
//! keep-alive pool per origin, TLS with rustls and the web PKI roots, and the
//! destination guard applied to every address it connects to.
//!
//! Each request drives its connection inside the attempt's own task (no task
//! per connection, no channel between them), and nothing is done per request
//! beyond building the request and reading the answer: no redirect or retry
//! layers (redirects are never followed; a request is retried only when a
//! pooled connection turned out to be closed before it was sent). With many
//! small attempts, that per-request machinery of a general-purpose client
//! (reqwest) is a large part of the server's CPU per delivery (measurements
//! in BENCHMARKS.md).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, HOST};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::guard::{is_blocked, Blocked};

/// How long a connection may sit idle in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting (TCP) to one address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Every this many returns to the pool, connections idle too long are
/// closed, whatever their origin: a checkout drops only its own origin's,
/// so without the sweep an origin no longer sent to would keep its idle
/// connections open.
const SWEEP_EVERY: u32 = 4096;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    BadUrl(String),
    #[error("dns error: {0}")]
    Dns(String),
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error("connecting failed: {0}")]
    Connect(String),
    #[error("tls handshake failed: {0}")]
    Tls(String),
    #[error("{0}")]
    Http(String),
}

/// The certificates (DER) in a PEM file, to trust as roots for HTTPS
/// endpoints besides the web PKI's; checked the way the client will use them.
pub fn read_pem_roots(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<Vec<u8>> = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Client::new(false, &certs).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(certs)
}

/// An answer: status, headers and up to `limit` bytes of the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Driver = http1::Connection<TokioIo<Box<dyn Io>>, Full<Bytes>>;

struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Option<Pin<Box<Driver>>>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Idle connections by origin, the most recently used last; no cap (an
/// origin keeps as many as it had in use at once, like reqwest's pool), but
/// none outlives [`IDLE_TIMEOUT`] for long.
#[derive(Default)]
struct Pool {
    by_origin: HashMap<Origin, Vec<Idle>>,
    returns: u32,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

/// See the module docs. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Mutex<Pool>,
    tls: tokio_rustls::TlsConnector,
    allow_private: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    /// A client that trusts the web PKI roots plus `extra_roots` (DER).
    pub fn new(allow_private: bool, extra_roots: &[Vec<u8>]) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("an extra root certificate is not usable: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            inner: Arc::new(Inner {
                idle: Mutex::new(Pool::default()),
                tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
                allow_private,
            }),
        })
    }

    /// POSTs `body` to `url` with `headers` and reads at most `limit` bytes
    /// of the answer's body before `deadline`. The caller bounds the whole
    /// call with its timeout.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        limit: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, SendError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| SendError::BadUrl(format!("invalid URL: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(SendError::BadUrl("the URL must be http or https".into())),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| SendError::BadUrl("the URL has no host".into()))?;
        let host = authority.host();
        let origin = Origin {
            https,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut builder = Request::post(path)
            .header(HOST, authority.as_str())
            .header(ACCEPT, HeaderValue::from_static("*/*"));
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| SendError::BadUrl(format!("header {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| SendError::BadUrl(format!("header {k:?}: {e}")))?;
            builder = builder.header(name, value);
        }
        let mut req = builder
            .body(Full::new(body))
            .map_err(|e| SendError::BadUrl(e.to_string()))?;

        // A pooled connection may have been closed by the other side since;
        // if it was, and the request never left, send it on a fresh one.
        loop {
            let (mut conn, pooled) = match self.checkout(&origin) {
                Some(c) => (c, true),
                None => (self.connect(&origin).await?, false),
            };
            match conn.exchange(req, limit, deadline).await {
                Ok((answer, reusable)) => {
                    if reusable {
                        self.checkin(origin, conn);
                    }
                    return Ok(answer);
                }
                Err(Failed::Unsent(back)) if pooled => req = *back,
                Err(Failed::Unsent(_)) => {
                    return Err(SendError::Http(
                        "the connection closed before the request was sent".into(),
                    ))
                }
                Err(Failed::Other(e)) => return Err(e),
            }
        }
    }

    fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let mut pool = self.inner.idle.lock().expect("pool lock");
        let list = pool.by_origin.get_mut(origin)?;
        while let Some(mut c) = list.pop() {
            if c.since.elapsed() < IDLE_TIMEOUT && c.conn.alive() {
                return Some(c.conn);
            }
        }
        None
    }

    fn checkin(&self, origin: Origin, conn: Conn) {
        let mut pool = self.inner.idle.lock().expect("pool lock");
        pool.by_origin.entry(origin).or_default().push(Idle {
            conn,
            since: Instant::now(),
        });
        pool.returns += 1;
        if pool.returns >= SWEEP_EVERY {
            pool.returns = 0;
            pool.by_origin.retain(|_, list| {
                list.retain(|c| c.since.elapsed() < IDLE_TIMEOUT);
                !list.is_empty()
            });
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, SendError> {
        let addrs = resolve(&origin.host, origin.port, self.inner.allow_private).await?;
        let mut last = None;
        let mut stream = None;
        for addr in addrs {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
                Err(_) => last = Some(format!("{addr}: timed out")),
            }
        }
        let stream = stream.ok_or_else(|| {
            SendError::Connect(last.unwrap_or_else(|| "no address to connect to".into()))
        })?;
        let _ = stream.set_nodelay(true);
        let io: Box<dyn Io> = if origin.https {
            let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
                .map_err(|e| SendError::Tls(format!("{}: {e}", origin.host)))?;
            let tls = self
                .inner
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| SendError::Tls(e.to_string()))?;
            Box::new(tls)
        } else {
            Box::new(stream)
        };
        let (sender, driver) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| SendError::Http(e.to_string()))?;
        Ok(Conn {
            sender,
            driver: Some(Box::pin(driver)),
        })
    }
}

/// The addresses of `host` the guard lets through.
async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, SendError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !allow_private && is_blocked(ip) {
            return Err(Blocked(ip).into());
        }
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| SendError::Dns(format!("{host}: {e}")))?
        .collect();
    if allow_private {
        return Ok(addrs);
    }
    let first = addrs.first().map(|a| a.ip());
    let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| !is_blocked(a.ip())).collect();
    match (public.is_empty(), first) {
        (false, _) => Ok(public),
        (true, Some(ip)) => Err(Blocked(ip).into()),
        (true, None) => Err(SendError::Dns(format!("{host}: no addresses"))),
    }
}

enum Failed {
    /// The request never left; here it is back.
    Unsent(Box<Request<Full<Bytes>>>),
    Other(SendError),
}

impl Conn {
    /// Whether a pooled connection is still open (the other side may have
    /// closed it while it sat idle).
    fn alive(&mut self) -> bool {
        let Some(driver) = self.driver.as_mut() else {
            return false;
        };
        let mut cx = Context::from_waker(Waker::noop());
        matches!(driver.as_mut().poll(&mut cx), Poll::Pending) && !self.sender.is_closed()
    }

    /// One request and its answer; `true` if the connection can be reused.
    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        limit: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(Answer, bool), Failed> {
        let Conn { sender, driver } = self;
        match drive(driver, std::future::poll_fn(|cx| sender.poll_ready(cx))).await {
            Some(Ok(())) => {}
            _ => return Err(Failed::Unsent(Box::new(req))),
        }
        let sent = sender.try_send_request(req);
        let resp = match drive(driver, sent).await {
            Some(Ok(r)) => r,
            Some(Err(mut e)) => {
                return Err(match e.take_message() {
                    Some(back) => Failed::Unsent(Box::new(back)),
                    None => Failed::Other(SendError::Http(e.into_error().to_string())),
                })
            }
            None => unreachable!("drive resolves the request future after the connection ends"),
        };
        let (parts, mut body) = resp.into_parts();
        let mut buf = Vec::new();
        let mut complete = false;
        // A body that fails or never ends after the status line does not
        // change the verdict: the status decides.
        loop {
            let frame = tokio::time::timeout_at(deadline, drive(driver, body.frame())).await;
            match frame {
                Ok(Some(Some(Ok(f)))) => {
                    if let Ok(data) = f.into_data() {
                        let room = limit - buf.len();
                        buf.extend_from_slice(&data[..data.len().min(room)]);
                        if buf.len() >= limit {
                            break;
                        }
                    }
                }
                Ok(Some(None)) => {
                    complete = true;
                    break;
                }
                _ => break,
            }
        }
        let reusable = complete && driver.is_some();
        Ok((
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: buf,
            },
            reusable,
        ))
    }
}

/// Polls `fut` while driving the connection. If the connection ends first,
/// it is dropped (which settles anything waiting on it) and `fut` is awaited
/// alone; `None` only if `fut` still does not finish.
async fn drive<F: Future>(driver: &mut Option<Pin<Box<Driver>>>, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    if let Some(d) = driver.as_mut() {
        tokio::select! {
            biased;
            out = &mut fut => return Some(out),
            _ = d.as_mut() => {}
        }
        *driver = None;
    }
    // Without a connection every pending future of hyper's resolves (with an
    // error); a short bound keeps a surprise from hanging an attempt.
    tokio::time::timeout(Duration::from_secs(1), fut).await.ok()
}
