//! The API's request rate limit: a token bucket (GCRA, from `governor`) per
//! API key, and one per client address for everything else — requests
//! without a key or with a key that is not valid, the public routes
//! (health, metrics, the OpenAPI document, signed payload links) and unknown
//! routes. A request over its bucket is answered 429 `rate_limited` with
//! `Retry-After`; every answer carries the bucket's `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset`.
//!
//! A key counts as its own only once it is known to be valid, so sending
//! random keys draws from the sender's address bucket like sending none.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use hookrelay_core::secret::ApiKeyHash;

use crate::error::ApiError;
use crate::extract::{bearer_key, resolve_key, KeyCheck};
use crate::AppState;

/// Routes that take no API key; they are limited per client address.
const PUBLIC_ROUTES: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/payloads/{token}",
];

/// How often buckets that have filled up again are forgotten, so that the
/// limiter's memory follows the clients of the last minute or so rather
/// than every client ever seen.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Requests per second and burst size, per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second a bucket refills with; 0 turns limiting off.
    pub per_second: u32,
    /// Most requests a full bucket lets through at once.
    pub burst: u32,
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// A valid API key (workspace or org admin), by its hash.
    Key(ApiKeyHash),
    /// A client address (see [`client_address`]).
    Address(IpAddr),
}

/// A bucket's state after a request, as the `RateLimit-*` headers say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// `RateLimit-Limit`: the bucket's size (the burst).
    pub limit: u32,
    /// `RateLimit-Remaining`: requests that could be made right now.
    pub remaining: u32,
    /// `RateLimit-Reset`: whole seconds (rounded up) until the bucket is
    /// full again.
    pub reset_secs: u64,
}

impl RateLimitStatus {
    /// Adds the `RateLimit-*` headers.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
        const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
        const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RESET, HeaderValue::from(self.reset_secs));
    }
}

/// A refusal: the bucket's state and how long until one request fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: RateLimitStatus,
    /// `Retry-After`: whole seconds, rounded up, at least 1.
    pub retry_after_secs: u64,
}

type Buckets<K> = DefaultKeyedRateLimiter<K, StateInformationMiddleware>;

struct On {
    burst: u32,
    /// Time for one request to come back into a bucket.
    refill: Duration,
    keys: Buckets<ApiKeyHash>,
    addresses: Buckets<IpAddr>,
    clock: DefaultClock,
    created: Instant,
    /// Milliseconds after `created` of the last sweep.
    last_sweep: AtomicU64,
}

/// The rate limiter of one server (off when the rate is 0).
pub struct RateLimiter(Option<On>);

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("RateLimiter(off)"),
            Some(on) => f
                .debug_struct("RateLimiter")
                .field("burst", &on.burst)
                .field("refill", &on.refill)
                .finish(),
        }
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(RateLimit {
            per_second: 0,
            burst: 0,
        })
    }
}

impl RateLimiter {
    /// A limiter with `limit` for every bucket; off when its rate is 0 (a
    /// burst of 0 counts as 1).
    pub fn new(limit: RateLimit) -> Self {
        let Some(rate) = NonZeroU32::new(limit.per_second) else {
            return Self(None);
        };
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Self(Some(On {
            burst: burst.get(),
            refill: quota.replenish_interval(),
            keys: DefaultKeyedRateLimiter::keyed(quota).with_middleware(),
            addresses: DefaultKeyedRateLimiter::keyed(quota).with_middleware(),
            clock: DefaultClock::default(),
            created: Instant::now(),
            last_sweep: AtomicU64::new(0),
        }))
    }

