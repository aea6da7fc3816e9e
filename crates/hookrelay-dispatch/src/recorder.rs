//! The recorder: writes attempt outcomes to the store in batches (one
//! transaction for everything that finished meanwhile), tells the scheduler
//! when it is done with them (until then they count as held, so outcomes
//! waiting for a busy store cannot pile up without bound), and refreshes the
//! directory when an outcome disabled an endpoint.

use std::sync::Arc;

use hookrelay_store::{EndpointEffect, Outcome};
use tokio::sync::mpsc;

use crate::scheduler::Msg;
use crate::Shared;

/// The most outcomes written in one call to the store: whatever finished
/// while the last batch was being written, up to this many. (SQLite cuts a
/// batch into smaller writes of its own.)
const MAX_BATCH: usize = 2048;

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Outcome>,
    scheduler: mpsc::WeakUnboundedSender<Msg>,
) {
    let _alive = shared.alive.guard();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let disabled: Vec<_> = batch
            .iter()
            .filter(|o| matches!(o.endpoint_effect, Some(EndpointEffect::DisableFailing(_))))
            .map(|o| o.endpoint_id.clone())
            .collect();
        let outcomes = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let ids = outcomes.iter().map(|o| o.delivery_id.clone()).collect();
        let written = shared.store.record_outcomes(outcomes).await;
        // Settled either way; the scheduler may be gone at shutdown.
        if let Some(s) = scheduler.upgrade() {
            let _ = s.send(Msg::Recorded(ids));
        }
        if let Err(e) = written {
            // The deliveries stay leased (and no longer renewed); when the
            // lease runs out they are attempted again (at least once, never
            // lost).
            tracing::error!(error = %e, "recording attempt outcomes failed");
            continue;
        }
        for ep in disabled {
            shared.metrics.endpoints_auto_disabled.inc();
            tracing::warn!(endpoint = %ep, "endpoint disabled: its deliveries keep failing");
            if let Some(e) = shared.directory.endpoint(&ep) {
                if let Err(err) = shared.directory.refresh_workspace(&e.workspace_id).await {
                    tracing::warn!(error = %err, "refreshing the directory failed");
                }
            }
        }
    }
}
