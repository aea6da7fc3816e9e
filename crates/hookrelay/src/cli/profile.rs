//! The user's config file of named profiles (a server URL and an API key
//! each), which `hookrelay login` writes and every client command can read.
//!
//! It lives at `$HOOKRELAY_CONFIG`, else `$XDG_CONFIG_HOME/hookrelay/config.toml`,
//! else `~/.config/hookrelay/config.toml`, and holds keys, so it is written
//! readable by its owner only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One server and key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub api_url: String,
    pub api_key: String,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("api_url", &self.api_url)
            .field("api_key", &"***")
            .finish()
    }
}

/// Where the config file is.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("HOOKRELAY_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(
            std::env::var_os("HOME")
                .filter(|p| !p.is_empty())
                .context("neither HOOKRELAY_CONFIG, XDG_CONFIG_HOME nor HOME is set")?,
        )
        .join(".config"),
    };
    Ok(base.join("hookrelay").join("config.toml"))
}

impl ConfigFile {
    /// The file at `path`, or an empty one if there is none.
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        warn_if_shared(path);
        toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    /// The profile `name`, else the default one; `None` when the file names
    /// none and `name` is not given.
    pub fn pick(&self, name: Option<&str>) -> anyhow::Result<Option<(&str, &Profile)>> {
        let Some(name) = name.or(self.default.as_deref()) else {
            return Ok(None);
        };
        match self.profiles.get_key_value(name) {
            Some((k, p)) => Ok(Some((k.as_str(), p))),
            None => anyhow::bail!(
                "no profile {name:?} in the config file (run `hookrelay login --name {name}`)"
            ),
        }
    }

    /// Writes the file readable by its owner only (its directory too, when
    /// this creates it), replacing the old one in one rename.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = toml::to_string_pretty(self).context("writing the config file")?;
        let tmp = path.with_extension("toml.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        // A file left by an older write may have kept wider permissions.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }
}

/// Says so on stderr when others can read the file holding the keys.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "warning: {} holds API keys and others can read it; chmod 600 it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let mut cfg = ConfigFile::default();
        cfg.profiles.insert(
            "local".into(),
            Profile {
                api_url: "http://127.0.0.1:8080".into(),
                api_key: "hr_secret".into(),
            },
        );
        cfg.default = Some("local".into());
        cfg.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let back = ConfigFile::load(&path).unwrap();
        let (name, p) = back.pick(None).unwrap().unwrap();
        assert_eq!((name, p.api_key.as_str()), ("local", "hr_secret"));
        assert!(back.pick(Some("other")).is_err());
        assert!(!format!("{p:?}").contains("hr_secret"));
    }

    #[test]
    fn no_file_is_no_profile() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ConfigFile::load(&dir.path().join("none.toml")).unwrap();
        assert!(cfg.pick(None).unwrap().is_none());
    }
}
