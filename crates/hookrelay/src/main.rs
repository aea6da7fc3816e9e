//! `hookrelay` command line: `hookrelay serve` runs the service.

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookrelay::config::{ServeArgs, Settings};
use hookrelay::serve;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: the tokio workers allocate and free
/// per request, and glibc's malloc is a large share of the server's CPU
/// under load (measurements in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "hookrelay", version, about = "Self-hostable webhook delivery")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (API and dispatcher).
    Serve(ServeArgs),
}

fn init_logs(json: bool) {
    let filter =
        EnvFilter::try_from_env("HOOKRELAY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::resolve(&args)?;
            init_logs(settings.json_logs);
            let listener = tokio::net::TcpListener::bind(settings.listen)
                .await
                .with_context(|| format!("binding {}", settings.listen))?;
            let addr = listener.local_addr()?;
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let dev = settings.dev;
            let public = settings
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"));
            let server = tokio::spawn(serve::run(
                settings,
                listener,
                shutdown_signal(),
                Some(ready_tx),
            ));
            if let Ok(boot) = ready_rx.await {
                println!();
                println!(
                    "  hookrelay is running{}",
                    if dev { " (dev mode)" } else { "" }
                );
                println!("  API base URL:  {public}");
                println!("  Dashboard:     {public}/dashboard");
                println!("  Workspace:     {}", boot.workspace_id);
                match (&boot.new_api_key, boot.key_from_env) {
                    (Some(k), _) => {
                        println!("  API key:       {k}");
                        println!("                 (shown once; it is stored hashed)");
                    }
                    (None, true) => println!("  API key:       the one in HOOKRELAY_API_KEY"),
                    (None, false) => println!(
                        "  API key:       created on first start (set HOOKRELAY_API_KEY to pin one)"
                    ),
                }
                println!();
            }
            server.await.context("server task")??;
            Ok(())
        }
    }
}
