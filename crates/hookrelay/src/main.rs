//! `hookrelay` command line: `hookrelay serve` runs the service;
//! `hookrelay rotate-encryption-key` asks a running one to re-encrypt the
//! secrets it stores under its newest encryption key; every other command
//! is a client of a running server (`hookrelay::cli`).

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
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
    #[command(
        after_help = "Examples:\n  hookrelay serve\n  hookrelay serve --listen 0.0.0.0:8080 --database-url postgres://hookrelay@db/hookrelay"
    )]
    Serve(Box<ServeArgs>),
    /// Re-encrypt every stored secret under the newest encryption key, through
    /// a running server (started with the new key first in its list, the old
    /// ones after it); then the old keys can be dropped.
    #[command(
        after_help = "Example:\n  HOOKRELAY_ADMIN_KEY=… hookrelay rotate-encryption-key --url http://127.0.0.1:8080"
    )]
    RotateEncryptionKey(RotateArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  hookrelay completions bash > ~/.local/share/bash-completion/completions/hookrelay\n  hookrelay completions zsh > \"${fpath[1]}/_hookrelay\"\n  hookrelay completions fish > ~/.config/fish/completions/hookrelay.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Client(hookrelay::cli::Command),
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    /// Base URL of a running server [default: http:// + HOOKRELAY_LISTEN, or http://127.0.0.1:8080].
    #[arg(long, env = "HOOKRELAY_URL")]
    url: Option<String>,
    /// The org admin key of that server.
    #[arg(long, env = "HOOKRELAY_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
}

/// `hookrelay rotate-encryption-key`: one admin request; the server does
/// the work in batches while it keeps serving.
async fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    let base = match args.url {
        Some(u) => u,
        None => format!(
            "http://{}",
            std::env::var("HOOKRELAY_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into())
        ),
    };
    let url = format!("{}/admin/encryption/rotate", base.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.admin_key)
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .with_context(|| format!("reading the answer of {url} ({status})"))?;
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            body["message"].as_str().unwrap_or("(no message)")
        );
    }
    let n = |k: &str| body[k].as_u64().unwrap_or(0);
    println!(
        "re-encrypted {} rows; {} of {} rows holding secrets are under key {}",
        n("reencrypted"),
        n("current"),
        n("rows"),
        body["keyId"].as_str().unwrap_or("?")
    );
    if n("remaining") > 0 {
        anyhow::bail!(
            "{} rows are still in plaintext or under older keys ({}); run it again",
            n("remaining"),
            body["byKey"]
        );
    }
    println!("the older keys can now be removed from the configuration");
    Ok(())
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
        Command::RotateEncryptionKey(args) => rotate(args).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hookrelay", &mut script);
            hookrelay::cli::output::line(String::from_utf8_lossy(&script).trim_end());
            Ok(())
        }
        // Its exit status is its answer (1 invalid, 2 cannot check).
        Command::Client(hookrelay::cli::Command::Verify(args)) => {
            match hookrelay::cli::verify::run_status(args) {
                Ok(status) => std::process::exit(status.into()),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::exit(hookrelay::cli::verify::EXIT_USAGE.into())
                }
            }
        }
        // The API's message on stderr and exit status 1, without the
        // `Error:` debug form `main` would print.
        Command::Client(cmd) => {
            if let Err(e) = hookrelay::cli::run(cmd).await {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
            Ok(())
        }
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
                if let Some(f) = &boot.new_key_file {
                    println!("  Encryption key: generated in {}", f.display());
                    println!("                 (back it up: without it the stored secrets cannot be read)");
                }
                println!();
            }
            server.await.context("server task")??;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `--help` of every command that does something shows an example.
    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            let leaf = !cmd.has_subcommands();
            let example = cmd
                .get_after_help()
                .is_some_and(|h| h.to_string().contains("Example"));
            if leaf && !example && cmd.get_name() != "help" {
                missing.push(path.clone());
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }
}
