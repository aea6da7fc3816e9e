//! The client half of the binary: `hookrelay <noun> <verb>` and friends
//! talk to a running server over its HTTP API. This module owns the command
//! tree, how the server and key are found (flags, environment, or a profile
//! in the user's config file) and `login`; each submodule owns one family
//! of commands, [`client`] the HTTP calls and [`output`] the printing.

pub mod client;
pub mod listen;
pub mod manage;
pub mod output;
pub mod profile;
pub mod trigger;
pub mod verify;

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use clap::{Args, Subcommand};

use self::client::Client;
use self::profile::{ConfigFile, Profile};

/// The server used when neither a flag, the environment nor a profile
/// names one: what `hookrelay serve` listens on by default.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8080";

/// Where the server is and which key to use. Flags win over the
/// environment, which wins over the profile.
#[derive(Clone, Args)]
pub struct ApiOpts {
    /// Base URL of the hookrelay server [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, env = "HOOKRELAY_API_URL", global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// A workspace API key [default: the profile's].
    #[arg(
        long,
        env = "HOOKRELAY_API_KEY",
        hide_env_values = true,
        global = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// A named profile of the config file (`hookrelay login` writes them) [default: the file's default].
    #[arg(long, env = "HOOKRELAY_PROFILE", global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl std::fmt::Debug for ApiOpts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOpts")
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("profile", &self.profile)
            .field("json", &self.json)
            .finish()
    }
}

impl ApiOpts {
    /// The server and key these options, the environment and the config
    /// file name together.
    pub fn resolve(&self) -> anyhow::Result<Conn> {
        // Flags and environment that say everything need no config file (a
        // broken or unreadable one does not stop a script that names both).
        let needed = self.profile.is_some() || self.api_url.is_none() || self.api_key.is_none();
        let file = if needed {
            ConfigFile::load(&profile::path()?)?
        } else {
            ConfigFile::default()
        };
        let picked = file.pick(self.profile.as_deref())?.map(|(_, p)| p);
        let url = self
            .api_url
            .clone()
            .or_else(|| picked.map(|p| p.api_url.clone()))
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let key = self
            .api_key
            .clone()
            .or_else(|| picked.map(|p| p.api_key.clone()))
            .context(
                "no API key: pass --api-key, set HOOKRELAY_API_KEY, or save one with `hookrelay login`",
            )?;
        Ok(Conn {
            url: url.trim_end_matches('/').to_owned(),
            key,
            json: self.json,
        })
    }
}

/// A resolved server to talk to.
#[derive(Clone)]
pub struct Conn {
    /// Base URL without a trailing slash.
    pub url: String,
    pub key: String,
    pub json: bool,
}

/// The client commands (`serve` and the operator commands live beside them
/// in the binary's own tree).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save a server URL and API key as a named profile of the config file.
    #[command(
        after_help = "Example:\n  hookrelay login --api-url http://127.0.0.1:8080 --name local\n  (the key is read from --api-key, HOOKRELAY_API_KEY, or one line on stdin)"
    )]
    Login(LoginArgs),
    /// Create, inspect and change webhook endpoints.
    Endpoints(manage::Endpoints),
    /// Resource-scoped subscriptions of an endpoint.
    Subscriptions(manage::Subscriptions),
    /// Publish events (one, or a file of many) and read them back.
    Events(manage::Events),
    /// The delivery history: list, inspect, retry.
    Deliveries(manage::Deliveries),
    /// The event catalog.
    EventTypes(manage::EventTypes),
    /// Publish the catalog's example payload of an event type, with a fresh id.
    #[command(
        after_help = "Examples:\n  hookrelay trigger extract_run.processed\n  hookrelay trigger extract_run.failed --override failureReason=TIMEOUT --override metadata.customerId=cust_9"
    )]
    Trigger(trigger::TriggerArgs),
    /// Forward a temporary endpoint's deliveries to a local URL (local development without a public URL).
    Listen {
        #[command(flatten)]
        args: listen::ListenArgs,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Check a received webhook's signature (body on stdin, headers as
    /// --header flags) and say why it is not valid.
    Verify(verify::VerifyArgs),
}

/// Options of `hookrelay login`.
#[derive(Args)]
pub struct LoginArgs {
    /// Name of the profile to write.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Base URL of the server.
    #[arg(long, env = "HOOKRELAY_API_URL", default_value = DEFAULT_API_URL, value_name = "URL")]
    pub api_url: String,
    /// The workspace API key [default: asked for on the terminal (not echoed), or one line read from stdin].
    #[arg(
        long,
        env = "HOOKRELAY_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Make it the profile used when none is named (the first one saved, and
    /// one named `default`, always are).
    #[arg(long)]
    pub default: bool,
}

impl std::fmt::Debug for LoginArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginArgs")
            .field("name", &self.name)
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("default", &self.default)
            .finish()
    }
}

/// Runs a client command. `verify` is not one of them: its exit status
/// is its answer, so the binary runs it itself.
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Login(args) => login(args).await,
        Command::Endpoints(c) => manage::endpoints(c).await,
        Command::Subscriptions(c) => manage::subscriptions(c).await,
        Command::Events(c) => manage::events(c).await,
        Command::Deliveries(c) => manage::deliveries(c).await,
        Command::EventTypes(c) => manage::event_types(c).await,
        Command::Trigger(args) => trigger::run(args).await,
        Command::Listen { args, api } => listen::run(args, &api.resolve()?).await,
        Command::Verify(_) => unreachable!("the binary runs verify itself"),
    }
}

/// `hookrelay login`: checks the key against the server, then saves it.
async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let key = match args.api_key {
        Some(k) => k,
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("API key for {}: ", args.api_url))
                .context("reading the API key")?
                .trim()
                .to_owned()
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the API key from stdin")?;
            line.trim().to_owned()
        }
    };
    if key.is_empty() {
        anyhow::bail!("no API key given");
    }
    let conn = Conn {
        url: args.api_url.trim_end_matches('/').to_owned(),
        key,
        json: false,
    };
    // Any authenticated read proves the key; a wrong one is 401 here.
    Client::new(&conn)?
        .get(&["webhook_endpoints"], &[("maxPageSize", "1".into())])
        .await
        .context("the server did not accept the key; nothing was saved")?;
    let path = profile::path()?;
    let mut file = ConfigFile::load(&path)?;
    if args.default || args.name == "default" || file.default.is_none() {
        file.default = Some(args.name.clone());
    }
    file.profiles.insert(
        args.name.clone(),
        Profile {
            api_url: conn.url.clone(),
            api_key: conn.key,
        },
    );
    file.save(&path)?;
    output::line(format!(
        "Saved profile {} for {} in {}{}",
        args.name,
        conn.url,
        path.display(),
        if file.default.as_deref() == Some(args.name.as_str()) {
            " (the default)"
        } else {
            ""
        }
    ));
    Ok(())
}
