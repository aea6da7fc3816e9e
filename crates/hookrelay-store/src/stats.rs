//! Delivery statistics, the same on every backend: what the rollup of
//! attempts holds, how a query's window is cut into buckets and bounded,
//! how latency percentiles are read from a histogram, and the zero-filled
//! answer. A backend only adds increments to its rollup rows and sums them.
//!
//! **The rollup.** Recording an attempt's outcome also counts it in two
//! tables, one row per (workspace, minute, endpoint) and one per
//! (workspace, hour, endpoint): the attempts by outcome, the smallest and
//! largest latency, and a latency histogram with fixed bounds
//! ([`LATENCY_BOUNDS_MS`]). The attempts themselves carry no workspace or
//! endpoint (they hang off their delivery), so a query over them would join
//! and read every attempt in the window; a rollup row stands for all the
//! attempts of its minute or hour, so a query reads at most a row per
//! endpoint and minute (minute buckets) or hour (hour and day buckets) of
//! its window, however much history there is and however many attempts the
//! window holds. A batch of outcomes adds one increment per row it touches
//! ([`Increments`]), not one per outcome.
//!
//! **Windows.** A window `[since, until)` is widened to whole buckets
//! (UTC: minutes, hours, days from midnight UTC), and is at most 24 hours
//! of minute buckets, 31 days of hour buckets or 400 days of day buckets,
//! so an answer has at most 1,441 buckets and a query reads a bounded number
//! of rows per endpoint.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use hookrelay_core::model::DeliveryStatus;
use hookrelay_core::time::Timestamp;

use crate::{ErrorKind, Outcome, StoreError};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Upper bounds (inclusive, in milliseconds) of the latency histogram's
/// buckets: each at most twice the one before. One more bucket holds every
/// latency above the last bound.
pub const LATENCY_BOUNDS_MS: [u32; 20] = [
    1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 20_000,
    30_000, 60_000,
];
/// Buckets of the latency histogram: one per bound, and one above them.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The histogram bucket a latency falls in.
fn latency_bucket(ms: u32) -> usize {
    LATENCY_BOUNDS_MS.partition_point(|&bound| bound < ms)
}

/// How wide the buckets of a statistics query are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    pub const ALL: [Bucket; 3] = [Bucket::Minute, Bucket::Hour, Bucket::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    /// The bucket's length.
    pub fn millis(self) -> i64 {
        match self {
            Bucket::Minute => MINUTE_MS,
            Bucket::Hour => HOUR_MS,
            Bucket::Day => DAY_MS,
        }
    }

    /// The longest window a query in these buckets may ask for.
    pub fn max_window_ms(self) -> i64 {
        match self {
            Bucket::Minute => DAY_MS,
            Bucket::Hour => 31 * DAY_MS,
            Bucket::Day => 400 * DAY_MS,
        }
    }

    /// [`Bucket::max_window_ms`] in words.
    fn max_window_words(self) -> &'static str {
        match self {
            Bucket::Minute => "24 hours",
            Bucket::Hour => "31 days",
            Bucket::Day => "400 days",
        }
    }

    /// The start of the bucket `t` falls in.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        floor(t.0, self.millis())
    }

    /// The rollup a query in these buckets reads: days are summed from hours.
    pub(crate) fn rollup(self) -> Rollup {
        match self {
            Bucket::Minute => Rollup::Minutes,
            Bucket::Hour | Bucket::Day => Rollup::Hours,
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bucket name that is not `minute`, `hour` or `day`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bucket must be one of: minute, hour, day")]
pub struct UnknownBucket;

impl FromStr for Bucket {
    type Err = UnknownBucket;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bucket::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or(UnknownBucket)
    }
}

fn floor(ms: i64, size: i64) -> Timestamp {
    Timestamp(ms - ms.rem_euclid(size))
}

fn ceil(ms: i64, size: i64) -> Timestamp {
    let down = floor(ms, size);
    if down.0 == ms {
        down
    } else {
        Timestamp(down.0.saturating_add(size))
    }
}

/// One of the two rollup tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rollup {
    Minutes,
    Hours,
}

