//! The engine's Prometheus metrics. Registered into a registry the caller
//! owns (no global state: two servers in one process keep separate counts).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// succeeded | retrying | failed | cancelled
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

/// See the module docs.
#[derive(Debug)]
pub struct DispatchMetrics {
    pub deliveries: Family<OutcomeLabels, Counter>,
    pub attempt_errors: Family<ErrorLabels, Counter>,
    pub attempt_seconds: Histogram,
    pub held: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub in_flight: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub endpoints_auto_disabled: Counter<u64, AtomicU64>,
    pub circuit_opened: Counter<u64, AtomicU64>,
    /// The outcome series, made once so the hot path does not allocate labels.
    by_outcome: [Counter<u64, AtomicU64>; 4],
}

const OUTCOMES: [&str; 4] = ["succeeded", "retrying", "failed", "cancelled"];

impl DispatchMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            deliveries: Family::default(),
            attempt_errors: Family::default(),
            attempt_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            held: Gauge::default(),
            in_flight: Gauge::default(),
            endpoints_auto_disabled: Counter::default(),
            circuit_opened: Counter::default(),
            by_outcome: Default::default(),
        };
        let deliveries = m.deliveries.clone();
        let m = Self {
            by_outcome: OUTCOMES.map(|o| {
                deliveries
                    .get_or_create(&OutcomeLabels {
                        outcome: o.to_owned(),
                    })
                    .clone()
            }),
            ..m
        };
        registry.register(
            "hookrelay_circuit_breaker_opened",
            "Times an endpoint was paused after failing attempts in a row",
            m.circuit_opened.clone(),
        );
        registry.register(
            "hookrelay_delivery_outcomes",
            "Delivery attempt outcomes by result",
            m.deliveries.clone(),
        );
        registry.register(
            "hookrelay_attempt_errors",
            "Failed attempts by error kind",
            m.attempt_errors.clone(),
        );
        registry.register(
            "hookrelay_attempt_duration_seconds",
            "Duration of delivery attempts",
            m.attempt_seconds.clone(),
        );
        registry.register(
            "hookrelay_dispatch_held",
            "Deliveries held in memory by this node (queued or in flight)",
            m.held.clone(),
        );
        registry.register(
            "hookrelay_dispatch_in_flight",
            "Attempts in flight",
            m.in_flight.clone(),
        );
        registry.register(
            "hookrelay_endpoints_auto_disabled",
            "Endpoints disabled because their deliveries kept failing",
            m.endpoints_auto_disabled.clone(),
        );
        m
    }

    /// Counts a delivery outcome: `succeeded`, `retrying`, `failed` or `cancelled`.
    pub fn outcome(&self, outcome: &str) {
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => {
                self.by_outcome[i].inc();
            }
            None => {
                self.deliveries
                    .get_or_create(&OutcomeLabels {
                        outcome: outcome.to_owned(),
                    })
                    .inc();
            }
        }
    }
}
