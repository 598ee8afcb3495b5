//! A file's language, from its extension (or a few well-known file names), and the names a
//! `--lang` filter accepts for each language.

use std::path::Path;

/// `(language, extensions and file names)`; the first match wins. File names are matched
/// exactly, extensions case-insensitively.
const LANGUAGES: &[(&str, &[&str])] = &[
    ("rust", &["rs"]),
    ("python", &["py", "pyi", "pyw"]),
    ("typescript", &["ts", "tsx", "mts", "cts"]),
    ("javascript", &["js", "jsx", "mjs", "cjs"]),
    ("go", &["go"]),
    ("markdown", &["md", "markdown", "mdx"]),
    ("c", &["c", "h"]),
    (
        "cpp",
        &["cc", "cpp", "cxx", "c++", "hh", "hpp", "hxx", "h++", "ipp"],
    ),
    ("csharp", &["cs"]),
    ("java", &["java"]),
    ("kotlin", &["kt", "kts"]),
    ("scala", &["scala", "sc"]),
    ("swift", &["swift"]),
    ("objc", &["m", "mm"]),
    ("ruby", &["rb", "rake", "gemspec", "Rakefile", "Gemfile"]),
    ("php", &["php"]),
    ("perl", &["pl", "pm"]),
    ("lua", &["lua"]),
    ("shell", &["sh", "bash", "zsh", "fish", "ksh"]),
    ("powershell", &["ps1", "psm1"]),
    ("sql", &["sql"]),
    ("haskell", &["hs"]),
    ("ocaml", &["ml", "mli"]),
    ("elixir", &["ex", "exs"]),
    ("erlang", &["erl", "hrl"]),
    ("clojure", &["clj", "cljs", "cljc", "edn"]),
    ("dart", &["dart"]),
    ("r", &["r"]),
    ("julia", &["jl"]),
    ("zig", &["zig"]),
    ("nim", &["nim"]),
    ("vue", &["vue"]),
    ("svelte", &["svelte"]),
    ("html", &["html", "htm", "xhtml"]),
    ("css", &["css", "scss", "sass", "less"]),
    ("xml", &["xml", "xsd", "xsl", "svg"]),
    ("json", &["json", "jsonc", "json5"]),
    ("yaml", &["yaml", "yml"]),
    ("toml", &["toml", "Cargo.lock"]),
    ("protobuf", &["proto"]),
    ("graphql", &["graphql", "gql"]),
    ("terraform", &["tf", "tfvars", "hcl"]),
    ("nix", &["nix"]),
    ("make", &["mk", "Makefile", "makefile", "GNUmakefile"]),
    ("cmake", &["cmake", "CMakeLists.txt"]),
    ("docker", &["dockerfile", "Dockerfile", "Containerfile"]),
    ("text", &["txt", "text", "rst", "adoc"]),
];

/// The language of `path` (relative or absolute), `other` when unknown.
pub fn of_path(path: &Path) -> &'static str {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for (language, keys) in LANGUAGES {
        if keys.contains(&name) {
            return language;
        }
    }
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return "other";
    };
    for (language, keys) in LANGUAGES {
        if keys.iter().any(|k| k.eq_ignore_ascii_case(extension)) {
            return language;
        }
    }
    "other"
}

/// The language a `--lang` value names: a language (`rust`), or one of its extensions (`rs`),
/// case-insensitively; an unknown value is kept lowercased (and matches nothing).
pub fn normalize(name: &str) -> String {
    let name = name.trim().trim_start_matches('.');
    for (language, keys) in LANGUAGES {
        if language.eq_ignore_ascii_case(name) || keys.iter().any(|k| k.eq_ignore_ascii_case(name))
        {
            return (*language).to_owned();
        }
    }
    if name.eq_ignore_ascii_case("golang") {
        return "go".to_owned();
    }
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_come_from_extensions_and_well_known_names() {
        assert_eq!(of_path(Path::new("src/main.rs")), "rust");
        assert_eq!(of_path(Path::new("a/b.PY")), "python");
        assert_eq!(of_path(Path::new("web/app.tsx")), "typescript");
        assert_eq!(of_path(Path::new("cmd/x.go")), "go");
        assert_eq!(of_path(Path::new("README.md")), "markdown");
        assert_eq!(of_path(Path::new("Makefile")), "make");
        assert_eq!(of_path(Path::new("LICENSE")), "other");
        assert_eq!(of_path(Path::new("x.unknownext")), "other");
    }

    #[test]
    fn filters_accept_language_names_and_extensions() {
        assert_eq!(normalize("Rust"), "rust");
        assert_eq!(normalize("rs"), "rust");
        assert_eq!(normalize(".py"), "python");
        assert_eq!(normalize("golang"), "go");
        assert_eq!(normalize("Klingon"), "klingon");
    }
}
