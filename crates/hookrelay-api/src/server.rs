//! The API's HTTP/1.1 server loop: accepts connections (at most
//! [`HttpLimits::max_connections`] open at once), serves each with hyper,
//! closes connections that are slow to send a request head or that sit idle
//! too long between requests, hands handlers the peer address
//! ([`ConnectInfo`]), and shuts down gracefully within a deadline.
//!
//! The header-read and idle timeouts are ours rather than hyper's: hyper's
//! `header_read_timeout` starts again whenever it waits for the next request
//! head, so with it an idle keep-alive connection is closed after the *header*
//! timeout and the two cannot differ. Instead every connection tracks its own
//! phase — waiting for a first request, reading a head (from its first byte),
//! busy with a request, or idle — through its socket (bytes read), its
//! service (requests in flight) and its response bodies (request done), and
//! the task that drives the connection closes it when the phase's deadline
//! passes. Body reads have their own deadline where bodies are read
//! (`extract::read_body`).

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A connection that has not sent a complete request head this long
    /// after it was accepted (first request) or after the head's first byte
    /// (later requests) is closed.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request for this long after its last
    /// response is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once; at the limit the server stops
    /// accepting and new clients wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, how long open connections get to finish their requests
    /// before they are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            // Longer than the 60 s that load balancers commonly keep idle
            // connections to a backend (AWS ALB, nginx's upstream default
            // is 60 s too), so that the proxy, not us, closes a pooled
            // connection and never sends a request on one we just closed;
            // nginx's own keepalive_timeout default is 75 s.
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// How often the "at the connection limit" warning may be logged: a server
/// held at its limit logs it once in this long, not once per connection
/// that has to wait.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, asks every connection to finish its request in flight and
/// close, and drops those still open after [`HttpLimits::shutdown_timeout`].
/// Returns when every connection is gone.
///
/// Accept errors do not end it: per-connection ones are skipped, and others
/// (such as running out of file descriptors) are logged and retried after a
/// second, since connections closing can resolve them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    tracing::debug!(%local, ?limits, "serving HTTP");
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let stop = CancellationToken::new();
    let mut conns = JoinSet::new();
    let mut last_cap_warning: Option<Instant> = None;
    let mut shutdown = pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        // The permit is taken before `accept`, so at the limit connections
        // wait in the kernel's backlog instead of being accepted and dropped.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if last_cap_warning.is_none_or(|t| t.elapsed() >= CAP_WARNING_EVERY) {
                    last_cap_warning = Some(Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "open connections are at the limit; new clients wait until one closes"
                    );
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                conns.spawn(connection(
                    stream,
                    peer,
                    router.clone(),
                    limits,
                    stop.clone(),
                    permit,
                ));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::error!(error = %e, "accepting a connection failed; trying again in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = &mut shutdown => break,
                }
            }
        }
    }
    drop(listener);
    stop.cancel();
    while conns.try_join_next().is_some() {}
    if !conns.is_empty() {
        tracing::info!(
            open = conns.len(),
            deadline = ?limits.shutdown_timeout,
            "waiting for open connections to finish"
        );
    }
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            dropped = conns.len(),
            "shutdown deadline passed; dropping the connections still open"
        );
        conns.shutdown().await;
    }
    Ok(())
}

/// Errors that concern one connection only (it went away before `accept`).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Why a connection was closed by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No complete request head in time.
    Head,
    /// No new request in time after the last response.
    Idle,
}

/// One connection, from accept to close; holds its `permit` throughout.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: HttpLimits,
    stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let watch = Arc::new(ConnWatch::new());
    let io = TokioIo::new(WatchedIo {
        stream,
        watch: watch.clone(),
    });
    let service = ConnService {
        router,
        peer,
        watch: watch.clone(),
    };
    let mut builder = http1::Builder::new();
    // Our own timers apply (see the module docs); hyper's would cut idle
    // keep-alive connections at the header timeout.
    builder.header_read_timeout(None);
    // With upgrades: `hookrelay listen` holds a WebSocket; once upgraded,
    // the connection leaves this task (and its timers) to the handler.
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut stopping = pin!(stop.cancelled());
    let mut graceful = false;
    let mut timer = pin!(tokio::time::sleep_until(watch.epoch));
    let mut armed: Option<Instant> = None;
    // One task drives the connection and watches its deadline. Every change
    // of phase happens while hyper is polled here (reads, service calls,
    // dropped response bodies), so the deadline is recomputed right after.
    let ended = poll_fn(|cx| {
        if !graceful && stopping.as_mut().poll(cx).is_ready() {
            graceful = true;
            conn.as_mut().graceful_shutdown();
        }
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(r.err().map(Ended::Error).unwrap_or(Ended::Closed));
        }
        if let Some((deadline, phase)) = watch.deadline(&limits) {
            if armed != Some(deadline) {
                timer.as_mut().reset(deadline);
                armed = Some(deadline);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ended::TimedOut(phase));
            }
        }
        Poll::Pending
    })
    .await;
    match ended {
        Ended::Closed => {}
        Ended::Error(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
        Ended::TimedOut(Phase::Head) => {
            tracing::debug!(%peer, "closing a connection that sent no complete request head in time")
        }
        Ended::TimedOut(Phase::Idle) => {
            tracing::debug!(%peer, "closing an idle keep-alive connection")
        }
    }
}

