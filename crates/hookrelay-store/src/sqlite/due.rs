//! What claims have learned about the due index, so that a claim skipping
//! some endpoints does not walk the same due rows again at every poll.
//!
//! Claims are per workspace, and the due index leads with the workspace, so
//! everything here is kept per workspace: a claim for one workspace never
//! reads another's rows, and what one workspace's claims learned is voided
//! only by writes to that workspace.
//!
//! The dispatcher skips endpoints whose queue is full, whose circuit is open
//! or which cannot take more right now. Their due deliveries stay in the due
//! index, ahead of everything else of their workspace, and a claim can only
//! skip them by reading each one (its endpoint is in the table row). During
//! an outage or a backlog drain that is every poll walking up to hundreds of
//! thousands of rows on the writer thread, to find nothing.
//!
//! A claim of workspace W that comes up short at `now` while skipping a set
//! of endpoints has learned a fact: every pending delivery of W due at or
//! before `now` belongs to one of those endpoints (the claim took all the
//! others and moved them past `now`). The next claim of W that skips at least
//! those endpoints only reads W's rows due after that point. Rows do not
//! become due earlier by themselves: only a write can put a delivery at or
//! before the learned time (a publish, a release, a recorded retry, a
//! requeue, a recovery, a lease that ends early), and every such write
//! reports it here with [`DueScan::touch`]; one for an endpoint that was not
//! skipped makes W's fact void. Writes whose due times are not known make
//! every fact void with [`DueScan::forget`].
//!
//! The same kind of fact is kept for fan-out rows (`fanout.rs`): a claim
//! leaves the entries of endpoints it skips in their fan-out rows, and a
//! claim of W that read every due fan-out row of W learned that every fan-out
//! row created at or before `now` holds only entries of the endpoints it
//! skipped; the next such claim reads only fan-out rows created after that.
//! A fan-out row published for an earlier time voids it.
//!
//! SQLite has one writer per file, and every claim and write runs on it in
//! order, so this bookkeeping sees every change.

use std::collections::HashMap;

/// See the module docs: what claims learned of the due delivery rows, and
/// of the due fan-out rows.
#[derive(Debug, Default)]
pub(crate) struct DueScan {
    rows: Facts,
    fanouts: Facts,
}

impl DueScan {
    /// A pending delivery row of `endpoint` in `ws` is due at `ready`.
    pub(crate) fn touch(&mut self, ready: i64, ws: &str, endpoint: &str) {
        self.rows.touch(ready, ws, endpoint);
    }

    /// Pending delivery rows of unknown endpoints are due at `ready`.
    pub(crate) fn touch_any(&mut self, ready: i64) {
        self.rows.touch_any(ready);
    }

    /// Deliveries may have become due at unknown times.
    pub(crate) fn forget(&mut self) {
        self.rows.forget();
        self.fanouts.forget();
    }

    /// See [`Facts::start`], for delivery rows.
    pub(crate) fn start(&self, ws: &str, exclude: &[String]) -> Option<i64> {
        self.rows.start(ws, exclude)
    }

    /// See [`Facts::exhausted`], for delivery rows.
    pub(crate) fn exhausted(&mut self, ws: &str, now: i64, exclude: Vec<String>, lease_until: i64) {
        self.rows.exhausted(ws, now, exclude, lease_until);
    }

    /// A fan-out row of `ws` was published for `created_at`.
    pub(crate) fn fanout_published(&mut self, ws: &str, created_at: i64) {
        self.fanouts.touch_any_of(ws, created_at);
    }

    /// What is known of `ws`'s fan-out rows: every one created at or before
    /// the time holds only entries of the endpoints listed.
    pub(crate) fn fanouts_known(&self, ws: &str) -> Option<(i64, Vec<String>)> {
        self.fanouts
            .known
            .get(ws)
            .map(|k| (k.upto, k.skipped.clone()))
    }

    /// A claim of `ws` at `now` left in its fan-out rows created at or
    /// before `now` only entries of `skipped`.
    pub(crate) fn fanouts_exhausted(&mut self, ws: &str, now: i64, skipped: Vec<String>) {
        let older = self.fanouts.known.get(ws).is_some_and(|k| k.upto > now);
        if !older {
            self.fanouts
                .known
                .insert(ws.to_owned(), Known { upto: now, skipped });
        }
    }
}

/// Facts per workspace (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Facts {
    known: HashMap<String, Known>,
}

#[derive(Debug)]
struct Known {
    /// Every pending delivery of the workspace due at or before this time ...
    upto: i64,
    /// ... belongs to one of these endpoints.
    skipped: Vec<String>,
}

impl Facts {
    /// A pending delivery of `endpoint` in workspace `ws` is due at `ready`
    /// (written so by the transaction in progress).
    pub(crate) fn touch(&mut self, ready: i64, ws: &str, endpoint: &str) {
        if let Some(k) = self.known.get(ws) {
            if ready <= k.upto && !k.skipped.iter().any(|s| s == endpoint) {
                self.known.remove(ws);
            }
        }
    }

    /// Pending deliveries of unknown endpoints and workspaces are due at
    /// `ready`.
    pub(crate) fn touch_any(&mut self, ready: i64) {
        self.known.retain(|_, k| ready > k.upto);
    }

