//! Figures and how they are shown: percentiles, the per-run list of named
//! figures, the stdout table (one column per run plus the median), and the
//! JSON lines appended to `--json`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::{json, Map, Value};

/// How a figure is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    PerSec,
    Ms,
    MiB,
    Secs,
    Ratio,
}

/// One named number of one run.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Stable JSON key, e.g. `e2e_p99_ms`.
    pub key: String,
    /// Table label, e.g. `end-to-end p99 (ms)`.
    pub label: String,
    pub unit: Unit,
    /// `None` when it could not be measured (e.g. no deliveries).
    pub value: Option<f64>,
}

/// One RSS sample of the server(s).
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the load started.
    pub t: f64,
    /// The servers' RSS, summed over the nodes.
    pub rss_mib: f64,
    /// Each node's RSS, node 0 first (empty with one node).
    pub node_rss_mib: Vec<f64>,
    /// Deliveries expected so far (events accepted × counted endpoints).
    pub expected: u64,
    /// Deliveries the receiver has recorded so far (`None` while it is down).
    pub delivered: Option<u64>,
    /// The server's `hookrelay_dispatch_held` gauge.
    pub held: Option<f64>,
    /// The server's `hookrelay_queue_depth` gauge (pending deliveries).
    pub queue: Option<f64>,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub figures: Vec<Figure>,
    pub samples: Vec<Sample>,
    pub notes: Vec<String>,
    pub extra: Map<String, Value>,
}

impl Report {
    pub fn add(&mut self, key: &str, label: &str, unit: Unit, value: impl Into<Option<f64>>) {
        self.figures.push(Figure {
            key: key.to_owned(),
            label: label.to_owned(),
            unit,
            value: value.into(),
        });
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.key == key)
            .and_then(|f| f.value)
    }

    fn figures_json(&self) -> Map<String, Value> {
        self.figures
            .iter()
            .map(|f| (f.key.clone(), value_json(f.value, f.unit)))
            .collect()
    }

    /// The JSON line for this run.
    pub fn to_json(&self, head: &Value, run: usize, runs: usize) -> Value {
        let mut v = head.clone();
        v["run"] = json!(run);
        v["runs"] = json!(runs);
        v["figures"] = Value::Object(self.figures_json());
        v["rssSamples"] = self
            .samples
            .iter()
            .map(|s| {
                let mut v = json!({"t": round(s.t), "rssMiB": round(s.rss_mib), "expected": s.expected,
                       "delivered": s.delivered, "held": s.held, "queueDepth": s.queue});
                if !s.node_rss_mib.is_empty() {
                    v["rssMiBNodes"] = s.node_rss_mib.iter().map(|&r| json!(round(r))).collect();
                }
                v
            })
            .collect();
        v["notes"] = json!(self.notes);
        for (k, x) in &self.extra {
            v[k] = x.clone();
        }
        v
    }
}

/// A figure in JSON: counts as integers, the rest to three decimals.
pub fn value_json(v: Option<f64>, unit: Unit) -> Value {
    match v {
        None => Value::Null,
        Some(v) if unit == Unit::Count => json!(v.round() as i64),
        Some(v) => json!(round(v)),
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Nanoseconds to milliseconds.
pub fn ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|n| n as f64 / 1e6)
}

