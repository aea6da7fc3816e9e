//! What claims have learned about the due index, so that a claim skipping
//! some endpoints does not walk the same due rows again at every poll.
//!
//! The dispatcher skips endpoints whose queue is full or whose circuit is
//! open. Their due deliveries stay in the due index, ahead of everything
//! else, and a claim can only skip them by reading each one (its endpoint is
//! in the table row). During an outage or a backlog drain that is every poll
//! walking up to hundreds of thousands of rows on the writer thread, to find
//! nothing.
//!
//! A claim that comes up short at `now` while skipping a set of endpoints has
//! learned a fact: every pending delivery due at or before `now` belongs to one
//! of those endpoints (the claim took all the others and moved them past
//! `now`). The next claim that skips at least those endpoints only reads the
//! rows due after that point. Rows do not become due earlier by themselves:
//! only a write can put a delivery at or before the learned time (a publish, a
//! release, a recorded retry, a requeue, a recovery, a lease that ends early),
//! and every such write reports it here with [`DueScan::touch`]; one for an
//! endpoint that was not skipped makes the fact void. Writes whose due times
//! are not known make it void with [`DueScan::forget`].
//!
//! SQLite has one writer per file, and every claim and write runs on it in
//! order, so this bookkeeping sees every change.

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct DueScan {
    known: Option<Known>,
}

#[derive(Debug)]
struct Known {
    /// Every pending delivery due at or before this time ...
    upto: i64,
    /// ... belongs to one of these endpoints.
    skipped: Vec<String>,
}

impl DueScan {
    /// A pending delivery of `endpoint` is due at `ready` (written so by the
    /// transaction in progress).
    pub(crate) fn touch(&mut self, ready: i64, endpoint: &str) {
        if let Some(k) = &self.known {
            if ready <= k.upto && !k.skipped.iter().any(|s| s == endpoint) {
                self.known = None;
            }
        }
    }

    /// Pending deliveries of unknown endpoints are due at `ready`.
    pub(crate) fn touch_any(&mut self, ready: i64) {
        if self.known.as_ref().is_some_and(|k| ready <= k.upto) {
            self.known = None;
        }
    }

    /// Deliveries may have become due at unknown times.
    pub(crate) fn forget(&mut self) {
        self.known = None;
    }

    /// Where a claim at `now` skipping `exclude` can start reading: after the
    /// returned time (rows due at or before it are all skipped ones), or from
    /// the start with `None`.
    pub(crate) fn start(&self, exclude: &[String]) -> Option<i64> {
        let k = self.known.as_ref()?;
        k.skipped
            .iter()
            .all(|s| exclude.contains(s))
            .then_some(k.upto)
    }

    /// A claim at `now` skipping `exclude` read every due row it could and
    /// leased what it found until `lease_until`.
    pub(crate) fn exhausted(&mut self, now: i64, exclude: Vec<String>, lease_until: i64) {
        if lease_until <= now {
            // What it leased is due again already.
            self.known = None;
            return;
        }
        if self.start(&exclude).is_some_and(|upto| upto >= now) {
            // It read nothing new; what was known stays the better fact.
            return;
        }
        self.known = Some(Known {
            upto: now,
            skipped: exclude,
        });
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
        assert_eq!(d.start(&s(&["a"])), None);
    }

    #[test]
    fn a_short_claim_lets_the_next_one_skip_what_it_read() {
        let mut d = DueScan::default();
        d.exhausted(100, s(&["a"]), 200);
        assert_eq!(d.start(&s(&["a"])), Some(100));
        assert_eq!(d.start(&s(&["a", "b"])), Some(100), "skipping more is fine");
        assert_eq!(d.start(&s(&["b"])), None, "a's rows were never read");
        assert_eq!(d.start(&[]), None);
    }

    #[test]
    fn a_delivery_due_early_for_an_endpoint_not_skipped_voids_it() {
        let mut d = DueScan::default();
        d.exhausted(100, s(&["a"]), 200);
        d.touch(150, "b");
        assert_eq!(
            d.start(&s(&["a"])),
            Some(100),
            "due later: the scan reaches it"
        );
        d.touch(90, "a");
        assert_eq!(d.start(&s(&["a"])), Some(100), "a is skipped anyway");
        d.touch(100, "b");
        assert_eq!(d.start(&s(&["a"])), None);
    }

    #[test]
    fn a_lease_ending_early_voids_it_whatever_the_endpoint() {
        let mut d = DueScan::default();
        d.exhausted(100, s(&["a"]), 200);
        d.touch_any(101);
        assert_eq!(d.start(&s(&["a"])), Some(100));
        d.touch_any(100);
        assert_eq!(d.start(&s(&["a"])), None);
    }

    #[test]
    fn forgetting_and_leases_already_over_void_it() {
        let mut d = DueScan::default();
        d.exhausted(100, s(&[]), 200);
        assert_eq!(d.start(&[]), Some(100));
        d.forget();
        assert_eq!(d.start(&[]), None);
        d.exhausted(100, s(&[]), 100);
        assert_eq!(d.start(&[]), None);
    }

    #[test]
    fn an_older_claim_does_not_move_it_back() {
        let mut d = DueScan::default();
        d.exhausted(100, s(&["a"]), 200);
        d.exhausted(50, s(&["a", "b"]), 200);
        assert_eq!(d.start(&s(&["a"])), Some(100));
    }
}
