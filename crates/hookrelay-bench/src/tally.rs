//! Reading what happened: the event ids hookrelay accepted (from its 202
//! answers), waiting until the receiver has every expected delivery (or
//! nothing more arrives), and matching the deliveries against what was
//! expected, per (event id, endpoint path).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::http::Client;
use crate::loadgen::LoadResult;
use crate::receiver::{Receiver, Records};

#[derive(Deserialize)]
struct Answer {
    id: Option<String>,
    data: Option<Vec<Item>>,
}

#[derive(Deserialize)]
struct Item {
    id: Option<String>,
    error: Option<serde_json::Value>,
}

pub struct Accepted {
    pub ids: Vec<String>,
    pub problem: Option<String>,
}

/// The event ids hookrelay accepted (202), single or batch.
pub fn accepted(res: &LoadResult) -> Accepted {
    let mut out = Accepted {
        ids: Vec::with_capacity(res.ok),
        problem: None,
    };
    for (_, body) in &res.bodies {
        match serde_json::from_slice::<Answer>(body) {
            Ok(Answer { id: Some(id), .. }) => out.ids.push(id),
            Ok(Answer {
                data: Some(items), ..
            }) => {
                for it in items {
                    match (it.id, it.error) {
                        (Some(id), None) => out.ids.push(id),
                        (_, e) => {
                            if out.problem.is_none() {
                                out.problem =
                                    Some(format!("batch item: {}", e.unwrap_or_default()));
                            }
                        }
                    }
                }
            }
            _ => {
                if out.problem.is_none() {
                    out.problem = Some(format!(
                        "unreadable answer: {}",
                        String::from_utf8_lossy(body)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ));
                }
            }
        }
    }
    out
}

/// Deliveries matched against what was expected.
#[derive(Debug, Default)]
pub struct Tally {
    /// Expected (event, path) pairs that arrived at least once.
    pub received: usize,
    /// Expected pairs that never arrived.
    pub lost: usize,
    /// Arrivals beyond the first of a pair.
    pub duplicated: usize,
    /// Requests matching no expected pair.
    pub unexpected: usize,
    /// Arrival minus `sentAtNanos` of every expected arrival, ns, sorted.
    pub latencies: Vec<u64>,
    /// First and last expected arrival (unix ns; 0 if none).
    pub first_arrival: u64,
    pub last_arrival: u64,
}

impl Tally {
    /// Unique deliveries per second from `from` (unix ns) to the last arrival.
    pub fn rate_since(&self, from: u64) -> Option<f64> {
        (self.received > 0 && self.last_arrival > from)
            .then(|| self.received as f64 / ((self.last_arrival - from) as f64 / 1e9))
    }
}

/// Expected: every (event id, path) pair.
fn tally(ids: &[String], paths: &[String], rec: &Records) -> Tally {
    let index: HashMap<&[u8], usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_bytes(), i))
        .collect();
    let path_index: Vec<Option<usize>> = rec
        .paths
        .iter()
        .map(|p| paths.iter().position(|q| q == p))
        .collect();
    let np = paths.len();
    let mut counts = vec![0u16; ids.len() * np];
    let mut t = Tally {
        latencies: Vec::with_capacity(rec.recs.len()),
        ..Tally::default()
    };
    for r in &rec.recs {
        let p = path_index.get(usize::from(r.path)).copied().flatten();
        let e = index.get(rec.id(r)).copied();
        let (Some(p), Some(e)) = (p, e) else {
            t.unexpected += 1;
            continue;
        };
        let c = &mut counts[e * np + p];
        *c = c.saturating_add(1);
        if r.sent > 0 {
            t.latencies.push(r.arrival.saturating_sub(r.sent));
        }
        t.last_arrival = t.last_arrival.max(r.arrival);
        t.first_arrival = if t.first_arrival == 0 {
            r.arrival
        } else {
            t.first_arrival.min(r.arrival)
        };
    }
    for &c in &counts {
        match c {
            0 => t.lost += 1,
            1 => t.received += 1,
            n => {
                t.received += 1;
                t.duplicated += usize::from(n - 1);
            }
        }
    }
    t.latencies.sort_unstable();
    t
}

/// What to wait for.
pub struct Expect<'a> {
    pub ids: &'a [String],
    pub paths: &'a [String],
    /// Deliveries expected (ids × paths).
    pub count: usize,
    /// Give up after this long without a new delivery.
    pub idle: Duration,
}

/// Waits until the receiver has every expected delivery (or nothing new came
/// for `idle`), calls `done` (to take readings before the bench and the
/// receiver spend CPU on the records), then reads and tallies them.
/// Duplicates can make the count reach the target early; then it waits again
/// for the missing ones.
pub async fn wait_and_tally(
    client: &Client,
    receiver: &Receiver,
    expect: Expect<'_>,
    mut done: impl FnMut(),
) -> anyhow::Result<(Records, Tally)> {
    let (ids, paths, idle) = (expect.ids, expect.paths, expect.idle);
    let mut target = expect.count as u64;
    loop {
        let complete = wait_for(client, receiver, target, idle).await?;
        done();
        let records = receiver.records(client).await?;
        let t = tally(ids, paths, &records);
        if t.lost == 0 || !complete {
            return Ok((records, t));
        }
        target = records.recs.len() as u64 + t.lost as u64;
    }
}

async fn wait_for(
    client: &Client,
    receiver: &Receiver,
    target: u64,
    idle: Duration,
) -> anyhow::Result<bool> {
    let mut last = u64::MAX;
    let mut since = Instant::now();
    loop {
        let n = receiver.count(client).await?;
        if n >= target {
            return Ok(true);
        }
        if n != last {
            last = n;
            since = Instant::now();
        } else if since.elapsed() >= idle {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::Record;
    use bytes::Bytes;

    #[test]
    fn tally_counts_lost_and_duplicated_per_event_and_path() {
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let paths = vec!["/x".to_owned(), "/y".to_owned()];
        let rec = Records {
            paths: vec!["/x".into(), "/y".into(), "/z".into()],
            hung: 0,
            ids: Bytes::from_static(b"abq"),
            recs: vec![
                Record {
                    arrival: 10,
                    sent: 4,
                    path: 0,
                    id: 0..1,
                },
                Record {
                    arrival: 12,
                    sent: 4,
                    path: 0,
                    id: 0..1,
                },
                Record {
                    arrival: 11,
                    sent: 5,
                    path: 1,
                    id: 1..2,
                },
                Record {
                    arrival: 13,
                    sent: 5,
                    path: 2,
                    id: 1..2,
                },
                Record {
                    arrival: 14,
                    sent: 5,
                    path: 0,
                    id: 2..3,
                },
            ],
        };
        let t = tally(&ids, &paths, &rec);
        assert_eq!(
            (t.received, t.lost, t.duplicated, t.unexpected),
            (2, 2, 1, 2)
        );
        assert_eq!(t.latencies, vec![6, 6, 8]);
        assert_eq!((t.first_arrival, t.last_arrival), (10, 12));
    }
}
