//! Where indexes live: one directory per indexed root under `<fusion data dir>/code-index/`,
//! named after the root's canonical path (its last component, for people, and a hash of the
//! whole path), and how a path finds the indexed root that encloses it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file tantivy keeps in every index directory (an index exists once it is there).
const META_FILE: &str = "meta.json";

/// The directory that holds every code index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHome {
    base: PathBuf,
}

impl IndexHome {
    /// Indexes directly under `base`.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// Indexes under `<data_dir>/code-index`, where `data_dir` is Fusion's data directory
    /// (the one that holds the default store).
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("code-index"))
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The index directory of a root, given canonical (see [`canonical_root`]).
    pub fn dir_for(&self, root: &Path) -> PathBuf {
        let name: String = root
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let hash = xxhash_rust::xxh3::xxh3_64(root.as_os_str().as_encoded_bytes());
        let name = if name.is_empty() {
            "root".to_owned()
        } else {
            name
        };
        self.base.join(format!("{name}-{hash:016x}"))
    }

    /// Whether `root` (canonical) has an index.
    pub fn is_indexed(&self, root: &Path) -> bool {
        self.dir_for(root).join(META_FILE).is_file()
    }

    /// The nearest indexed root at or above `path` (any existing path; made canonical).
    pub fn enclosing_root(&self, path: &Path) -> Result<Option<PathBuf>> {
        let path = path.canonicalize().map_err(|e| Error::io(path, e))?;
        Ok(path
            .ancestors()
            .find(|dir| self.is_indexed(dir))
            .map(Path::to_path_buf))
    }
}

/// `root` made absolute and canonical (symlinks resolved), checked to be a directory.
pub fn canonical_root(root: &Path) -> Result<PathBuf> {
    let canonical = match root.canonicalize() {
        Ok(path) => path,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::MissingRoot(root.to_path_buf()));
        }
        Err(e) => return Err(Error::io(root, e)),
    };
    if !canonical.is_dir() {
        return Err(Error::NotADirectory(root.to_path_buf()));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_root_gets_its_own_named_directory() {
        let home = IndexHome::new("/data/code-index");
        let a = home.dir_for(Path::new("/src/my project"));
        let b = home.dir_for(Path::new("/other/my project"));
        assert_ne!(a, b);
        assert!(a.starts_with("/data/code-index"));
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("my_project-"), "{name}");
        assert_eq!(home.dir_for(Path::new("/src/my project")), a, "stable");
    }

    #[test]
    fn the_nearest_indexed_ancestor_encloses_a_path() {
        let data = tempfile::tempdir().unwrap();
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().canonicalize().unwrap();
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        let home = IndexHome::new(data.path());
        assert_eq!(home.enclosing_root(&deep).unwrap(), None);
        let dir = home.dir_for(&root);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(META_FILE), "{}").unwrap();
        assert_eq!(home.enclosing_root(&deep).unwrap(), Some(root.clone()));
        assert_eq!(home.enclosing_root(&root).unwrap(), Some(root));
    }

    #[test]
    fn a_missing_or_non_directory_root_is_refused() {
        let tree = tempfile::tempdir().unwrap();
        let missing = tree.path().join("nope");
        assert!(matches!(
            canonical_root(&missing),
            Err(Error::MissingRoot(_))
        ));
        let file = tree.path().join("f.txt");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            canonical_root(&file),
            Err(Error::NotADirectory(_))
        ));
    }
}