enum Ended {
    Closed,
    Error(hyper::Error),
    TimedOut(Phase),
}

/// The phase of one connection. Only the connection's own task touches it
/// (atomics only because the task may move between threads).
#[derive(Debug)]
struct ConnWatch {
    /// When the connection was accepted; times below are milliseconds since.
    epoch: Instant,
    /// Requests whose response has not been sent yet.
    in_flight: AtomicU32,
    /// Requests finished.
    served: AtomicU64,
    /// 1 + when the first byte of the next request head arrived; 0: none yet.
    head_since: AtomicU64,
    /// When the last response was finished.
    idle_since: AtomicU64,
}

impl ConnWatch {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn at(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }

    /// Bytes arrived. Outside a request they begin the next request head.
    fn on_read(&self) {
        if self.in_flight.load(Relaxed) == 0 && self.head_since.load(Relaxed) == 0 {
            self.head_since.store(self.now() + 1, Relaxed);
        }
    }

    /// hyper has a complete head and calls the service.
    fn request_started(&self) {
        self.head_since.store(0, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// The response was sent (its body is done), or the request abandoned.
    fn request_ended(&self) {
        self.served.fetch_add(1, Relaxed);
        self.idle_since.store(self.now(), Relaxed);
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// When the connection is to be closed unless something happens first,
    /// and why; `None` while a request is being served.
    fn deadline(&self, limits: &HttpLimits) -> Option<(Instant, Phase)> {
        if self.in_flight.load(Relaxed) > 0 {
            return None;
        }
        if self.served.load(Relaxed) == 0 {
            return Some((after(self.epoch, limits.header_read_timeout), Phase::Head));
        }
        match self.head_since.load(Relaxed) {
            0 => Some((
                after(self.at(self.idle_since.load(Relaxed)), limits.idle_timeout),
                Phase::Idle,
            )),
            h => Some((
                after(self.at(h - 1), limits.header_read_timeout),
                Phase::Head,
            )),
        }
    }
}

/// `t + d`, or a year after `t` for a timeout too long to add.
fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(365 * 86_400))
}

/// The socket, noting when bytes arrive.
struct WatchedIo {
    stream: TcpStream,
    watch: Arc<ConnWatch>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watch.on_read();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router, as one connection's hyper service: adds the peer address and
/// counts the request in flight until its response body is done.
#[derive(Clone)]
struct ConnService {
    router: Router,
    peer: SocketAddr,
    watch: Arc<ConnWatch>,
}

type ServiceFuture =
    Pin<Box<dyn Future<Output = Result<Response<WatchedBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<WatchedBody>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.watch.request_started();
        let guard = InFlight(self.watch.clone());
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // `Router` is always ready, so calling it without `poll_ready` is fine.
        let response = self.router.clone().call(req);
        Box::pin(async move {
            let resp = response.await?;
            Ok(resp.map(|body| WatchedBody {
                body,
                _in_flight: guard,
            }))
        })
    }
}

/// Ends the request (for its connection's phase) when dropped: with the
/// response body, or with the handler if the connection goes first.
struct InFlight(Arc<ConnWatch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that ends its request when hyper is done with it.
struct WatchedBody {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..HttpLimits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn phases_give_the_right_deadlines() {
        let w = ConnWatch::new();
        let l = limits();
        // First request: counted from accept, whatever arrives.
        assert_eq!(
            w.deadline(&l),
            Some((w.epoch + l.header_read_timeout, Phase::Head))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        w.on_read();
        assert_eq!(
            w.deadline(&l),
            Some((w.epoch + l.header_read_timeout, Phase::Head))
        );
        w.request_started();
        assert_eq!(w.deadline(&l), None, "no deadline while busy");
        // Body bytes are not a new head.
        w.on_read();
        tokio::time::advance(Duration::from_secs(20)).await;
        w.request_ended();
        let idle_from = w.epoch + Duration::from_secs(23);
        assert_eq!(
            w.deadline(&l),
            Some((idle_from + l.idle_timeout, Phase::Idle))
        );
        // The next head: from its first byte, not from the last response.
        tokio::time::advance(Duration::from_secs(30)).await;
        w.on_read();
        let head_from = idle_from + Duration::from_secs(30);
        assert_eq!(
            w.deadline(&l),
            Some((head_from + l.header_read_timeout, Phase::Head))
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        w.on_read();
        assert_eq!(
            w.deadline(&l),
            Some((head_from + l.header_read_timeout, Phase::Head)),
            "later bytes of the same head do not move the deadline"
        );
        w.request_started();
        w.request_ended();
        assert_eq!(w.deadline(&l).map(|d| d.1), Some(Phase::Idle));
    }
}