impl Rollup {
    pub(crate) const ALL: [Rollup; 2] = [Rollup::Minutes, Rollup::Hours];

    pub(crate) fn table(self) -> &'static str {
        match self {
            Rollup::Minutes => "stats_minutes",
            Rollup::Hours => "stats_hours",
        }
    }

    /// How long one row's period is.
    pub(crate) fn millis(self) -> i64 {
        match self {
            Rollup::Minutes => MINUTE_MS,
            Rollup::Hours => HOUR_MS,
        }
    }
}

/// What an attempt's outcome counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
    Succeeded,
    /// Failed, with another attempt scheduled.
    Retrying,
    /// Failed, and no attempt follows.
    Failed,
}

impl Counted {
    /// The delivery status an attempt left: succeeded, still pending (a
    /// retry is scheduled) or failed. (An attempt never ends in `cancelled`;
    /// should one, it did not succeed.)
    pub(crate) fn of(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Succeeded => Counted::Succeeded,
            DeliveryStatus::Pending => Counted::Retrying,
            DeliveryStatus::Failed | DeliveryStatus::Cancelled => Counted::Failed,
        }
    }
}

/// A latency histogram with the fixed bounds of [`LATENCY_BOUNDS_MS`], and
/// the smallest and largest latency it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    counts: [u64; LATENCY_BUCKETS],
    min_ms: Option<u32>,
    max_ms: Option<u32>,
}

impl Latency {
    /// Adds one latency.
    pub fn record(&mut self, ms: u32) {
        self.counts[latency_bucket(ms)] += 1;
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
        self.max_ms = Some(self.max_ms.map_or(ms, |m| m.max(ms)));
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Latency) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.min_ms = match (self.min_ms, other.min_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ms = match (self.max_ms, other.max_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// How many latencies it holds.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// How many latencies each bucket holds (bounds: [`LATENCY_BOUNDS_MS`]).
    pub fn counts(&self) -> &[u64; LATENCY_BUCKETS] {
        &self.counts
    }

    pub fn min_ms(&self) -> Option<u32> {
        self.min_ms
    }

    pub fn max_ms(&self) -> Option<u32> {
        self.max_ms
    }

    /// The `q` quantile (0 < q ≤ 1) in whole milliseconds, `None` when
    /// empty. The bucket holding the value of rank ⌈q·n⌉ is found exactly;
    /// within it the value is interpolated linearly, between the bucket's
    /// bounds narrowed to the smallest and largest latency held. So the
    /// estimate lies in the same bucket as the true value (bounds at most
    /// twice apart), never outside [min, max], and exact for a single
    /// latency.
    pub fn percentile(&self, q: f64) -> Option<u32> {
        let (min, max) = (self.min_ms?, self.max_ms?);
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut below = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && below + c >= rank {
                let lo = if i == 0 { 0 } else { LATENCY_BOUNDS_MS[i - 1] };
                let hi = LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(max);
                let (lo, hi) = (f64::from(lo.max(min)), f64::from(hi.min(max)));
                let hi = hi.max(lo);
                let at = lo + (hi - lo) * (rank - below) as f64 / c as f64;
                return Some((at.round() as u32).clamp(min, max));
            }
            below += c;
        }
        Some(max)
    }
}

/// Attempts counted by outcome, with their latencies: one rollup row, or
/// the sum of several.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Attempts that delivered (2xx).
    pub succeeded: u64,
    /// Failed attempts after which another was scheduled.
    pub retrying: u64,
    /// Failed attempts that were the delivery's last.
    pub failed: u64,
    pub latency: Latency,
}

impl Totals {
    /// Every attempt counted.
    pub fn attempts(&self) -> u64 {
        self.succeeded + self.retrying + self.failed
    }

    /// Adds `other`'s attempts.
    pub fn merge(&mut self, other: &Totals) {
        self.succeeded += other.succeeded;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.latency.merge(&other.latency);
    }

