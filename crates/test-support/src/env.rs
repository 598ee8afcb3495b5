//! The environment of the processes a test starts: every `fusion` (started by the test itself
//! or by a peer such as the Python MCP client) gets a home, config dir and data dir of its own
//! under the test's temp dir, so no test reads the user's config or writes the user's store;
//! and the peers `scripts/install-peers.sh` installs, found through the variables it prints.

use std::ffi::OsString;
use std::path::Path;

/// What `scripts/install-peers.sh` prints the peers' variables for.
const INSTALL_HINT: &str = "run scripts/install-peers.sh and export the NAME=VALUE lines it \
                            prints (scripts/test.sh does both)";

/// The path of a peer from `scripts/install-peers.sh` (`FUSION_PEERS_PYTHON`,
/// `FUSION_MCP_INSPECTOR`, ...). A missing peer fails the test; it is never skipped.
pub fn peer(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {INSTALL_HINT}"))
}

/// The variables that root a `fusion` process at `root`: `HOME`, the XDG config, data and
/// cache dirs, `FUSION_DATA_DIR` (the store and the code indexes:
/// `ROOT/xdg-data/fusion/`), and zero-config discovery pointed at a port where nothing
/// listens (a test that wants discovery sets `FUSION_DISCOVERY_TARGETS` after this).
pub fn isolated_env(root: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("HOME", root.into()),
        ("XDG_CONFIG_HOME", root.join("xdg-config").into()),
        ("XDG_DATA_HOME", root.join("xdg-data").into()),
        ("XDG_CACHE_HOME", root.join("xdg-cache").into()),
        ("FUSION_DATA_DIR", root.join("xdg-data").into()),
        (
            "FUSION_DISCOVERY_TARGETS",
            "none=http://127.0.0.1:9/v1".into(),
        ),
    ]
}

/// Sets [`isolated_env`] on `command`: on a `fusion` process, or on a peer that starts one
/// (the MCP clients hand their environment to the server they spawn).
pub fn isolate<'a>(
    command: &'a mut tokio::process::Command,
    root: &Path,
) -> &'a mut tokio::process::Command {
    for (name, value) in isolated_env(root) {
        command.env(name, value);
    }
    command
}
