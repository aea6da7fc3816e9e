//! `hookrelay listen --forward-to URL`: see [`run`].

use clap::Args;

use super::Conn;

/// Options of `hookrelay listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Local URL each delivery is forwarded to, e.g. http://localhost:3000/webhooks.
    #[arg(long)]
    pub forward_to: String,
}

/// Forwards a temporary endpoint's deliveries to a local URL.
pub async fn run(_args: ListenArgs, _conn: &Conn) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