/// The median of the values present.
pub fn median(values: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A value as shown in the table.
pub fn format(v: Option<f64>, unit: Unit) -> String {
    let Some(v) = v else {
        return "n/a".to_owned();
    };
    match unit {
        Unit::Count => thousands(v.round(), 0),
        Unit::PerSec => thousands(v, if v >= 100.0 { 0 } else { 1 }),
        Unit::Ms => {
            let d = if v < 10.0 {
                2
            } else if v < 100.0 {
                1
            } else {
                0
            };
            thousands(v, d)
        }
        Unit::MiB => thousands(v, 1),
        Unit::Secs => thousands(v, 2),
        Unit::Ratio => format!("{v:.3}"),
    }
}

/// Medians of every figure over the runs, in first-seen order.
pub fn medians(reports: &[Report]) -> Vec<Figure> {
    let mut order: Vec<(String, String, Unit)> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in reports {
        for f in &r.figures {
            if seen.insert(f.key.clone()) {
                order.push((f.key.clone(), f.label.clone(), f.unit));
            }
        }
    }
    order
        .into_iter()
        .map(|(key, label, unit)| {
            let values: Vec<Option<f64>> = reports.iter().map(|r| r.get(&key)).collect();
            Figure {
                value: median(&values),
                key,
                label,
                unit,
            }
        })
        .collect()
}

/// The JSON line with the medians of every figure over the runs.
pub fn medians_json(head: &Value, reports: &[Report]) -> Value {
    let figures: Map<String, Value> = medians(reports)
        .into_iter()
        .map(|f| (f.key, value_json(f.value, f.unit)))
        .collect();
    let mut v = head.clone();
    v["median"] = json!(true);
    v["runs"] = json!(reports.len());
    v["figures"] = Value::Object(figures);
    v
}

/// Prints the table: one row per figure, one column per run, then the median.
pub fn print_table(reports: &[Report]) {
    let meds = medians(reports);
    let label_w = meds
        .iter()
        .map(|f| f.label.len())
        .max()
        .unwrap_or(10)
        .max(6);
    let mut header = format!("{:<label_w$}", "figure");
    for i in 0..reports.len() {
        header.push_str(&format!(" {:>12}", format!("run {}", i + 1)));
    }
    if reports.len() > 1 {
        header.push_str(&format!(" {:>12}", "median"));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for m in &meds {
        let mut line = format!("{:<label_w$}", m.label);
        for r in reports {
            line.push_str(&format!(" {:>12}", format(r.get(&m.key), m.unit)));
        }
        if reports.len() > 1 {
            line.push_str(&format!(" {:>12}", format(m.value, m.unit)));
        }
        println!("{line}");
    }
}

/// Prints the server's RSS samples as a small time series.
pub fn print_samples(run: usize, samples: &[Sample]) {
    if samples.is_empty() {
        return;
    }
    match samples[0].node_rss_mib.len() {
        0 | 1 => println!("\nrun {run}: server RSS every second"),
        n => println!("\nrun {run}: server RSS every second (sum of {n} nodes; held: sum; queue: the database's)"),
    }
    println!(
        "{:>7} {:>9} {:>10} {:>10} {:>10} {:>8} {:>10}",
        "t (s)", "RSS MiB", "expected", "delivered", "missing", "held", "queue"
    );
    for s in samples {
        let delivered = s.delivered.unwrap_or(0);
        println!(
            "{:>7.0} {:>9.1} {:>10} {:>10} {:>10} {:>8} {:>10}",
            s.t,
            s.rss_mib,
            s.expected,
            s.delivered.map_or("down".to_owned(), |d| d.to_string()),
            s.expected.saturating_sub(delivered),
            s.held.map_or("-".to_owned(), |h| format!("{h:.0}")),
            s.queue.map_or("-".to_owned(), |h| format!("{h:.0}")),
        );
    }
}

/// Appends one JSON value as a line to `path`.
pub fn append_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{value}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn medians_skip_missing_values() {
        assert_eq!(median(&[Some(3.0), None, Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(median(&[Some(1.0), Some(4.0)]), Some(2.5));
        assert_eq!(median(&[None]), None);
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(format(Some(1_234_567.0), Unit::Count), "1,234,567");
        assert_eq!(format(Some(12_345.6), Unit::PerSec), "12,346");
        assert_eq!(format(Some(1.2345), Unit::Ms), "1.23");
        assert_eq!(format(Some(0.4123), Unit::Ratio), "0.412");
        assert_eq!(format(None, Unit::Ms), "n/a");
    }
}
