//! Change notifications: the channel a schema's nodes share, the payloads
//! written with `pg_notify` inside the changing transactions, and the
//! listener task that holds one dedicated `LISTEN` connection and forwards
//! what it hears to a broadcast channel ([`crate::Store::changes`]).
//!
//! Payloads are `due` ([`StoreChange::DeliveriesDue`]) and
//! `routing:<workspace id>` ([`StoreChange::Routing`]). When the listening
//! connection is lost the task reconnects with backoff and, once it listens
//! again, sends [`StoreChange::Resync`]: whatever was said meanwhile is lost.

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Config, Notification};

use hookrelay_core::ids::WorkspaceId;

use super::tls::MakeRustls;
use crate::StoreChange;

/// Payload of [`StoreChange::DeliveriesDue`].
pub(crate) const DUE: &str = "due";
/// Prefix of a [`StoreChange::Routing`] payload; the workspace id follows.
pub(crate) const ROUTING: &str = "routing:";

/// How often an idle listener checks that its connection still answers.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long a ping may take before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before reconnecting a lost listener; it doubles after each
/// failed try, up to [`BACKOFF_MAX`], and starts over once listening again.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between tries to reconnect a lost listener.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The notification channel of a schema: `hookrelay_<schema>`, or (when that
/// is longer than an identifier may be) `hookrelay_<hash of the schema>`.
pub(crate) fn channel_for(schema: &str) -> String {
    let name = format!("hookrelay_{schema}");
    if name.len() <= 63 {
        name
    } else {
        format!("hookrelay_{:016x}", super::fnv1a(schema.as_bytes()))
    }
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn parse(payload: &str) -> Option<StoreChange> {
    if payload == DUE {
        Some(StoreChange::DeliveriesDue)
    } else {
        payload
            .strip_prefix(ROUTING)
            .filter(|ws| !ws.is_empty())
            .map(|ws| StoreChange::Routing(WorkspaceId::from_trusted(ws.to_owned())))
    }
}

/// One listening connection: its client (kept to ping and to keep the
/// session), the notifications its driver task forwards, and that task.
struct Session {
    client: Client,
    notes: mpsc::UnboundedReceiver<Notification>,
    driver: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Connects and runs `LISTEN` on `channel`.
async fn listen(
    config: &Config,
    tls: &MakeRustls,
    channel: &str,
) -> Result<Session, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let (tx, notes) = mpsc::unbounded_channel();
    // The connection is driven here; its notifications go to the session.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::error::pg_message(&e), "postgres: listener connection failed");
                    break;
                }
            }
        }
    });
    let session = Session {
        client,
        notes,
        driver,
    };
    session
        .client
        .batch_execute(&format!("LISTEN {}", quote_ident(channel)))
        .await?;
    Ok(session)
}

/// The running listener; see the module docs.
pub(crate) struct Listener {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    /// Listens on `channel` before returning (so no change made after
    /// `connect` returns is missed), then keeps listening in a task.
    pub(crate) async fn start(
        config: Config,
        tls: MakeRustls,
        channel: String,
        changes: broadcast::Sender<StoreChange>,
    ) -> Result<Self, tokio_postgres::Error> {
        let first = listen(&config, &tls, &channel).await?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(config, tls, channel, changes, first, stopped));
        Ok(Self {
            stop,
            task: Mutex::new(Some(task)),
        })
    }

    /// Stops listening and waits for the task to end.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("listener lock").take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("postgres: listener did not stop in time");
                abort.abort();
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().expect("listener lock").take() {
            task.abort();
        }
    }
}

/// Resolves when the listener is told to stop (or its owner is gone).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn run(
    config: Config,
    tls: MakeRustls,
    channel: String,
    changes: broadcast::Sender<StoreChange>,
    first: Session,
    mut stop: watch::Receiver<bool>,
) {
    let mut session = Some(first);
    let mut backoff = BACKOFF_MIN;
    loop {
        if let Some(mut s) = session.take() {
            let mut ping = tokio::time::interval(PING_EVERY);
            ping.tick().await;
            loop {
                tokio::select! {
                    _ = stopping(&mut stop) => return,
                    note = s.notes.recv() => match note {
                        Some(n) => {
                            if n.channel() == channel {
                                match parse(n.payload()) {
                                    // No receiver is fine: nobody is interested yet.
                                    Some(change) => { let _ = changes.send(change); }
                                    None => tracing::debug!(payload = n.payload(), "postgres: unknown notification"),
                                }
                            }
                        }
                        None => break,
                    },
                    _ = ping.tick() => {
                        let alive = tokio::time::timeout(PING_TIMEOUT, s.client.batch_execute("SELECT 1")).await;
                        if !matches!(alive, Ok(Ok(()))) {
                            break;
                        }
                    }
                }
            }
            tracing::warn!("postgres: lost the notification connection; reconnecting");
        }
        tokio::select! {
            _ = stopping(&mut stop) => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        match listen(&config, &tls, &channel).await {
            Ok(s) => {
                session = Some(s);
                backoff = BACKOFF_MIN;
                tracing::info!("postgres: listening for changes again");
                let _ = changes.send(StoreChange::Resync);
            }
            Err(e) => {
                backoff = (backoff * 2).min(BACKOFF_MAX);
                tracing::warn!(error = %crate::error::pg_message(&e), "postgres: cannot listen for changes yet");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        assert_eq!(parse("due"), Some(StoreChange::DeliveriesDue));
        assert_eq!(
            parse("routing:workspace_01ABC"),
            Some(StoreChange::Routing(WorkspaceId::from_trusted(
                "workspace_01ABC".into()
            )))
        );
        assert_eq!(parse("routing:"), None);
        assert_eq!(parse("other"), None);
    }

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_for("public"), "hookrelay_public");
        let long = "s".repeat(80);
        let c = channel_for(&long);
        assert!(c.len() <= 63, "{c}");
        assert_eq!(c, channel_for(&long), "stable");
        assert_ne!(c, channel_for(&"t".repeat(80)));
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