    /// A limiter whose buckets hold `burst` requests and get one back every
    /// `period` (slower than one a second: the dashboard's sign-in
    /// attempts); off when `period` is zero.
    pub fn refilling(burst: u32, period: Duration) -> Self {
        let Some(quota) = Quota::with_period(period) else {
            return Self(None);
        };
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = quota.allow_burst(burst);
        Self(Some(On {
            burst: burst.get(),
            refill: quota.replenish_interval(),
            keys: DefaultKeyedRateLimiter::keyed(quota).with_middleware(),
            addresses: DefaultKeyedRateLimiter::keyed(quota).with_middleware(),
            clock: DefaultClock::default(),
            created: Instant::now(),
            last_sweep: AtomicU64::new(0),
        }))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Takes one request from `bucket`; `None` when limiting is off.
    pub fn check(&self, bucket: &Bucket) -> Option<Result<RateLimitStatus, Refusal>> {
        let on = self.0.as_ref()?;
        on.sweep_now_and_then();
        let outcome = match bucket {
            Bucket::Key(k) => on.keys.check_key(k),
            Bucket::Address(a) => on.addresses.check_key(a),
        };
        Some(match outcome {
            Ok(snapshot) => Ok(allowed(
                on.burst,
                snapshot.remaining_burst_capacity(),
                on.refill,
            )),
            Err(not_until) => Err(refused(
                on.burst,
                not_until.wait_time_from(on.clock.now()),
                on.refill,
            )),
        })
    }
}

impl On {
    /// Forgets buckets that are full again (every [`SWEEP_EVERY`], by
    /// whichever request comes first).
    fn sweep_now_and_then(&self) {
        let now = self.created.elapsed().as_millis() as u64;
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY.as_millis() as u64 {
            return;
        }
        if self
            .last_sweep
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.keys.retain_recent();
            self.keys.shrink_to_fit();
            self.addresses.retain_recent();
            self.addresses.shrink_to_fit();
        }
    }
}

/// The status after an allowed request: `remaining` more fit now, and the
/// bucket is full again once the missing ones have come back.
pub fn allowed(burst: u32, remaining: u32, refill: Duration) -> RateLimitStatus {
    let missing = burst.saturating_sub(remaining);
    RateLimitStatus {
        limit: burst,
        remaining,
        reset_secs: whole_seconds_up(refill * missing),
    }
}

/// The refusal of a request when the next one fits after `wait`; the bucket
/// is full again `burst - 1` refills after that.
pub fn refused(burst: u32, wait: Duration, refill: Duration) -> Refusal {
    Refusal {
        status: RateLimitStatus {
            limit: burst,
            remaining: 0,
            reset_secs: whole_seconds_up(wait + refill * burst.saturating_sub(1)),
        },
        retry_after_secs: whole_seconds_up(wait).max(1),
    }
}

