//! `fusion serve` whose store lives on a tiny disk: a tmpfs of a few MiB mounted over a
//! directory in a mount namespace of the server's own (`unshare --user --map-root-user
//! --mount`, which needs no privilege where unprivileged user namespaces are allowed, and works
//! as root too). The mount exists only for that process and goes with it. The test fills the
//! disk and frees it again through `/proc/PID/root`, the server's own view of the files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::FUSION;

/// A `fusion serve` process on a tiny disk; killed when dropped (the mount goes with it).
pub struct TinyDiskServer {
    pub child: tokio::process::Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Where the tmpfs is mounted (in the server's namespace; an empty directory outside).
    pub mount: PathBuf,
    root: PathBuf,
    _stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

impl TinyDiskServer {
    /// Mounts a tmpfs of `size` (`2m`, ...) over `mount` (created if missing) for a new
    /// `fusion serve --config CONFIG --listen 127.0.0.1:0` rooted at `root` (its environment is
    /// that of `common::fusion_command`), and waits for its address. Fails naming what the
    /// kernel refused when the namespace or the mount is not allowed.
    pub async fn start(root: &Path, mount: &Path, size: &str, config: &Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        std::fs::create_dir_all(mount).unwrap();
        let log = std::fs::File::create(root.join("serve.log")).unwrap();
        let mut cmd = tokio::process::Command::new("unshare");
        cmd.current_dir(root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .kill_on_drop(true);
        fusion_test_support::isolate(&mut cmd, root);
        // unshare execs sh, which execs fusion: one process, whose pid the test knows.
        cmd.args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size} tmpfs \"$0\" || exit 97; exec \"$@\""
            ))
            .arg(mount)
            .arg(FUSION)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `unshare` (util-linux): {e}"));
        let pid = child.id().unwrap();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            stdout.read_line(&mut line),
        )
        .await;
        let Some(url) = line
            .trim()
            .strip_prefix("FUSION_LISTEN_URL=")
            .map(str::to_owned)
        else {
            let _ = child.start_kill();
            let log = std::fs::read_to_string(root.join("serve.log")).unwrap_or_default();
            panic!(
                "fusion serve on a tiny disk did not start (read {read:?}). When `unshare` or \
                 `mount` says \"Operation not permitted\", the kernel refuses an unprivileged \
                 user and mount namespace: allow it (sysctl kernel.unprivileged_userns_clone=1, \
                 or user.max_user_namespaces > 0, or an AppArmor/seccomp profile that permits \
                 unshare(CLONE_NEWUSER|CLONE_NEWNS)), or run the test with CAP_SYS_ADMIN. Its \
                 output:\n{log}"
            );
        };
        Self {
            child,
            pid,
            url,
            mount: mount.to_owned(),
            root: root.to_owned(),
            _stdout: stdout,
        }
    }

    /// `path` (under the mount) as the server sees it.
    pub fn inside(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        PathBuf::from(format!("/proc/{}/root", self.pid)).join(relative)
    }

    /// Fills the tiny disk with `filler` (under the mount) until no byte more fits; the bytes
    /// written.
    pub fn fill(&self, filler: &Path) -> u64 {
        let path = self.inside(filler);
        let mut file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        let chunk = vec![0x5a_u8; 4096];
        let mut written = 0_u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        let _ = file.flush();
        written
    }

    /// Removes `filler`, giving its space back.
    pub fn free(&self, filler: &Path) {
        let path = self.inside(filler);
        std::fs::remove_file(&path)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
    }

    /// Free bytes on the tiny disk, as the server sees it (`stat -f` on its view: `df` would
    /// name the mount by path and report the host's).
    pub fn available(&self) -> u64 {
        let out = std::process::Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.inside(&self.mount))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let numbers: Vec<u64> = text
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        match numbers.as_slice() {
            [blocks, size] => blocks * size,
            _ => panic!("stat -f said {out:?}"),
        }
    }

    /// CPU time the server used so far, in clock ticks (user + system, `/proc/PID/stat`).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
        // Fields after the command name (which is in parentheses): utime and stime are the
        // 14th and 15th fields of the line, the 12th and 13th after the name.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("serve.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}
