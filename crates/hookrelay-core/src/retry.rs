//! When to try a failed delivery again.
//!
//! A delivery gets one attempt, then one more per entry of its schedule
//! (seconds after the previous failure). Each delay gets ±`jitter` so that
//! retries of a burst spread out. A `Retry-After` from the receiver can push
//! the next attempt later (never earlier), up to [`MAX_RETRY_AFTER_SECS`].

use rand::Rng;

use crate::time::Timestamp;

/// The default schedule: 5 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h.
pub const DEFAULT_SCHEDULE: &[u32] = &[5, 60, 300, 1800, 7200, 21600, 43200, 86400];

/// The v1 API's schedule: immediately, then 1 min, 5 min, 30 min, 2 h.
pub const V1_SCHEDULE: &[u32] = &[60, 300, 1800, 7200];

/// The longest wait a `Retry-After` header can impose (6 hours).
pub const MAX_RETRY_AFTER_SECS: u64 = 6 * 3600;

/// Default relative jitter (±10 %).
pub const DEFAULT_JITTER: f64 = 0.1;

/// The time of the next attempt after `attempts_made` attempts (the last of
/// which just failed at `now`), or `None` when the schedule is exhausted.
pub fn next_attempt_at<R: Rng + ?Sized>(
    schedule: &[u32],
    attempts_made: u32,
    now: Timestamp,
    retry_after_secs: Option<u64>,
    jitter: f64,
    rng: &mut R,
) -> Option<Timestamp> {
    let idx = attempts_made.checked_sub(1)? as usize;
    let base = *schedule.get(idx)? as f64 * 1000.0;
    let factor = if jitter > 0.0 {
        rng.gen_range((1.0 - jitter)..=(1.0 + jitter))
    } else {
        1.0
    };
    let mut delay_ms = (base * factor).round() as i64;
    if let Some(ra) = retry_after_secs {
        let ra_ms = (ra.min(MAX_RETRY_AFTER_SECS) * 1000) as i64;
        delay_ms = delay_ms.max(ra_ms);
    }
    Some(now.plus_millis(delay_ms.max(0)))
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    let when_ms = when.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    Some(((when_ms - now.millis()).max(0) / 1000) as u64)
}

/// Whether an endpoint that has been failing since `failing_since` should be
/// disabled at `now` (`disable_after_ms` = 0 turns this off).
pub fn should_auto_disable(
    failing_since: Option<Timestamp>,
    now: Timestamp,
    disable_after_ms: i64,
) -> bool {
    match failing_since {
        Some(since) if disable_after_ms > 0 => now.millis() - since.millis() >= disable_after_ms,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn follows_schedule_then_gives_up() {
        let mut rng = StdRng::seed_from_u64(7);
        let now = Timestamp(1_000_000);
        let s = DEFAULT_SCHEDULE;
        assert_eq!(
            next_attempt_at(s, 1, now, None, 0.0, &mut rng),
            Some(now.plus_millis(5_000))
        );
        assert_eq!(
            next_attempt_at(s, 8, now, None, 0.0, &mut rng),
            Some(now.plus_millis(86_400_000))
        );
        assert_eq!(next_attempt_at(s, 9, now, None, 0.0, &mut rng), None);
        assert_eq!(next_attempt_at(&[], 1, now, None, 0.0, &mut rng), None);
        assert_eq!(next_attempt_at(s, 0, now, None, 0.0, &mut rng), None);
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Timestamp(0);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let t = next_attempt_at(&[60], 1, now, None, 0.1, &mut rng)
                .unwrap()
                .millis();
            assert!((54_000..=66_000).contains(&t), "{t}");
            seen.insert(t);
        }
        assert!(seen.len() > 50, "jitter spreads retries out");
    }

    #[test]
    fn retry_after_only_delays_and_is_capped() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Timestamp(0);
        let later = next_attempt_at(&[5], 1, now, Some(120), 0.0, &mut rng).unwrap();
        assert_eq!(later.millis(), 120_000);
        let sooner = next_attempt_at(&[5], 1, now, Some(1), 0.0, &mut rng).unwrap();
        assert_eq!(sooner.millis(), 5_000);
        let huge = next_attempt_at(&[5], 1, now, Some(10_000_000), 0.0, &mut rng).unwrap();
        assert_eq!(huge.millis(), (MAX_RETRY_AFTER_SECS * 1000) as i64);
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = Timestamp::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("120", now), Some(120));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(60)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn auto_disable_after_threshold() {
        let day = 86_400_000;
        assert!(!should_auto_disable(None, Timestamp(10 * day), 5 * day));
        assert!(!should_auto_disable(
            Some(Timestamp(0)),
            Timestamp(4 * day),
            5 * day
        ));
        assert!(should_auto_disable(
            Some(Timestamp(0)),
            Timestamp(5 * day),
            5 * day
        ));
        assert!(!should_auto_disable(
            Some(Timestamp(0)),
            Timestamp(50 * day),
            0
        ));
    }
}
