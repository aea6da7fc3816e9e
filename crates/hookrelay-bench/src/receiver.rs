//! The recording receiver: a separate process (the bench binary re-executed
//! with the hidden `receiver` subcommand) that answers `204` to every `POST`
//! and remembers, per request, its arrival time, path, `eventId` and the
//! payload's `sentAtNanos`. It also holds the bench's handle on that process.
//!
//! Cheapness matters more than generality: HTTP/1.1 only, a multi-threaded
//! tokio runtime, records kept in memory in one arena under one short lock,
//! the two fields found by a byte search rather than a JSON parse. The bench
//! reads `GET /count` while it waits and `GET /records` once at the end.
//! A POST whose path starts with `--hang-prefix` is never answered. A POST
//! whose body has no `sentAtNanos` but the marker key
//! ([`crate::bodies::MARKER_KEY`]) is answered and otherwise ignored: those
//! are the routing checks of a multi-node run.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncBufReadExt;

use crate::bodies::MARKER_KEY;
use crate::http::{self, Client};
use crate::unix_nanos;

/// Arguments of the hidden `receiver` subcommand.
#[derive(Debug, clap::Args)]
pub struct ReceiverArgs {
    /// Address to listen on (port 0 = any free port).
    #[arg(long)]
    pub listen: SocketAddr,
    /// POSTs whose path starts with this prefix are never answered.
    #[arg(long)]
    pub hang_prefix: Option<String>,
}

// ---------------------------------------------------------------------------
// The receiver process
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Rec {
    arrival: u64,
    sent: u64,
    path: u16,
    id_off: u32,
    id_len: u16,
}

/// Everything recorded, in one arena: no allocation per request beyond
/// amortized vector growth.
#[derive(Default)]
struct Book {
    recs: Vec<Rec>,
    ids: Vec<u8>,
    paths: Vec<Box<str>>,
    index: HashMap<Box<str>, u16>,
}

impl Book {
    fn push(&mut self, path: &str, id: &[u8], arrival: u64, sent: u64) {
        let p = match self.index.get(path) {
            Some(&p) => p,
            None => {
                let p = u16::try_from(self.paths.len()).unwrap_or(u16::MAX);
                self.paths.push(path.into());
                self.index.insert(path.into(), p);
                p
            }
        };
        let id = &id[..id.len().min(usize::from(u16::MAX))];
        let id_off = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.extend_from_slice(id);
        self.recs.push(Rec {
            arrival,
            sent,
            path: p,
            id_off,
            id_len: id.len() as u16,
        });
    }

    /// The wire format of `GET /records` (little endian):
    /// `u32 paths, (u16 len, bytes)*, u64 hung, u32 records,
    /// (u64 arrival, u64 sent, u16 path, u16 id len, id bytes)*`.
    fn encode(&self, hung: u64) -> Bytes {
        let mut b = BytesMut::with_capacity(16 + self.recs.len() * 20 + self.ids.len());
        b.put_u32_le(self.paths.len() as u32);
        for p in &self.paths {
            b.put_u16_le(p.len() as u16);
            b.put_slice(p.as_bytes());
        }
        b.put_u64_le(hung);
        b.put_u32_le(self.recs.len() as u32);
        for r in &self.recs {
            b.put_u64_le(r.arrival);
            b.put_u64_le(r.sent);
            b.put_u16_le(r.path);
            b.put_u16_le(r.id_len);
            let off = r.id_off as usize;
            b.put_slice(&self.ids[off..off + usize::from(r.id_len)]);
        }
        b.freeze()
    }
}

struct State {
    book: Mutex<Book>,
    count: AtomicU64,
    hung: AtomicU64,
    hang_prefix: Option<String>,
}

/// Runs the receiver until the bench closes its standard input or kills it.
pub fn run(args: ReceiverArgs) -> anyhow::Result<()> {
    // The bench holds our stdin; when it goes away (even by a crash), so do we.
    std::thread::spawn(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the receiver's runtime")?;
    rt.block_on(serve(args))
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    // The port may have been reserved by the bench a moment ago (or still be
    // in TIME_WAIT): retry for a few seconds.
    let mut tries = 0;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("binding {addr}")),
        }
    }
}

