//! What recording outcomes means, the same on every backend: when an
//! outcome happened, how many attempts it adds, and what a batch of them
//! does to each endpoint's health record.
//!
//! The delivery's new status and next attempt come decided in the
//! [`Outcome`]; the backends apply them only while the delivery is still
//! `pending` (a `CASE WHEN status = 'pending'` in their SQL, not here),
//! because a delivery can be cancelled (its endpoint deleted) while an
//! attempt is in flight, and only the row at write time knows.

use std::collections::BTreeMap;

use hookrelay_core::time::{Clock, SystemClock, Timestamp};

use crate::{EndpointEffect, Outcome};

/// When the outcome happened: the end of its attempt, or now when none was
/// made. It becomes the delivery's `updated_at`.
pub(crate) fn recorded_at(o: &Outcome) -> Timestamp {
    o.attempt.as_ref().map_or_else(
        || SystemClock.now(),
        |a| a.started_at.plus_millis(i64::from(a.duration_ms)),
    )
}

/// How many attempts the outcome adds to its delivery's count.
pub(crate) fn attempts_made(o: &Outcome) -> u32 {
    u32::from(o.attempt.is_some())
}

/// An endpoint's failure record after a batch's Clear/Mark effects, applied
/// in order: a clear forgets any earlier mark, and a mark counts only when
/// the endpoint is not failing already (the first one wins).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Failing {
    /// Some effect cleared the record (later marks then set it afresh).
    pub(crate) clear: bool,
    /// The first mark since the last clear (or since the batch began).
    pub(crate) mark: Option<Timestamp>,
}

/// What a batch of outcomes does to endpoints, folded per endpoint (ordered
/// by id, one lock order for every writer).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct EndpointEffects<'a> {
    pub(crate) failing: BTreeMap<&'a str, Failing>,
    /// Endpoints to disable as failing, with the first such outcome's time.
    pub(crate) disable: BTreeMap<&'a str, Timestamp>,
}

impl<'a> EndpointEffects<'a> {
    pub(crate) fn fold(outcomes: &'a [Outcome]) -> Self {
        let mut out = Self::default();
        for o in outcomes {
            let ep = o.endpoint_id.as_str();
            match o.endpoint_effect {
                None => {}
                Some(EndpointEffect::ClearFailing) => {
                    out.failing.insert(
                        ep,
                        Failing {
                            clear: true,
                            mark: None,
                        },
                    );
                }
                Some(EndpointEffect::MarkFailing(t)) => {
                    out.failing.entry(ep).or_default().mark.get_or_insert(t);
                }
                Some(EndpointEffect::DisableFailing(t)) => {
                    out.disable.entry(ep).or_insert(t);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookrelay_core::ids::{DeliveryId, EndpointId};
    use hookrelay_core::model::DeliveryStatus;

    fn outcome(ep: &str, effect: Option<EndpointEffect>) -> Outcome {
        Outcome {
            delivery_id: DeliveryId::from_trusted("dlv_1".into()),
            endpoint_id: EndpointId::from_trusted(ep.into()),
            lease_owner: None,
            attempt: None,
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            next_attempt_at: None,
            endpoint_effect: effect,
        }
    }

    #[test]
    fn effects_fold_per_endpoint_in_order() {
        use EndpointEffect::*;
        let batch = [
            outcome("ep_a", Some(MarkFailing(Timestamp(1)))),
            outcome("ep_a", Some(MarkFailing(Timestamp(2)))),
            outcome("ep_b", Some(MarkFailing(Timestamp(3)))),
            outcome("ep_b", Some(ClearFailing)),
            outcome("ep_c", Some(ClearFailing)),
            outcome("ep_c", Some(MarkFailing(Timestamp(4)))),
            outcome("ep_c", Some(DisableFailing(Timestamp(5)))),
            outcome("ep_c", Some(DisableFailing(Timestamp(6)))),
            outcome("ep_d", None),
        ];
        let f = EndpointEffects::fold(&batch);
        let failing = |clear, mark: Option<i64>| Failing {
            clear,
            mark: mark.map(Timestamp),
        };
        assert_eq!(
            f.failing.into_iter().collect::<Vec<_>>(),
            vec![
                ("ep_a", failing(false, Some(1))),
                ("ep_b", failing(true, None)),
                ("ep_c", failing(true, Some(4))),
            ]
        );
        assert_eq!(
            f.disable.into_iter().collect::<Vec<_>>(),
            vec![("ep_c", Timestamp(5))]
        );
    }
}