    pub(crate) fn record(&mut self, counted: Counted, ms: u32) {
        match counted {
            Counted::Succeeded => self.succeeded += 1,
            Counted::Retrying => self.retrying += 1,
            Counted::Failed => self.failed += 1,
        }
        self.latency.record(ms);
    }

    /// The median attempt latency (see [`Latency::percentile`]).
    pub fn latency_p50_ms(&self) -> Option<u32> {
        self.latency.percentile(0.5)
    }

    /// The 95th percentile of attempt latency (see [`Latency::percentile`]).
    pub fn latency_p95_ms(&self) -> Option<u32> {
        self.latency.percentile(0.95)
    }

    /// The share of attempts that succeeded, `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        let n = self.attempts();
        (n > 0).then(|| self.succeeded as f64 / n as f64)
    }

    /// The values of [`COUNTER_COLUMNS`], in that order.
    pub(crate) fn to_columns(&self) -> [i64; COLUMNS] {
        let mut out = [0i64; COLUMNS];
        out[0] = self.succeeded as i64;
        out[1] = self.retrying as i64;
        out[2] = self.failed as i64;
        out[3] = i64::from(self.latency.min_ms.unwrap_or(0));
        out[4] = i64::from(self.latency.max_ms.unwrap_or(0));
        for (o, c) in out[5..].iter_mut().zip(self.latency.counts) {
            *o = c as i64;
        }
        out
    }

    /// Totals from the values of [`COUNTER_COLUMNS`] (or their sums).
    pub(crate) fn from_columns(v: &[Option<i64>]) -> Result<Totals, StoreError> {
        if v.len() != COLUMNS {
            return Err(StoreError::corrupt("a statistics row of the wrong width"));
        }
        let count = |x: Option<i64>| {
            u64::try_from(x.unwrap_or(0))
                .map_err(|_| StoreError::corrupt("a negative statistics counter"))
        };
        let ms = |x: Option<i64>| {
            x.map(|x| u32::try_from(x).map_err(|_| StoreError::corrupt("a statistics latency")))
                .transpose()
        };
        let mut latency = Latency {
            counts: [0; LATENCY_BUCKETS],
            min_ms: ms(v[3])?,
            max_ms: ms(v[4])?,
        };
        for (c, x) in latency.counts.iter_mut().zip(&v[5..]) {
            *c = count(*x)?;
        }
        if latency.count() == 0 {
            latency.min_ms = None;
            latency.max_ms = None;
        }
        Ok(Totals {
            succeeded: count(v[0])?,
            retrying: count(v[1])?,
            failed: count(v[2])?,
            latency,
        })
    }
}

/// The sums of a rollup row's counters (see [`sum_columns`]), read from
/// column `first` on.
pub(crate) fn totals_at(row: &impl crate::rows::Cells, first: usize) -> Result<Totals, StoreError> {
    let mut v = [None; COLUMNS];
    for (i, x) in v.iter_mut().enumerate() {
        *x = row.opt_int(first + i)?;
    }
    Totals::from_columns(&v)
}

/// Columns of a rollup row after its key.
pub(crate) const COLUMNS: usize = 5 + LATENCY_BUCKETS;