async fn serve(args: ReceiverArgs) -> anyhow::Result<()> {
    let listener = bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        book: Mutex::new(Book::default()),
        count: AtomicU64::new(0),
        hung: AtomicU64::new(0),
        hang_prefix: args.hang_prefix,
    });
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {addr} {}", unix_nanos())?;
        out.flush()?;
    }
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                // Out of file descriptors or similar: back off a little.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrival = unix_nanos();
    if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        let hang = state
            .hang_prefix
            .as_deref()
            .is_some_and(|p| path.starts_with(p));
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(answer(StatusCode::BAD_REQUEST, Bytes::new())),
        };
        let sent = field_u64(&body, b"\"sentAtNanos\":");
        // A marker event (routing check of a multi-node run): answered, not
        // recorded, not counted, never held. Only bodies without a send time
        // are searched, so measured deliveries pay nothing for this.
        if sent.is_none() && find(&body, MARKER_KEY.as_bytes()).is_some() {
            return Ok(answer(StatusCode::NO_CONTENT, Bytes::new()));
        }
        if hang {
            state.hung.fetch_add(1, Ordering::Relaxed);
            return std::future::pending().await;
        }
        let id = field_str(&body, b"\"eventId\":\"").unwrap_or_default();
        let sent = sent.unwrap_or(0);
        state
            .book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path, id, arrival, sent);
        state.count.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::NO_CONTENT, Bytes::new()));
    }
    Ok(match req.uri().path() {
        "/count" => {
            let n = state.count.load(Ordering::Relaxed);
            answer(StatusCode::OK, Bytes::from(n.to_string()))
        }
        "/records" => {
            let hung = state.hung.load(Ordering::Relaxed);
            let body = state
                .book
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .encode(hung);
            answer(StatusCode::OK, body)
        }
        "/healthz" => answer(StatusCode::OK, Bytes::from_static(b"ok")),
        _ => answer(StatusCode::NOT_FOUND, Bytes::new()),
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The string value after `key` (which ends with the opening quote).
fn field_str<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let start = find(body, key)? + key.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    Some(&body[start..start + len])
}

/// The unsigned integer after `key` (which ends with the colon).
fn field_u64(body: &[u8], key: &[u8]) -> Option<u64> {
    let mut i = find(body, key)? + key.len();
    while body.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    let mut v: u64 = 0;
    let mut any = false;
    while let Some(d) = body.get(i).filter(|b| b.is_ascii_digit()) {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        any = true;
        i += 1;
    }
    any.then_some(v)
}

// ---------------------------------------------------------------------------
// The bench's side
// ---------------------------------------------------------------------------

/// One received request, as read back from the receiver.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the request's head was parsed (unix nanoseconds).
    pub arrival: u64,
    /// The payload's `sentAtNanos` (0 if absent).
    pub sent: u64,
    /// Index into [`Records::paths`].
    pub path: u16,
    /// Byte range of the `eventId` in [`Records::ids`].
    pub id: Range<usize>,
}

/// Everything a receiver recorded.
#[derive(Debug, Default)]
pub struct Records {
    pub paths: Vec<String>,
    pub hung: u64,
    pub ids: Bytes,
    pub recs: Vec<Record>,
}

