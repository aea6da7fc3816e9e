//! The activity charts: attempts per bucket by outcome (stacked bars) and
//! attempt latency (p50 and p95 lines), drawn on the server as inline SVG
//! from the statistics rollup's buckets, with the window picker (a GET
//! form) and what screen readers get instead (a summary and a hidden
//! table). Pure: buckets in, markup out.
//!
//! The SVG holds only the plot and stretches to its box
//! (`preserveAspectRatio="none"`, strokes that do not scale), so it fills
//! any width from a phone to a desktop; the axis labels and the legend are
//! HTML around it and keep their size. Colours come from classes in
//! `assets/style.css` (the Content-Security-Policy forbids inline styles).

use hookrelay_core::time::Timestamp;
use hookrelay_store::{Bucket, StatsBucket};
use maud::{html, Markup};

/// Width of one bucket's slot in the plot's coordinates.
const SLOT: f64 = 10.0;
/// Height of the plot in its coordinates.
const PLOT_H: f64 = 100.0;
/// The least height a non-zero bar segment gets, so one attempt among
/// thousands still shows.
const MIN_SEGMENT: f64 = 0.8;

/// The windows the charts offer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Range {
    /// The last hour, by minute.
    Hour,
    /// The last 24 hours, by hour.
    #[default]
    Day,
    /// The last 30 days, by day.
    Month,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Hour, Range::Day, Range::Month];

    /// Its value in the query string (`?range=`).
    pub fn param(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Month => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Range::Hour => "Last hour, by minute",
            Range::Day => "Last 24 hours, by hour",
            Range::Month => "Last 30 days, by day",
        }
    }

    pub fn bucket(self) -> Bucket {
        match self {
            Range::Hour => Bucket::Minute,
            Range::Day => Bucket::Hour,
            Range::Month => Bucket::Day,
        }
    }

    /// How many buckets it shows, the current (partial) one included.
    pub fn buckets(self) -> i64 {
        match self {
            Range::Hour => 60,
            Range::Day => 24,
            Range::Month => 30,
        }
    }

    /// The range a query string names; anything else is the default, the
    /// last 24 hours.
    pub fn parse(param: Option<&str>) -> Range {
        Range::ALL
            .into_iter()
            .find(|r| Some(r.param()) == param)
            .unwrap_or_default()
    }

    /// `[since, until)` to ask the store for at `now`: whole buckets, the
    /// last one being the bucket `now` falls in.
    pub fn span(self, now: Timestamp) -> (Timestamp, Timestamp) {
        let size = self.bucket().millis();
        let until = self.bucket().floor(now).plus_millis(size);
        (until.plus_millis(-size * self.buckets()), until)
    }
}

/// The top of an axis showing values up to `max`: the next 1, 2 or 5
/// times a power of ten at or above it (1 for nothing).
pub fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * power >= max {
            return step * power;
        }
    }
    10.0 * power
}

/// A whole number with thousands separators: `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage, rounded down to a tenth so that anything short
/// of all never reads 100%: `0.6667` → `66.6%`, `1.0` → `100%`.
pub fn percent(share: f64) -> String {
    if share >= 1.0 {
        return "100%".into();
    }
    let tenths = (share.max(0.0) * 1000.0).floor() / 10.0;
    format!("{tenths:.1}%")
}

/// A coordinate, short: at most two decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A bucket's start in full, for tooltips and the table.
fn when(t: Timestamp, bucket: Bucket) -> String {
    let full = t.to_rfc3339();
    match bucket {
        Bucket::Day => full[..10].to_owned(),
        Bucket::Minute | Bucket::Hour => format!("{} {} UTC", &full[..10], &full[11..16]),
    }
}

/// A bucket's start, short, for the axis.
fn tick(t: Timestamp, bucket: Bucket) -> String {
    let full = t.to_rfc3339();
    match bucket {
        Bucket::Day => full[5..10].to_owned(),
        Bucket::Minute => full[11..16].to_owned(),
        Bucket::Hour => format!("{} {}", &full[5..10], &full[11..16]),
    }
}