/// Names of a rollup row's columns after its key (workspace, start,
/// endpoint): the counts by outcome, the smallest and largest latency, and
/// the histogram's buckets `h00`…`h20`.
pub(crate) fn counter_columns() -> Vec<String> {
    let mut cols: Vec<String> = ["succeeded", "retrying", "failed", "min_ms", "max_ms"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    cols.extend((0..LATENCY_BUCKETS).map(|i| format!("h{i:02}")));
    cols
}

/// SQL that sums [`counter_columns`] over a group of rows, in their order;
/// `cast` follows each sum (PostgreSQL's `SUM` of a `BIGINT` is a
/// `NUMERIC`).
pub(crate) fn sum_columns(cast: &str) -> String {
    counter_columns()
        .iter()
        .map(|c| match c.as_str() {
            "min_ms" => "MIN(min_ms)".to_owned(),
            "max_ms" => "MAX(max_ms)".to_owned(),
            c => format!("SUM({c}){cast}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `SET` list of an upsert adding a row's increment (`excluded`) to
/// the stored row of `table`; `least`/`greatest` name the backend's
/// two-argument minimum and maximum.
pub(crate) fn upsert_set(table: &str, least: &str, greatest: &str) -> String {
    counter_columns()
        .iter()
        .map(|c| match c.as_str() {
            "min_ms" => format!("min_ms = {least}({table}.min_ms, excluded.min_ms)"),
            "max_ms" => format!("max_ms = {greatest}({table}.max_ms, excluded.max_ms)"),
            c => format!("{c} = {table}.{c} + excluded.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rollup row's key: workspace, start of its period (ms), endpoint.
/// Ordered as the tables' primary keys, so every writer updates rows in
/// one order.
pub(crate) type RowKey<'a> = (&'a str, i64, &'a str);

/// What a batch of recorded attempts adds to the rollups: one increment
/// per row.
#[derive(Debug, Default)]
pub(crate) struct Increments<'a> {
    pub(crate) minutes: BTreeMap<RowKey<'a>, Totals>,
    pub(crate) hours: BTreeMap<RowKey<'a>, Totals>,
}

impl<'a> Increments<'a> {
    /// Counts the attempt of `o` (recorded onto a delivery of workspace
    /// `ws`) in the minute and hour it started; an outcome without an
    /// attempt counts nothing.
    pub(crate) fn add(&mut self, ws: &'a str, o: &'a Outcome) {
        let Some(a) = &o.attempt else { return };
        let counted = Counted::of(o.status);
        let ep = o.endpoint_id.as_str();
        for (rows, size) in [(&mut self.minutes, MINUTE_MS), (&mut self.hours, HOUR_MS)] {
            rows.entry((ws, floor(a.started_at.0, size).0, ep))
                .or_default()
                .record(counted, a.duration_ms);
        }
    }

    /// The increments of one rollup.
    pub(crate) fn of(&self, rollup: Rollup) -> &BTreeMap<RowKey<'a>, Totals> {
        match rollup {
            Rollup::Minutes => &self.minutes,
            Rollup::Hours => &self.hours,
        }
    }
}

/// Why a window was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("until must be after since")]
    Empty,
    #[error("a window of {} buckets may be at most {}", .0.as_str(), .0.max_window_words())]
    TooLong(Bucket),
}

impl From<WindowError> for StoreError {
    fn from(e: WindowError) -> Self {
        StoreError::new(ErrorKind::Invalid, e.to_string())
    }
}

/// The buckets of a statistics query: `[since, until)` widened to whole
/// buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first bucket's start.
    pub since: Timestamp,
    /// The last bucket's end.
    pub until: Timestamp,
    pub bucket: Bucket,
}

impl Window {
    /// The buckets covering `[since, until)`, or why there may not be such
    /// a query: an empty window, or one longer than `bucket` allows.
    pub fn new(since: Timestamp, until: Timestamp, bucket: Bucket) -> Result<Self, WindowError> {
        if until <= since {
            return Err(WindowError::Empty);
        }
        if until.0.saturating_sub(since.0) > bucket.max_window_ms() {
            return Err(WindowError::TooLong(bucket));
        }
        Ok(Self {
            since: bucket.floor(since),
            until: ceil(until.0, bucket.millis()),
            bucket,
        })
    }

    /// How many buckets it has.
    pub fn len(&self) -> usize {
        ((self.until.0 - self.since.0) / self.bucket.millis()) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every bucket of the window, in order, holding the rollup rows
    /// `(start, totals)` that fall in it (rows outside are ignored).
    pub(crate) fn zero_filled(
        &self,
        rows: impl IntoIterator<Item = (i64, Totals)>,
    ) -> Vec<StatsBucket> {
        let size = self.bucket.millis();
        let mut out: Vec<StatsBucket> = (0..self.len())
            .map(|i| StatsBucket {
                start: Timestamp(self.since.0 + i as i64 * size),
                totals: Totals::default(),
            })
            .collect();
        for (start, totals) in rows {
            if start < self.since.0 || start >= self.until.0 {
                continue;
            }
            let i = ((start - self.since.0) / size) as usize;
            out[i].totals.merge(&totals);
        }
        out
    }
}

/// One bucket of a statistics answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsBucket {
    pub start: Timestamp,
    pub totals: Totals,
}

/// The rollup ranges (`[from, to)` of row starts) that sum to a window of
/// whole minutes as cheaply as possible: hour rows for the whole hours in
/// it, minute rows for the minutes before the first and after the last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ranges(pub(crate) Vec<(Rollup, i64, i64)>);

impl Ranges {
    /// For per-endpoint totals over `[since, until)` (widened to whole
    /// minutes; as long as a window of day buckets may be).
    pub(crate) fn totals(since: Timestamp, until: Timestamp) -> Result<Self, WindowError> {
        if until <= since {
            return Err(WindowError::Empty);
        }
        if until.0.saturating_sub(since.0) > Bucket::Day.max_window_ms() {
            return Err(WindowError::TooLong(Bucket::Day));
        }
        let (from, to) = (floor(since.0, MINUTE_MS).0, ceil(until.0, MINUTE_MS).0);
        let (h_from, h_to) = (ceil(from, HOUR_MS).0, floor(to, HOUR_MS).0);
        if h_from >= h_to {
            return Ok(Self(vec![(Rollup::Minutes, from, to)]));
        }
        let mut out = Vec::with_capacity(3);
        if from < h_from {
            out.push((Rollup::Minutes, from, h_from));
        }
        out.push((Rollup::Hours, h_from, h_to));
        if h_to < to {
            out.push((Rollup::Minutes, h_to, to));
        }
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookrelay_core::ids::{DeliveryId, EndpointId};
    use hookrelay_core::model::Attempt;

    const T: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

    fn latency(values: &[u32]) -> Latency {
        let mut l = Latency::default();
        for v in values {
            l.record(*v);
        }
        l
    }

    #[test]
    fn latencies_fall_in_the_bucket_of_their_upper_bound() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(2), 1);
        assert_eq!(latency_bucket(4), 3);
        assert_eq!(latency_bucket(5), 3);
        assert_eq!(latency_bucket(60_000), 19);
        assert_eq!(latency_bucket(60_001), 20);
        assert_eq!(latency_bucket(u32::MAX), 20);
        for w in LATENCY_BOUNDS_MS.windows(2) {
            assert!(w[1] <= 2 * w[0], "bounds at most twice apart: {w:?}");
        }
    }

    #[test]
    fn one_latency_is_every_percentile_exactly() {
        for v in [0, 1, 7, 120, 45_000, 90_000] {
            let l = latency(&[v]);
            assert_eq!(l.percentile(0.5), Some(v));
            assert_eq!(l.percentile(0.95), Some(v));
        }
        assert_eq!(Latency::default().percentile(0.5), None);
    }

    #[test]
    fn percentiles_land_in_the_true_values_bucket() {
        // 100 latencies 1..=100 ms: p50 is 50, p95 is 95.
        let values: Vec<u32> = (1..=100).collect();
        let l = latency(&values);
        let p50 = l.percentile(0.5).unwrap();
        let p95 = l.percentile(0.95).unwrap();
        assert_eq!(latency_bucket(p50), latency_bucket(50), "p50 {p50}");
        assert_eq!(latency_bucket(p95), latency_bucket(95), "p95 {p95}");
        // Interpolation: 50 of them (51..=100) are in (50, 100]; rank 95 is
        // the 45th of those.
        assert_eq!(p95, 95);
        assert!((30..=50).contains(&p50), "p50 {p50}");
        // Never above the largest latency held.
        assert_eq!(latency(&[10, 11, 12]).percentile(0.95), Some(12));
        // Above the last bound: up to the largest.
        let slow = latency(&[70_000, 80_000]);
        assert_eq!(slow.percentile(0.5), Some(75_000));
        assert_eq!(slow.percentile(0.95), Some(80_000));
    }

    #[test]
    fn merged_histograms_are_the_histogram_of_everything() {
        let mut a = latency(&[3, 400, 9]);
        a.merge(&latency(&[1_500, 2]));
        assert_eq!(a, latency(&[3, 400, 9, 1_500, 2]));
        let mut empty = Latency::default();
        empty.merge(&a);
        assert_eq!(empty, a);
    }

    #[test]
    fn totals_round_trip_through_columns() {
        let mut t = Totals::default();
        t.record(Counted::Succeeded, 120);
        t.record(Counted::Retrying, 3);
        t.record(Counted::Failed, 61_000);
        let cols: Vec<Option<i64>> = t.to_columns().into_iter().map(Some).collect();
        assert_eq!(Totals::from_columns(&cols).unwrap(), t);
        assert_eq!(counter_columns().len(), COLUMNS);
        assert_eq!(t.attempts(), 3);
        assert_eq!(t.success_rate(), Some(1.0 / 3.0));
        assert!(Totals::from_columns(&cols[1..]).is_err());
        let mut negative = cols.clone();
        negative[0] = Some(-1);
        assert!(Totals::from_columns(&negative).is_err());
    }

    #[test]
    fn windows_widen_to_whole_buckets_and_are_bounded() {
        let w = Window::new(
            Timestamp(T + 90_000),
            Timestamp(T + 3 * HOUR_MS + 1),
            Bucket::Hour,
        )
        .unwrap();
        assert_eq!(w.since, Timestamp(T));
        assert_eq!(w.until, Timestamp(T + 4 * HOUR_MS));
        assert_eq!(w.len(), 4);
        // Already whole: unchanged.
        let w = Window::new(Timestamp(T), Timestamp(T + DAY_MS), Bucket::Minute).unwrap();
        assert_eq!(
            (w.since, w.until, w.len()),
            (Timestamp(T), Timestamp(T + DAY_MS), 1440)
        );
        // Days start at midnight UTC (T is 08:00).
        let w = Window::new(Timestamp(T), Timestamp(T + 1), Bucket::Day).unwrap();
        assert_eq!(w.since, Timestamp(T - 8 * HOUR_MS));
        assert_eq!(w.len(), 1);

        assert_eq!(
            Window::new(Timestamp(T), Timestamp(T), Bucket::Hour),
            Err(WindowError::Empty)
        );
        for b in Bucket::ALL {
            let max = b.max_window_ms();
            assert!(Window::new(Timestamp(T), Timestamp(T + max), b).is_ok());
            let err = Window::new(Timestamp(T), Timestamp(T + max + 1), b).unwrap_err();
            assert_eq!(err, WindowError::TooLong(b));
            // Never more than one bucket beyond the limit's.
            let w = Window::new(Timestamp(T + 1), Timestamp(T + max + 1), b).unwrap();
            assert!(w.len() as i64 <= max / b.millis() + 1);
        }
        assert_eq!(
            WindowError::TooLong(Bucket::Minute).to_string(),
            "a window of minute buckets may be at most 24 hours"
        );
        // Before 1970 too.
        assert_eq!(Bucket::Hour.floor(Timestamp(-1)), Timestamp(-HOUR_MS));
    }

    #[test]
    fn answers_have_every_bucket_zero_filled() {
        let w = Window::new(Timestamp(T), Timestamp(T + DAY_MS * 3), Bucket::Day).unwrap();
        let mut one = Totals::default();
        one.record(Counted::Succeeded, 10);
        // Hour rows of the second day, and one outside the window.
        let rows = vec![
            (T - 8 * HOUR_MS + DAY_MS + HOUR_MS, one.clone()),
            (T - 8 * HOUR_MS + DAY_MS + 5 * HOUR_MS, one.clone()),
            (T + 10 * DAY_MS, one.clone()),
        ];
        let got = w.zero_filled(rows);
        assert_eq!(got.len(), 4, "08:00 on day 0 to 08:00 on day 3: four days");
        let counts: Vec<u64> = got.iter().map(|b| b.totals.attempts()).collect();
        assert_eq!(counts, vec![0, 2, 0, 0]);
        assert_eq!(got[1].start, Timestamp(T - 8 * HOUR_MS + DAY_MS));
        assert_eq!(got[0].totals, Totals::default());
    }

    #[test]
    fn totals_read_hours_in_the_middle_and_minutes_at_the_ends() {
        let r = Ranges::totals(
            Timestamp(T - 30 * MINUTE_MS + 5),
            Timestamp(T + 2 * HOUR_MS + 61_000),
        )
        .unwrap();
        assert_eq!(
            r.0,
            vec![
                (Rollup::Minutes, T - 30 * MINUTE_MS, T),
                (Rollup::Hours, T, T + 2 * HOUR_MS),
                (
                    Rollup::Minutes,
                    T + 2 * HOUR_MS,
                    T + 2 * HOUR_MS + 2 * MINUTE_MS
                ),
            ]
        );
        // Whole hours only.
        let r = Ranges::totals(Timestamp(T), Timestamp(T + DAY_MS)).unwrap();
        assert_eq!(r.0, vec![(Rollup::Hours, T, T + DAY_MS)]);
        // Within one hour: minutes only.
        let r = Ranges::totals(Timestamp(T + 60_000), Timestamp(T + 120_000)).unwrap();
        assert_eq!(r.0, vec![(Rollup::Minutes, T + 60_000, T + 120_000)]);
        assert!(Ranges::totals(Timestamp(T), Timestamp(T + 401 * DAY_MS)).is_err());
    }

    #[test]
    fn a_batch_adds_one_increment_per_row() {
        let attempt = |at: i64, ms: u32| Attempt {
            attempt_number: 0,
            started_at: Timestamp(at),
            duration_ms: ms,
            request_url: String::new(),
            request_headers: Vec::new(),
            response_status: None,
            response_headers: Vec::new(),
            response_body: None,
            error_kind: None,
            error_message: None,
        };
        let outcome = |ep: &str, at: i64, status, with_attempt: bool| Outcome {
            delivery_id: DeliveryId::from_trusted("dlv_1".into()),
            endpoint_id: EndpointId::from_trusted(ep.into()),
            lease_owner: None,
            attempt: with_attempt.then(|| attempt(at, 10)),
            status,
            attempt_count: 1,
            next_attempt_at: None,
            endpoint_effect: None,
        };
        use DeliveryStatus::*;
        let batch = [
            outcome("ep_a", T + 1_000, Succeeded, true),
            outcome("ep_a", T + 59_999, Pending, true),
            outcome("ep_a", T + 60_000, Failed, true),
            outcome("ep_b", T + 1_000, Succeeded, true),
            outcome("ep_b", T + 2_000, Failed, false),
        ];
        let mut inc = Increments::default();
        for o in &batch {
            inc.add("ws_1", o);
        }
        let minutes: Vec<(RowKey<'_>, u64, u64, u64)> = inc
            .minutes
            .iter()
            .map(|(k, t)| (*k, t.succeeded, t.retrying, t.failed))
            .collect();
        assert_eq!(
            minutes,
            vec![
                (("ws_1", T, "ep_a"), 1, 1, 0),
                (("ws_1", T, "ep_b"), 1, 0, 0),
                (("ws_1", T + 60_000, "ep_a"), 0, 0, 1),
            ]
        );
        let hours: Vec<(RowKey<'_>, u64)> =
            inc.hours.iter().map(|(k, t)| (*k, t.attempts())).collect();
        assert_eq!(
            hours,
            vec![(("ws_1", T, "ep_a"), 3), (("ws_1", T, "ep_b"), 1)]
        );
    }
}