impl Records {
    /// Decodes the `GET /records` body.
    pub fn decode(mut b: Bytes) -> anyhow::Result<Records> {
        fn need(b: &Bytes, n: usize) -> anyhow::Result<()> {
            if b.remaining() < n {
                bail!("truncated records");
            }
            Ok(())
        }
        let whole = b.clone();
        need(&b, 4)?;
        let np = b.get_u32_le() as usize;
        let mut paths = Vec::with_capacity(np);
        for _ in 0..np {
            need(&b, 2)?;
            let n = usize::from(b.get_u16_le());
            need(&b, n)?;
            paths.push(String::from_utf8_lossy(&b.split_to(n)).into_owned());
        }
        need(&b, 12)?;
        let hung = b.get_u64_le();
        let nr = b.get_u32_le() as usize;
        let mut recs = Vec::with_capacity(nr);
        for _ in 0..nr {
            need(&b, 20)?;
            let arrival = b.get_u64_le();
            let sent = b.get_u64_le();
            let path = b.get_u16_le();
            let n = usize::from(b.get_u16_le());
            need(&b, n)?;
            let start = whole.len() - b.remaining();
            b.advance(n);
            recs.push(Record {
                arrival,
                sent,
                path,
                id: start..start + n,
            });
        }
        Ok(Records {
            paths,
            hung,
            ids: whole,
            recs,
        })
    }

    /// The `eventId` of a record.
    pub fn id(&self, r: &Record) -> &[u8] {
        &self.ids[r.id.clone()]
    }
}

/// A running receiver process.
pub struct Receiver {
    child: tokio::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// When it started listening (unix nanoseconds, its own clock reading).
    pub up_at: u64,
    /// Its process id, for `/proc`.
    pub pid: u32,
}

impl Receiver {
    /// Starts `exe receiver --listen addr` and waits until it listens.
    pub async fn start(
        exe: &Path,
        listen: SocketAddr,
        hang_prefix: Option<&str>,
    ) -> anyhow::Result<Receiver> {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("receiver").arg("--listen").arg(listen.to_string());
        if let Some(p) = hang_prefix {
            cmd.arg("--hang-prefix").arg(p);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the receiver ({})", exe.display()))?;
        let pid = child.id().context("receiver pid")?;
        let stdout = child.stdout.take().context("receiver stdout")?;
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        tokio::time::timeout(Duration::from_secs(15), read)
            .await
            .context("the receiver did not start listening within 15 s")??;
        let mut words = line.split_whitespace();
        let (Some("listening"), Some(addr), Some(up_at)) =
            (words.next(), words.next(), words.next())
        else {
            bail!("the receiver failed to start: {line:?}");
        };
        Ok(Receiver {
            child,
            addr: addr.parse()?,
            up_at: up_at.parse()?,
            pid,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many POSTs it has recorded so far.
    pub async fn count(&self, client: &Client) -> anyhow::Result<u64> {
        let body = http::get_ok(client, &self.url("/count")).await?;
        Ok(std::str::from_utf8(&body)?.trim().parse()?)
    }

    /// Everything it recorded.
    pub async fn records(&self, client: &Client) -> anyhow::Result<Records> {
        Records::decode(http::get_ok(client, &self.url("/records")).await?)
    }

    /// Kills it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_a_delivered_body() {
        let body = br#"{"eventId":"event_01JABC","eventType":"extract_run.processed","payload":{"id":"run_1","sentAtNanos": 1754000000000000001,"pad":"x"}}"#;
        assert_eq!(
            field_str(body, b"\"eventId\":\""),
            Some(&b"event_01JABC"[..])
        );
        assert_eq!(
            field_u64(body, b"\"sentAtNanos\":"),
            Some(1_754_000_000_000_000_001)
        );
        assert_eq!(field_u64(b"{}", b"\"sentAtNanos\":"), None);
    }

    #[test]
    fn records_round_trip_through_the_wire_format() {
        let mut book = Book::default();
        book.push("/a", b"e1", 10, 5);
        book.push("/b", b"e2", 11, 6);
        book.push("/a", b"", 12, 0);
        let r = Records::decode(book.encode(3)).unwrap();
        assert_eq!(r.paths, ["/a", "/b"]);
        assert_eq!(r.hung, 3);
        assert_eq!(r.recs.len(), 3);
        assert_eq!(r.id(&r.recs[1]), b"e2");
        assert_eq!(
            (r.recs[1].arrival, r.recs[1].sent, r.recs[1].path),
            (11, 6, 1)
        );
        assert_eq!(r.id(&r.recs[2]), b"");
    }
}
