//! Who may read the SQLite store on disk: it holds every prompt and answer that went through
//! Fusion, so on Unix the directories Fusion creates for it are 0700 and the database file and
//! its `-wal`/`-shm` companions are 0600 (an existing file is tightened too). Fusion's own data
//! directory is tightened to 0700 even when it exists; any other existing directory is left as
//! the user made it.

use std::path::Path;

/// Prepares `db` (a SQLite file path) before SQLite opens it. `own_dir`: its directory is
/// Fusion's data directory (the default store), not one the user chose. `create`: whether the
/// URL lets SQLite create the file (no `mode=` other than `rwc`).
pub(super) fn prepare(db: &Path, own_dir: bool, create: bool) -> Result<(), String> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)
            .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
        if own_dir {
            make_private(dir, 0o700)?;
        }
    }
    if create && !db.exists() {
        create_private_file(db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        if file.exists() {
            make_private(file, 0o600)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// An empty file is a new SQLite database; creating it here fixes its mode before SQLite
/// (which would use the umask, typically 0644) writes a byte.
#[cfg(unix)]
fn create_private_file(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
        .map(drop)
        .or_else(|e| match e.kind() {
            // Another process created it first: it is tightened below like any existing file.
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })
}

#[cfg(not(unix))]
fn create_private_file(_db: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Removes group and other access from `path` (leaving it alone when it has none).
#[cfg(unix)]
fn make_private(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the mode of {}: {e}", path.display()))?
        .permissions()
        .mode();
    if current & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        format!(
            "cannot make {} private (mode {mode:o}): {e}",
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _mode: u32) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_directories_are_0700_and_the_file_0600() {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("a/b/fusion.db");
        prepare(&db, false, true).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn existing_files_are_tightened_but_a_users_directory_is_not() {
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = root.path().join("fusion.db");
        for name in ["fusion.db", "fusion.db-wal", "fusion.db-shm"] {
            let path = root.path().join(name);
            std::fs::write(&path, b"").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare(&db, false, true).unwrap();
        assert_eq!(mode(root.path()), 0o755);
        for name in ["fusion.db", "fusion.db-wal", "fusion.db-shm"] {
            assert_eq!(mode(&root.path().join(name)), 0o600, "{name}");
        }
        prepare(&db, true, true).unwrap();
        assert_eq!(
            mode(root.path()),
            0o700,
            "Fusion's own data dir is tightened"
        );
    }

    #[test]
    fn a_read_only_url_creates_nothing() {
        let root = tempfile::tempdir().unwrap();
        let db = root.path().join("fusion.db");
        prepare(&db, false, false).unwrap();
        assert!(!db.exists());
    }
}
