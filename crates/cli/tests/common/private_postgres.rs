//! A PostgreSQL server of a test's own — its own cluster in a temp dir, on a free port — that
//! the test may stop and start again (the shared server of `FUSION_TEST_POSTGRES_URL` serves
//! other tests and is never stopped). initdb and pg_ctl are found as `scripts/postgres.sh`
//! finds them (PATH, then /usr/lib/postgresql/*/bin); as root, they run as the `postgres` user
//! (initdb and postgres refuse root). The server is stopped (immediately) and its directory
//! removed when this is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PrivatePostgres {
    bin: PathBuf,
    /// Holds the cluster (`data/`) and its log; removed on drop.
    dir: tempfile::TempDir,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub url: String,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The directory holding initdb and pg_ctl.
fn bindir() -> PathBuf {
    let on_path = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    };
    if let (Some(_), Some(pg_ctl)) = (on_path("initdb"), on_path("pg_ctl")) {
        let pg_ctl = std::fs::canonicalize(&pg_ctl).unwrap_or(pg_ctl);
        return pg_ctl.parent().unwrap().to_owned();
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .collect();
    dirs.sort();
    dirs.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL's initdb and pg_ctl are not installed (looked on PATH and in \
             /usr/lib/postgresql/*/bin): run scripts/postgres.sh, which installs them"
        )
    })
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivatePostgres {
    /// Initialises a cluster and starts it.
    pub fn start() -> Self {
        let bin = bindir();
        // Not under the test's own temp dir: the postgres user must reach this one.
        let dir = tempfile::Builder::new()
            .prefix("fusion-private-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path()));
        }
        run(as_pg(&bin.join("initdb")).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]));
        let port = free_port();
        let server = Self {
            bin,
            dir,
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self) -> Command {
        let mut cmd = as_pg(&self.bin.join("pg_ctl"));
        cmd.arg("-D").arg(self.data());
        cmd
    }

    /// Starts the (stopped) server on its port and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data().display()
        );
        let log = self.dir.path().join("server.log");
        let ok = self
            .pg_ctl()
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(&log)
            .arg("start")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the private PostgreSQL did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (`-m immediate`: connections are cut, as when it crashes).
    /// Committed work survives: the server runs with `synchronous_commit` on (only `fsync` is
    /// off, which matters to a machine's crash, not to a server's).
    pub fn stop(&self) {
        run(self.pg_ctl().args(["-w", "-m", "immediate", "stop"]));
    }

    #[allow(dead_code)]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .pg_ctl()
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// `program` run as the server's user: `postgres` when this test runs as root.
fn as_pg(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd.current_dir("/");
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
