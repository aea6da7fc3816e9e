//! hookrelay's integration tests: one binary, each test with its own server
//! on 127.0.0.1:0, its own database file and a real recording receiver.

mod support;
// The private TLS cluster of the store's `pg_tls` tests.
#[path = "../../../hookrelay-store/tests/pg_tls/cluster.rs"]
mod pg_cluster;

mod atrest;
mod auth;
mod browser;
mod cli;
mod cli_verify;
mod dashboard;
mod dashboard_browser;
mod delivery;
mod endpoints;
mod engine;
mod events;
mod fairness;
mod history;
mod input;
mod interop;
mod lifecycle;
mod limits;
mod listen;
mod multinode;
mod pg_tls;
mod profiles;
mod safety;
mod schemathesis;
mod snapshots;
mod stats;
mod subscriptions;
mod tls;
mod v1;
