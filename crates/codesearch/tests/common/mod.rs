//! A fixture repository for the code-search tests: mixed languages and naming styles, a
//! `.gitignore` and an `.ignore` (and no `.git`: ignore files count outside git too), ignored
//! files that would match, and a binary file. Every mtime is set an hour back, as for files
//! that were not just written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fusion_codesearch::{
    CodeIndex, IndexHome, IndexOptions, IndexReport, IndexRequest, SearchRequest, SearchResults,
};
use tempfile::TempDir;

pub const FILES: &[(&str, &str)] = &[
    (
        "src/config.rs",
        "//! Configuration loading.\n\npub struct Config {\n    pub listen: String,\n}\n\n\
         /// Reads the file.\npub fn parse_config(path: &str) -> Config {\n    let text = \
         std::fs::read_to_string(path).unwrap_or_default();\n    Config { listen: text }\n}\n",
    ),
    (
        "src/server.rs",
        "pub struct HTTPServer2 {\n    port: u16,\n}\n\nimpl HTTPServer2 {\n    pub fn \
         start_listening(&self) {}\n}\n",
    ),
    (
        "app/loader.py",
        "class ConfigLoader:\n    def load_user_profile(self, user_id):\n        return \
         {\"id\": user_id}\n",
    ),
    (
        "web/client.ts",
        "export function parseConfig(text: string): AppConfig {\n  return JSON.parse(text);\n}\n\n\
         export const fetchUserData = async (id: number) => fetch(`/users/${id}`);\n",
    ),
    (
        "cmd/main.go",
        "package main\n\nfunc ParseConfig(r io.Reader) (*Config, error) {\n\treturn nil, nil\n}\n\n\
         type HttpClient struct{}\n",
    ),
    (
        "docs/guide.md",
        "# Guide\n\nRun `parse-config` to check a file. The zanzibar option is rare.\n",
    ),
    // Ignored by .gitignore or .ignore: they must never be found.
    ("target/build.rs", "fn parse_config_in_target() {}\n"),
    ("debug.log", "parse_config failed\n"),
    (
        "secret/keys.rs",
        "const PARSE_CONFIG_SECRET: &str = \"x\";\n",
    ),
    ("generated/gen.rs", "fn parse_config_generated() {}\n"),
    (".gitignore", "target/\n*.log\nsecret/\n"),
    (".ignore", "generated/\n"),
];

/// Files the index takes (every fixture file not ignored, minus the binary one).
pub const INDEXED: u64 = 6;
/// Regular files the walk sees (the indexed ones and `data.bin`).
pub const SEEN: u64 = 7;

pub struct Fixture {
    pub tree: TempDir,
    pub data: TempDir,
    pub home: IndexHome,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tree = tempfile::tempdir().unwrap();
        for (path, text) in FILES {
            write(&tree.path().join(path), text);
        }
        let binary = tree.path().join("data.bin");
        std::fs::write(&binary, b"ELF\0\0\x01parse_config\0").unwrap();
        set_age(&binary, 3600);
        let data = tempfile::tempdir().unwrap();
        let home = IndexHome::new(data.path().join("code-index"));
        Fixture { tree, data, home }
    }

    pub fn root(&self) -> PathBuf {
        self.tree.path().canonicalize().unwrap()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tree.path().join(rel)
    }

    pub fn index(&self) -> IndexReport {
        self.index_with(IndexOptions::default(), false)
    }

    pub fn index_with(&self, options: IndexOptions, force: bool) -> IndexReport {
        let request = IndexRequest {
            root: self.root(),
            options,
            force,
            ..IndexRequest::default()
        };
        fusion_codesearch::index(&self.home, &request, &|_| {}).unwrap()
    }

    pub fn search(&self, query: &str) -> SearchResults {
        self.search_with(SearchRequest {
            query: query.to_owned(),
            limit: 50,
            ..SearchRequest::default()
        })
    }

    pub fn search_with(&self, request: SearchRequest) -> SearchResults {
        let index = CodeIndex::open(&self.home, &self.root()).unwrap();
        index.search(&request).unwrap()
    }

    /// The distinct paths of the hits for `query`, sorted.
    pub fn paths(&self, query: &str) -> Vec<String> {
        paths(&self.search(query))
    }
}

pub fn paths(results: &SearchResults) -> Vec<String> {
    let mut paths: Vec<String> = results.hits.iter().map(|h| h.path.clone()).collect();
    paths.sort();
    paths.dedup();
    paths
}

/// Writes `text` to `path` (creating directories) and sets its mtime an hour back.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    set_age(path, 3600);
}

/// Sets `path`'s mtime `seconds` back from now.
pub fn set_age(path: &Path, seconds: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}