/// The window picker: a GET form back to `action`.
pub fn range_form(action: &str, current: Range) -> Markup {
    html! {
        form.range-form method="get" action=(action) {
            label for="chart-range" { "Window" }
            select #chart-range name="range" {
                @for r in Range::ALL {
                    option value=(r.param()) selected[r == current] { (r.label()) }
                }
            }
            button.button.button-secondary type="submit" { "Show" }
        }
    }
}

/// The activity section's content: a heading, the window picker, both
/// charts and the hidden table. `subject` says whose attempts they are
/// ("this workspace", "this endpoint"); `action` is the page's path.
pub fn activity(action: &str, subject: &str, range: Range, buckets: &[StatsBucket]) -> Markup {
    html! {
        div.section-head {
            h2 #activity-title { "Activity" }
            (range_form(action, range))
        }
        div.charts {
            (volume(subject, range, buckets))
            (latency(subject, range, buckets))
        }
        (table(range, buckets))
    }
}

/// The plot's frame: labels of the y axis (`top`, its half and 0), the SVG,
/// and the first and last bucket under it.
fn frame(
    id: &str,
    label: &str,
    n: usize,
    top: &str,
    half: &str,
    ticks: (String, String),
    plot: Markup,
) -> Markup {
    let width = num(n.max(1) as f64 * SLOT);
    html! {
        div.chart-plot {
            div.chart-y aria-hidden="true" {
                span { (top) } span { (half) } span { "0" }
            }
            svg.chart-svg viewBox=(format!("0 0 {width} {}", num(PLOT_H))) width="100%" height="160"
                preserveAspectRatio="none" role="img" aria-label=(label)
                aria-labelledby=(format!("{id}-svg-title")) {
                title id=(format!("{id}-svg-title")) { (label) }
                @for y in [0.0, PLOT_H / 2.0, PLOT_H] {
                    line.grid x1="0" x2=(width) y1=(num(y)) y2=(num(y))
                        vector-effect="non-scaling-stroke" {}
                }
                (plot)
            }
            div.chart-x aria-hidden="true" {
                span { (ticks.0) } span { (ticks.1) }
            }
        }
    }
}

fn ticks(range: Range, buckets: &[StatsBucket]) -> (String, String) {
    let b = range.bucket();
    match (buckets.first(), buckets.last()) {
        (Some(first), Some(last)) => (tick(first.start, b), format!("{} UTC", tick(last.start, b))),
        _ => (String::new(), String::new()),
    }
}

/// Attempts per bucket, stacked from the bottom: succeeded, retrying,
/// failed. Every bucket has its bar (`g.bar`), empty ones no segments.
pub fn volume(subject: &str, range: Range, buckets: &[StatsBucket]) -> Markup {
    let b = range.bucket();
    let most = buckets
        .iter()
        .map(|x| x.totals.attempts())
        .max()
        .unwrap_or(0);
    let top = nice_max(most as f64);
    let (mut ok, mut retrying, mut failed) = (0u64, 0u64, 0u64);
    for x in buckets {
        ok += x.totals.succeeded;
        retrying += x.totals.retrying;
        failed += x.totals.failed;
    }
    let total = ok + retrying + failed;
    let label = format!("Attempts of {subject} by outcome, {}", range.label());
    let plot = html! {
        @for (i, x) in buckets.iter().enumerate() {
            @let t = &x.totals;
            g.bar {
                title {
                    (when(x.start, b)) ": " (count(t.attempts())) " attempts ("
                    (count(t.succeeded)) " succeeded, " (count(t.retrying)) " retrying, "
                    (count(t.failed)) " failed)"
                }
                @for (class, y, h) in segments(t.succeeded, t.retrying, t.failed, top) {
                    rect class=(class) x=(num(i as f64 * SLOT + 1.5)) width=(num(SLOT - 3.0))
                        y=(num(y)) height=(num(h)) {}
                }
            }
        }
    };
    html! {
        figure.chart aria-labelledby="volume-title" {
            figcaption {
                h3 #volume-title { "Attempts" }
                ul.legend {
                    li { span.swatch.swatch-ok {} "Succeeded" }
                    li { span.swatch.swatch-retrying {} "Retrying" }
                    li { span.swatch.swatch-failed {} "Failed" }
                }
            }
            // Attempts are whole: no half-way label on an axis to 1.
            @let half = if top >= 2.0 { count((top / 2.0) as u64) } else { String::new() };
            (frame("volume", &label, buckets.len(), &count(top as u64), &half,
                ticks(range, buckets), plot))
            p.chart-summary {
                @if total == 0 {
                    "No attempts in this window."
                } @else {
                    (count(total)) " attempts: " (count(ok)) " succeeded, "
                    (count(retrying)) " retrying, " (count(failed)) " failed."
                }
            }
        }
    }
}