    /// Pending deliveries of unknown endpoints of `ws` are due at `ready`.
    pub(crate) fn touch_any_of(&mut self, ws: &str, ready: i64) {
        if self.known.get(ws).is_some_and(|k| ready <= k.upto) {
            self.known.remove(ws);
        }
    }

    /// Deliveries may have become due at unknown times.
    pub(crate) fn forget(&mut self) {
        self.known.clear();
    }

    /// Where a claim of `ws` skipping `exclude` can start reading: after the
    /// returned time (rows due at or before it are all skipped ones), or
    /// from the start with `None`.
    pub(crate) fn start(&self, ws: &str, exclude: &[String]) -> Option<i64> {
        let k = self.known.get(ws)?;
        k.skipped
            .iter()
            .all(|s| exclude.contains(s))
            .then_some(k.upto)
    }

    /// A claim of `ws` at `now` skipping `exclude` read every due row it
    /// could and leased what it found until `lease_until`.
    pub(crate) fn exhausted(&mut self, ws: &str, now: i64, exclude: Vec<String>, lease_until: i64) {
        if lease_until <= now {
            // What it leased is due again already.
            self.known.remove(ws);
            return;
        }
        if self.start(ws, &exclude).is_some_and(|upto| upto >= now) {
            // It read nothing new; what was known stays the better fact.
            return;
        }
        self.known.insert(
            ws.to_owned(),
            Known {
                upto: now,
                skipped: exclude,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn nothing_known_reads_from_the_start() {
        let d = DueScan::default();
        assert_eq!(d.start("w", &s(&["a"])), None);
    }

    #[test]
    fn a_short_claim_lets_the_next_one_skip_what_it_read() {
        let mut d = DueScan::default();
        d.exhausted("w", 100, s(&["a"]), 200);
        assert_eq!(d.start("w", &s(&["a"])), Some(100));
        assert_eq!(
            d.start("w", &s(&["a", "b"])),
            Some(100),
            "skipping more is fine"
        );
        assert_eq!(d.start("w", &s(&["b"])), None, "a's rows were never read");
        assert_eq!(d.start("w", &[]), None);
    }

    #[test]
    fn a_delivery_due_early_for_an_endpoint_not_skipped_voids_it() {
        let mut d = DueScan::default();
        d.exhausted("w", 100, s(&["a"]), 200);
        d.touch(150, "w", "b");
        assert_eq!(
            d.start("w", &s(&["a"])),
            Some(100),
            "due later: the scan reaches it"
        );
        d.touch(90, "w", "a");
        assert_eq!(d.start("w", &s(&["a"])), Some(100), "a is skipped anyway");
        d.touch(100, "w", "b");
        assert_eq!(d.start("w", &s(&["a"])), None);
    }

    #[test]
    fn a_lease_ending_early_voids_it_whatever_the_endpoint() {
        let mut d = DueScan::default();
        d.exhausted("w", 100, s(&["a"]), 200);
        d.touch_any(101);
        assert_eq!(d.start("w", &s(&["a"])), Some(100));
        d.touch_any(100);
        assert_eq!(d.start("w", &s(&["a"])), None);
    }

    #[test]
    fn forgetting_and_leases_already_over_void_it() {
        let mut d = DueScan::default();
        d.exhausted("w", 100, s(&[]), 200);
        assert_eq!(d.start("w", &[]), Some(100));
        d.forget();
        assert_eq!(d.start("w", &[]), None);
        d.exhausted("w", 100, s(&[]), 100);
        assert_eq!(d.start("w", &[]), None);
    }

    #[test]
    fn an_older_claim_does_not_move_it_back() {
        let mut d = DueScan::default();
        d.exhausted("w", 100, s(&["a"]), 200);
        d.exhausted("w", 50, s(&["a", "b"]), 200);
        assert_eq!(d.start("w", &s(&["a"])), Some(100));
    }

    #[test]
    fn a_write_to_one_workspace_leaves_what_another_learned() {
        let mut d = DueScan::default();
        d.exhausted("w1", 100, vec!["a".into()], 200);
        d.exhausted("w2", 100, vec!["b".into()], 200);
        d.touch(50, "w2", "c");
        assert_eq!(d.start("w1", &["a".to_owned()]), Some(100));
        assert_eq!(d.start("w2", &["b".to_owned()]), None);
        d.touch_any(100);
        assert_eq!(d.start("w1", &["a".to_owned()]), None);
    }
}

#[cfg(test)]
mod fanout_facts {
    use super::*;

    #[test]
    fn a_fanout_row_published_for_an_earlier_time_voids_what_was_learned() {
        let mut d = DueScan::default();
        d.fanouts_exhausted("w", 100, vec!["a".into()]);
        assert_eq!(d.fanouts_known("w"), Some((100, vec!["a".to_owned()])));
        d.fanout_published("w", 101);
        assert!(
            d.fanouts_known("w").is_some(),
            "later: claims read it anyway"
        );
        d.fanout_published("v", 50);
        assert!(d.fanouts_known("w").is_some(), "another workspace's");
        d.fanout_published("w", 100);
        assert_eq!(d.fanouts_known("w"), None);
        d.fanouts_exhausted("w", 100, vec![]);
        d.forget();
        assert_eq!(d.fanouts_known("w"), None);
    }
}
