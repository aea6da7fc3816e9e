//! A private PostgreSQL cluster for TLS tests: `initdb` into a temp dir, a
//! server certificate for `localhost` signed by a CA made here, `ssl=on`,
//! listening on 127.0.0.1 at a free port (Unix sockets in the temp dir),
//! trust authentication — except the role `scram`, which must give its
//! password with SCRAM over TLS (for channel binding). The server is stopped
//! when the [`Cluster`] is dropped.
//!
//! PostgreSQL refuses to run as root, so as root (the usual test container)
//! every server command runs as the `postgres` user with `runuser`, in a temp
//! dir handed to that user. Without `initdb` (or, as root, without `runuser`
//! or a `postgres` user) [`Cluster::start`] says why and returns `None` so
//! the test skips — unless `HOOKRELAY_REQUIRE_POSTGRES=1`, which makes it a
//! failure.
//!
//! Shared by the store's `pg_tls` tests and the binary's `it` tests (which
//! include this file by path).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The password of the `scram` role.
pub const SCRAM_PASSWORD: &str = "scram-secret";

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `Some((uid, gid))` of `postgres` when running as root.
    run_as: Option<(u32, u32)>,
    pub port: u16,
}

/// A CA made for one test, and where its certificate is.
pub struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pub path: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its certificate written to `dir/<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("hookrelay test CA {name}"),
        );
        let cert = params.self_signed(&key).unwrap();
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, cert.pem()).unwrap();
        Ca { cert, key, path }
    }

    /// A certificate for `names`, signed by this CA: (cert PEM, key PEM).
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn required() -> bool {
    std::env::var("HOOKRELAY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

fn skip(why: &str) -> Option<(Cluster, Ca)> {
    assert!(
        !required(),
        "HOOKRELAY_REQUIRE_POSTGRES=1 but a private PostgreSQL cluster cannot start: {why}"
    );
    eprintln!("skipping a private-cluster PostgreSQL test: {why}");
    None
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`, or the
/// directory of an `initdb` on the PATH.
fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn find_runuser() -> Option<PathBuf> {
    [
        "/usr/sbin/runuser",
        "/sbin/runuser",
        "/usr/bin/runuser",
        "/bin/runuser",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// `(uid, gid)` of the `postgres` user, from /etc/passwd.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

fn running_as_root() -> bool {
    // The owner of a file this process just made is its effective user.
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().unwrap()) == 0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Starts a cluster whose server certificate (for `localhost`) is
    /// signed by the returned CA (its PEM in the cluster's temp dir). `None`:
    /// skip (see the module docs).
    pub fn start() -> Option<(Cluster, Ca)> {
        let Some(bin) = find_bin() else {
            return skip("no initdb (looked in /usr/lib/postgresql/*/bin and on the PATH)");
        };
        let run_as = if running_as_root() {
            if find_runuser().is_none() {
                return skip(
                    "running as root and there is no runuser to start PostgreSQL as another user",
                );
            }
            let Some(ids) = postgres_user() else {
                return skip(
                    "running as root and there is no `postgres` user to run PostgreSQL as",
                );
            };
            Some(ids)
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster {
            dir,
            bin,
            run_as,
            port: free_port(),
        };
        let data = cluster.data();
        cluster.hand_over(cluster.dir.path());

        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
        );

        let ca = Ca::new(cluster.dir.path(), "ca");
        let (cert, key) = ca.issue(&["localhost"]);
        cluster.write(&data.join("server.crt"), &cert, 0o644);
        cluster.write(&data.join("server.key"), &key, 0o600);
        // The `scram` role must authenticate with its password over TLS;
        // everyone else is trusted.
        cluster.write(
            &data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all scram 127.0.0.1/32 scram-sha-256\n\
             host all scram 127.0.0.1/32 reject\n\
             host all all 127.0.0.1/32 trust\n",
            0o600,
        );
        // In postgresql.conf rather than on the command line, so that a test
        // can still change them with ALTER SYSTEM.
        let conf = data.join("postgresql.conf");
        let mut settings = std::fs::read_to_string(&conf).unwrap();
        settings.push_str(&format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             max_connections = 40\nshared_buffers = 16MB\n",
            cluster.port,
            cluster.dir.path().display()
        ));
        cluster.write(&conf, &settings, 0o600);
        let log = cluster.dir.path().join("server.log");
        // `pg_ctl start -w` returns once the server accepts connections (or
        // has failed to start).
        let started = cluster.output(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
            ],
        );
        if !started.status.success() {
            panic!(
                "pg_ctl start failed: {}\n{}\nserver log:\n{}",
                String::from_utf8_lossy(&started.stdout),
                String::from_utf8_lossy(&started.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        cluster.run(
            "psql",
            &[
                "-h",
                cluster.dir.path().to_str().unwrap(),
                "-p",
                &cluster.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE ROLE scram LOGIN SUPERUSER PASSWORD '{SCRAM_PASSWORD}'"),
            ],
        );
        Some((cluster, ca))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The temp dir the cluster lives in (CA files may be written here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `postgres://postgres@<host>:<port>/postgres?<query>`.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    /// Makes `path` the server user's, when that is not us.
    fn hand_over(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }

    fn write(&self, path: &Path, contents: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, contents).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        self.hand_over(path);
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut c = Command::new(find_runuser().unwrap());
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"))
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self.output(program, args);
        assert!(
            out.status.success(),
            "{program} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL as `postgres` over the Unix socket (no TLS involved) and
    /// returns psql's unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.output(
            "psql",
            &[
                "-h",
                self.dir.path().to_str().unwrap(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
        );
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let out = self.output(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "immediate",
                "-D",
                data.to_str().unwrap(),
            ],
        );
        if !out.status.success() {
            eprintln!(
                "stopping the private cluster in {} failed: {}",
                self.dir.path().display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
