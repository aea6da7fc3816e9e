//! How long things hold and how long they are kept, the same on every
//! backend: the idempotency window, and the cut-offs a retention purge
//! deletes below.

use hookrelay_core::time::Timestamp;

use crate::stats::Rollup;

/// How long an idempotency key holds: an event carrying a key first used
/// less than this long before is a duplicate of the first one; after it,
/// the key is free again and is purged. PostgreSQL applies it inside its
/// batched key insert (bound as a parameter), so it is a plain number.
pub(crate) const IDEMPOTENCY_MS: i64 = 24 * 3600 * 1000;

/// Whether a key first used at `first` (ms) still holds for an event
/// created at `at`.
pub(crate) fn idempotency_holds(first: i64, at: Timestamp) -> bool {
    at.0 - first < IDEMPOTENCY_MS
}

/// Idempotency keys first used before this no longer hold, and are purged.
pub(crate) fn idempotency_expired_before(now: Timestamp) -> Timestamp {
    Timestamp(now.0 - IDEMPOTENCY_MS)
}

/// The smallest id with `prefix` created at `before`. Ids are ULIDs, which
/// sort by creation time, so every id below it was created earlier and a
/// purge can select by id (the primary key) instead of by a time column.
pub(crate) fn cutoff_id(prefix: &str, before: Timestamp) -> String {
    format!(
        "{prefix}{}",
        ulid::Ulid::from_parts(before.0.max(0) as u64, 0)
    )
}

/// Rollup rows starting before this are purged with the history created
/// before `before`: the rows of every minute (or hour) before the one
/// `before` falls in. The row `before` falls in stays, since it also counts
/// attempts made after it.
pub(crate) fn stats_cutoff(rollup: Rollup, before: Timestamp) -> i64 {
    before.0 - before.0.rem_euclid(rollup.millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_for_exactly_the_window() {
        let first = 1_000;
        assert!(idempotency_holds(
            first,
            Timestamp(first + IDEMPOTENCY_MS - 1)
        ));
        assert!(!idempotency_holds(first, Timestamp(first + IDEMPOTENCY_MS)));
        assert_eq!(
            idempotency_expired_before(Timestamp(first + IDEMPOTENCY_MS)),
            Timestamp(first)
        );
    }

    #[test]
    fn ids_created_before_the_cutoff_sort_below_it() {
        let at = Timestamp(1_700_000_000_000);
        let earlier = format!("evt_{}", ulid::Ulid::from_parts(at.0 as u64 - 1, u128::MAX));
        let later = format!("evt_{}", ulid::Ulid::from_parts(at.0 as u64, 0));
        let cut = cutoff_id("evt_", at);
        assert!(earlier < cut);
        assert!(later >= cut);
    }

    #[test]
    fn rollup_rows_are_purged_up_to_the_period_of_the_cutoff() {
        let hour = 3_600_000;
        let before = Timestamp(1_800_000_000_000 + 90_500);
        assert_eq!(
            stats_cutoff(Rollup::Minutes, before),
            1_800_000_000_000 + 60_000
        );
        assert_eq!(stats_cutoff(Rollup::Hours, before), 1_800_000_000_000);
        assert_eq!(
            stats_cutoff(Rollup::Hours, Timestamp(1_800_000_000_000 + hour)),
            1_800_000_000_000 + hour
        );
    }
}