/// The stacked segments of one bar, bottom up, as `(class, y, height)`;
/// only non-zero counts get one.
fn segments(ok: u64, retrying: u64, failed: u64, top: f64) -> Vec<(&'static str, f64, f64)> {
    let mut out = Vec::new();
    let mut base = PLOT_H;
    for (class, n) in [("ok", ok), ("retrying", retrying), ("failed", failed)] {
        if n == 0 {
            continue;
        }
        let h = (n as f64 / top * PLOT_H).max(MIN_SEGMENT).min(base);
        base -= h;
        out.push((class, base, h));
    }
    out
}

/// p50 and p95 of attempt latency per bucket, as lines; buckets without
/// attempts break the lines.
pub fn latency(subject: &str, range: Range, buckets: &[StatsBucket]) -> Markup {
    let b = range.bucket();
    let p50: Vec<Option<u32>> = buckets.iter().map(|x| x.totals.latency_p50_ms()).collect();
    let p95: Vec<Option<u32>> = buckets.iter().map(|x| x.totals.latency_p95_ms()).collect();
    let most = p95.iter().flatten().max().copied();
    let top = nice_max(most.map_or(0.0, f64::from));
    let label = format!(
        "Attempt latency of {subject}, p50 and p95, {}",
        range.label()
    );
    let plot = html! {
        @for (class, values) in [("p95", &p95), ("p50", &p50)] {
            @for points in lines(values, top) {
                polyline class=(format!("line line-{class}")) points=(points) fill="none"
                    vector-effect="non-scaling-stroke" {}
            }
        }
        @for (i, x) in buckets.iter().enumerate() {
            @if let (Some(m), Some(h)) = (p50[i], p95[i]) {
                rect.hit x=(num(i as f64 * SLOT)) y="0" width=(num(SLOT)) height=(num(PLOT_H))
                    fill="transparent" {
                    title { (when(x.start, b)) ": p50 " (count(m.into())) " ms, p95 " (count(h.into())) " ms" }
                }
            }
        }
    };
    html! {
        figure.chart aria-labelledby="latency-title" {
            figcaption {
                h3 #latency-title { "Latency" }
                ul.legend {
                    li { span.swatch.swatch-p50 {} "p50" }
                    li { span.swatch.swatch-p95 {} "p95" }
                }
            }
            (frame("latency", &label, buckets.len(), &format!("{} ms", count(top as u64)),
                &format!("{} ms", num(top / 2.0)), ticks(range, buckets), plot))
            p.chart-summary {
                @match (p50.iter().flatten().min(), p50.iter().flatten().max(), most) {
                    (Some(lo), Some(hi), Some(p95)) => {
                        "p50 between " (count((*lo).into())) " and " (count((*hi).into()))
                        " ms; p95 at most " (count(p95.into())) " ms."
                    }
                    _ => { "No attempts in this window." }
                }
            }
        }
    }
}