fn whole_seconds_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The address a client is limited by: IPv4 addresses as they are (an
/// IPv4-mapped IPv6 address as its IPv4 address), IPv6 addresses by their
/// /64 prefix, since one host commonly holds a whole /64.
pub fn client_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// The middleware: picks the request's bucket (looking its key up, and
/// leaving the answer for the extractors), takes a request from it, and
/// answers 429 or passes the request on with the `RateLimit-*` headers.
pub(crate) async fn limit_requests(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let limiter = &state.inner.limiter;
    if !limiter.is_on() {
        return next.run(req).await;
    }
    let bucket = match bucket_of(&state, &mut req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match limiter.check(&bucket) {
        None => next.run(req).await,
        Some(Ok(status)) => {
            let mut resp = next.run(req).await;
            status.write_headers(resp.headers_mut());
            resp
        }
        Some(Err(refusal)) => ApiError::rate_limited(refusal).into_response(),
    }
}

async fn bucket_of(state: &AppState, req: &mut Request) -> Result<Bucket, ApiError> {
    let address = Bucket::Address(client_address(
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
    ));
    let public = req
        .extensions()
        .get::<MatchedPath>()
        .is_none_or(|p| PUBLIC_ROUTES.contains(&p.as_str()));
    if public {
        return Ok(address);
    }
    let Ok(key) = bearer_key(req.headers()) else {
        return Ok(address);
    };
    let hash = ApiKeyHash::of(key);
    match resolve_key(state, &hash).await? {
        Some(principal) => {
            req.extensions_mut().insert(KeyCheck::Valid(principal));
            Ok(Bucket::Key(hash))
        }
        None => {
            req.extensions_mut().insert(KeyCheck::Invalid);
            Ok(address)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_requests_report_what_is_left() {
        let s = allowed(20, 19, Duration::from_millis(100));
        assert_eq!((s.limit, s.remaining, s.reset_secs), (20, 19, 1));
        let s = allowed(20, 0, Duration::from_millis(100));
        assert_eq!(s.reset_secs, 2, "20 refills of 0.1 s");
        let s = allowed(2, 1, Duration::from_secs(1));
        assert_eq!(s.reset_secs, 1);
    }

    #[test]
    fn refusals_round_up_and_wait_at_least_a_second() {
        let r = refused(2, Duration::from_millis(300), Duration::from_secs(1));
        assert_eq!(r.retry_after_secs, 1);
        assert_eq!((r.status.limit, r.status.remaining), (2, 0));
        assert_eq!(r.status.reset_secs, 2, "0.3 s, then one more refill of 1 s");
        let r = refused(
            20_000,
            Duration::from_micros(100),
            Duration::from_micros(100),
        );
        assert_eq!(r.retry_after_secs, 1, "never 0");
        assert_eq!(r.status.reset_secs, 2);
        let r = refused(5, Duration::from_millis(2_001), Duration::from_secs(10));
        assert_eq!(r.retry_after_secs, 3);
        assert_eq!(r.status.reset_secs, 43);
        assert_eq!(
            refused(1, Duration::ZERO, Duration::from_secs(1)).retry_after_secs,
            1
        );
    }

    #[test]
    fn headers_carry_the_status() {
        let mut h = HeaderMap::new();
        RateLimitStatus {
            limit: 20,
            remaining: 3,
            reset_secs: 7,
        }
        .write_headers(&mut h);
        assert_eq!(h["ratelimit-limit"], "20");
        assert_eq!(h["ratelimit-remaining"], "3");
        assert_eq!(h["ratelimit-reset"], "7");
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_address(a), client_address(b));
        assert_ne!(client_address(a), client_address(c));
        assert_eq!(
            client_address("2001:db8:1:2::".parse().unwrap()),
            client_address(a)
        );
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_address(v4), v4);
        assert_eq!(client_address("::ffff:192.0.2.7".parse().unwrap()), v4);
    }

    #[test]
    fn buckets_refuse_past_the_burst_and_keep_keys_apart() {
        let l = RateLimiter::new(RateLimit {
            per_second: 1,
            burst: 2,
        });
        let a = Bucket::Key(ApiKeyHash::of("sk_a"));
        let b = Bucket::Key(ApiKeyHash::of("sk_b"));
        let first = l.check(&a).unwrap().unwrap();
        assert_eq!((first.limit, first.remaining), (2, 1));
        // A stalled test thread may see a request come back meanwhile, so
        // ask until refused rather than expecting the third to be.
        let refusal = (0..10)
            .find_map(|_| l.check(&a).unwrap().err())
            .expect("refused within ten requests at 1/s");
        assert_eq!(refusal.retry_after_secs, 1);
        assert_eq!(refusal.status.remaining, 0);
        assert!(
            l.check(&b).unwrap().is_ok(),
            "another key has its own bucket"
        );
        let ip = Bucket::Address(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(l.check(&ip).unwrap().is_ok());
        assert!(RateLimiter::default().check(&a).is_none(), "off");
    }

    #[test]
    fn slow_buckets_refuse_past_the_burst_for_the_period() {
        let l = RateLimiter::refilling(3, Duration::from_secs(6));
        let ip = Bucket::Address(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for _ in 0..3 {
            assert!(l.check(&ip).unwrap().is_ok());
        }
        let refusal = l.check(&ip).unwrap().unwrap_err();
        assert!((5..=6).contains(&refusal.retry_after_secs), "{refusal:?}");
        assert!(RateLimiter::refilling(3, Duration::ZERO)
            .check(&ip)
            .is_none());
    }
}
