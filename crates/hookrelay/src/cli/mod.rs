//! The client half of the binary: `hookrelay <noun> <verb>` and friends
//! talk to a running server over its HTTP API. This module owns the command
//! tree, how the server and key are found (flags, environment, or a profile
//! in the user's config file) and how answers are printed (tables, or JSON
//! with `--json`); each submodule owns one family of commands.

pub mod listen;
pub mod verify;

use clap::Args;

/// Where the server is and which key to use. Flags win over the
/// environment, which wins over the profile.
#[derive(Clone, Args)]
pub struct ApiOpts {
    /// Base URL of the hookrelay server [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, env = "HOOKRELAY_API_URL", global = true)]
    pub api_url: Option<String>,
    /// A workspace API key [default: the profile's].
    #[arg(long, env = "HOOKRELAY_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// A named profile of the config file (`hookrelay login` writes them).
    #[arg(long, env = "HOOKRELAY_PROFILE", global = true)]
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

/// A resolved server to talk to.
#[derive(Clone)]
pub struct Conn {
    /// Base URL without a trailing slash.
    pub url: String,
    pub key: String,
    pub json: bool,
}