/// The `points` of each unbroken run of values (bucket centres); a run of
/// one is a short level stroke across its slot, so it still shows.
fn lines(values: &[Option<u32>], top: f64) -> Vec<String> {
    let y = |v: u32| num(PLOT_H - f64::from(v) / top * PLOT_H);
    let mut out = Vec::new();
    let mut run: Vec<(usize, u32)> = Vec::new();
    let mut flush = |run: &mut Vec<(usize, u32)>| {
        match run.as_slice() {
            [] => {}
            [(i, v)] => {
                let x = *i as f64 * SLOT;
                out.push(format!(
                    "{},{} {},{}",
                    num(x + 2.0),
                    y(*v),
                    num(x + SLOT - 2.0),
                    y(*v)
                ));
            }
            many => out.push(
                many.iter()
                    .map(|(i, v)| format!("{},{}", num(*i as f64 * SLOT + SLOT / 2.0), y(*v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
        run.clear();
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => run.push((i, *v)),
            None => flush(&mut run),
        }
    }
    flush(&mut run);
    out
}

/// The numbers behind both charts for screen readers: a row per bucket
/// with attempts.
fn table(range: Range, buckets: &[StatsBucket]) -> Markup {
    let b = range.bucket();
    // Hidden by its wrapper: a table takes its columns' width whatever
    // width it is given, so a hidden table itself would still widen the page.
    html! {
        div.visually-hidden { table {
            caption { "Attempts and latency per " (b.as_str()) ", " (range.label()) "; buckets without attempts left out" }
            thead { tr {
                th scope="col" { "Start" }
                th scope="col" { "Succeeded" }
                th scope="col" { "Retrying" }
                th scope="col" { "Failed" }
                th scope="col" { "p50 (ms)" }
                th scope="col" { "p95 (ms)" }
            } }
            tbody {
                @for x in buckets.iter().filter(|x| x.totals.attempts() > 0) {
                    tr {
                        th scope="row" { (when(x.start, b)) }
                        td { (count(x.totals.succeeded)) }
                        td { (count(x.totals.retrying)) }
                        td { (count(x.totals.failed)) }
                        td { (x.totals.latency_p50_ms().map(|v| count(v.into())).unwrap_or_default()) }
                        td { (x.totals.latency_p95_ms().map(|v| count(v.into())).unwrap_or_default()) }
                    }
                }
            }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookrelay_store::{Latency, Totals};

    const T: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

    fn bucket(i: i64, ok: u64, retrying: u64, failed: u64, ms: &[u32]) -> StatsBucket {
        let mut latency = Latency::default();
        for m in ms {
            latency.record(*m);
        }
        StatsBucket {
            start: Timestamp(T + i * 3_600_000),
            totals: Totals {
                succeeded: ok,
                retrying,
                failed,
                latency,
            },
        }
    }

    fn empty(n: i64) -> Vec<StatsBucket> {
        (0..n).map(|i| bucket(i, 0, 0, 0, &[])).collect()
    }

    /// The value of attribute `name` in each `<tag …>` of `m`.
    fn attrs(m: &str, tag: &str, name: &str) -> Vec<String> {
        m.split(&format!("<{tag} "))
            .skip(1)
            .filter_map(|s| {
                let s = format!(" {}", &s[..s.find('>').unwrap()]);
                let at = s.find(&format!(" {name}=\""))? + name.len() + 3;
                Some(s[at..at + s[at..].find('"').unwrap()].to_owned())
            })
            .collect()
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(1.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(4_321.0), 5_000.0);
        assert_eq!(nice_max(9_000_000_001.0), 10_000_000_000.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(2.0 / 3.0), "66.6%");
        assert_eq!(percent(0.9999), "99.9%");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(100.0), "100");
        assert_eq!(num(0.333), "0.33");
    }

    #[test]
    fn a_range_is_its_buckets_ending_with_the_current_one() {
        let now = Timestamp(T + 25 * 60_000 + 7_000); // 08:25:07
        let (since, until) = Range::Hour.span(now);
        assert_eq!(until, Timestamp(T + 26 * 60_000));
        assert_eq!(since, Timestamp(T + 26 * 60_000 - 3_600_000));
        let (since, until) = Range::Day.span(Timestamp(T));
        assert_eq!((until.0 - since.0) / 3_600_000, 24);
        assert_eq!(until, Timestamp(T + 3_600_000));
        let (since, until) = Range::Month.span(now);
        assert_eq!((until.0 - since.0) / 86_400_000, 30);
        for r in Range::ALL {
            assert_eq!(Range::parse(Some(r.param())), r);
        }
        assert_eq!(Range::parse(None), Range::Day);
        assert_eq!(Range::parse(Some("7y")), Range::Day);
    }

    #[test]
    fn bars_are_scaled_to_the_axis_and_stacked() {
        let buckets = vec![
            bucket(0, 3, 1, 1, &[10; 5]),
            bucket(1, 0, 0, 0, &[]),
            bucket(2, 8, 0, 0, &[10; 8]),
        ];
        let m = volume("this workspace", Range::Day, &buckets).into_string();
        assert_eq!(m.matches(r#"<g class="bar">"#).count(), 3);
        // The axis tops at 10: 3 of 10 is 30 high, from the bottom up.
        let heights = attrs(&m, "rect", "height");
        let ys = attrs(&m, "rect", "y");
        assert_eq!(heights, ["30", "10", "10", "80"]);
        assert_eq!(ys, ["70", "60", "50", "20"]);
        assert_eq!(
            attrs(&m, "rect", "class"),
            ["ok", "retrying", "failed", "ok"]
        );
        assert!(m.contains(r#"viewBox="0 0 30 100""#), "{m}");
        assert!(m.contains(r#"width="100%""#));
        assert!(m.contains("<title id=\"volume-svg-title\">Attempts of this workspace"));
        assert!(m.contains("13 attempts: 11 succeeded, 1 retrying, 1 failed."));
        assert!(!m.contains("style="), "no inline styles: {m}");
    }

    #[test]
    fn no_data_draws_empty_bars_and_says_so() {
        let m = volume("this endpoint", Range::Hour, &empty(60)).into_string();
        assert_eq!(m.matches(r#"<g class="bar">"#).count(), 60);
        assert!(attrs(&m, "rect", "height").is_empty());
        assert!(m.contains("No attempts in this window."));
        let l = latency("this endpoint", Range::Hour, &empty(60)).into_string();
        assert!(!l.contains("<polyline"));
        assert!(l.contains("No attempts in this window."));
        let t = table(Range::Hour, &empty(60)).into_string();
        assert_eq!(t.matches("<tr>").count(), 1, "only the header row");
        // Even no buckets at all draws a frame.
        let m = activity("/x", "this endpoint", Range::Day, &[]).into_string();
        assert!(m.contains(r#"viewBox="0 0 10 100""#), "{m}");
    }

    #[test]
    fn one_bucket_fills_the_plot_and_its_latency_shows_as_a_stroke() {
        let buckets = vec![bucket(0, 1, 0, 0, &[120])];
        let m = volume("x", Range::Month, &buckets).into_string();
        assert_eq!(attrs(&m, "rect", "height"), ["100"]);
        let l = latency("x", Range::Month, &buckets).into_string();
        // p50 = p95 = 120 on an axis to 200: y 40, a stroke across the slot.
        assert_eq!(attrs(&l, "polyline", "points"), ["2,40 8,40", "2,40 8,40"]);
        assert!(l.contains("200 ms"));
        assert!(l.contains("p50 between 120 and 120 ms; p95 at most 120 ms."));
    }

    #[test]
    fn large_counts_scale_and_small_ones_stay_visible() {
        let buckets = vec![bucket(0, 4_000_000_000, 1, 0, &[]), bucket(1, 1, 0, 0, &[])];
        let m = volume("x", Range::Day, &buckets).into_string();
        let heights: Vec<f64> = attrs(&m, "rect", "height")
            .iter()
            .map(|h| h.parse().unwrap())
            .collect();
        assert_eq!(heights, [80.0, MIN_SEGMENT, MIN_SEGMENT]);
        assert!(m.contains(">5,000,000,000<"), "axis top: {m}");
        assert!(m.contains("4,000,000,002 attempts"));
        // Never taller than the plot, however the minimums add up.
        let full = segments(10, 1, 1, 10.0);
        assert!(full.iter().all(|(_, y, h)| *y >= 0.0 && *h >= 0.0));
        assert_eq!(full[0], ("ok", 0.0, 100.0));
    }

    #[test]
    fn latency_lines_break_where_there_were_no_attempts() {
        let buckets = vec![
            bucket(0, 1, 0, 0, &[10]),
            bucket(1, 1, 0, 0, &[30]),
            bucket(2, 0, 0, 0, &[]),
            bucket(3, 1, 0, 0, &[50]),
        ];
        let l = latency("x", Range::Day, &buckets).into_string();
        let points = attrs(&l, "polyline", "points");
        // p95 first, then p50; the axis tops at 50.
        assert_eq!(
            points,
            ["5,80 15,40", "32,0 38,0", "5,80 15,40", "32,0 38,0"]
        );
        let t = table(Range::Day, &buckets).into_string();
        assert_eq!(t.matches("<tr>").count(), 4);
        assert!(t.contains("2027-01-15 08:00 UTC"));
    }
}
