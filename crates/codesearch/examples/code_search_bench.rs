//! Code-search benchmark (run by `bench/code_search.sh`, not a test): indexes ROOT from scratch
//! into a fresh index directory, re-runs the indexer on the unchanged tree, then times
//! in-process searches for a fixed set of identifier queries (after a warm-up). Prints one JSON
//! object on stdout.
//!
//!     cargo run --release -p fusion-codesearch --example code_search_bench -- ROOT DATA_DIR [ROUNDS]

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use fusion_codesearch::{CodeIndex, IndexHome, IndexRequest, SearchRequest};

/// Identifier queries in every naming style, common and rare in Rust sources.
const QUERIES: &[&str] = &[
    "HashMap",
    "parse_config",
    "from_str",
    "serialize_struct",
    "DeserializeOwned",
    "read_to_end",
    "TcpStream",
    "unwrap_or_else",
    "Utf8Error",
    "into_iter",
    "BufReader",
    "fmt::Display",
    "impl Iterator for",
    "as_bytes",
    "thread_local",
    "AtomicUsize",
    "compare_exchange_weak",
    "MaybeUninit",
    "PhantomData",
    "with_capacity",
    "extend_from_slice",
    "to_lowercase",
    "is_whitespace",
    "SystemTime",
    "UNIX_EPOCH",
    "spawn_blocking",
    "JoinHandle",
    "poll_next",
    "Waker",
    "Pin<Box",
    "async fn",
    "HeaderMap",
    "StatusCode",
    "Content-Type",
    "percent_decode",
    "Punycode",
    "normalize_path",
    "canonicalize",
    "getrandom",
    "ChaCha20",
    "sha256",
    "HmacSha256",
    "base64_encode",
    "decode_utf8",
    "CharIndices",
    "split_whitespace",
    "BTreeMap",
    "VecDeque",
    "binary_search_by",
    "sort_unstable_by_key",
    "RwLockReadGuard",
    "MutexGuard",
    "Condvar",
    "ParseIntError",
    "TryFrom",
    "FromIterator",
    "IntoIterator",
    "Deref for",
    "drop_in_place",
    "NonNull",
    "LayoutError",
    "alloc_zeroed",
    "regex syntax",
    "unicode width",
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(data)) = (args.next(), args.next()) else {
        return Err("usage: code_search_bench ROOT DATA_DIR [ROUNDS]".into());
    };
    let rounds: usize = args.next().map_or(Ok(20), |r| r.parse())?;
    let root = PathBuf::from(root);
    let home = IndexHome::new(PathBuf::from(data));

    let request = IndexRequest {
        root: root.clone(),
        force: true,
        ..IndexRequest::default()
    };
    let started = Instant::now();
    let first = fusion_codesearch::index(&home, &request, &|_| {})?;
    let index_s = started.elapsed().as_secs_f64();
    let again = IndexRequest {
        root: root.clone(),
        ..IndexRequest::default()
    };
    let started = Instant::now();
    let second = fusion_codesearch::index(&home, &again, &|_| {})?;
    let noop_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let index = CodeIndex::open(&home, &root)?;
    let open_ms = started.elapsed().as_secs_f64() * 1000.0;
    let search = |query: &str| {
        index.search(&SearchRequest {
            query: query.to_owned(),
            limit: 10,
            ..SearchRequest::default()
        })
    };
    let mut hits_per_query = Vec::new();
    for query in QUERIES {
        hits_per_query.push(search(query)?.hits.len());
    }
    let mut latencies = Vec::with_capacity(QUERIES.len() * rounds);
    for _ in 0..rounds {
        for query in QUERIES {
            let started = Instant::now();
            let results = search(query)?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(results);
        }
    }
    latencies.sort_by(f64::total_cmp);

    let report = serde_json::json!({
        "root": root,
        "threads": std::thread::available_parallelism().map_or(1, usize::from),
        "index": {
            "files_seen": first.files_seen,
            "files_indexed": first.files_indexed,
            "skipped": first.skipped,
            "chunks": first.chunks_total,
            "seconds": index_s,
            "files_per_second": first.files_seen as f64 / index_s,
            "index_bytes": first.index_bytes,
        },
        "noop_reindex": {
            "seconds": noop_s,
            "files_read": second.files_read,
            "files_indexed": second.files_indexed,
        },
        "search": {
            "queries": QUERIES.len(),
            "rounds": rounds,
            "samples": latencies.len(),
            "open_ms": open_ms,
            "p50_ms": percentile(&latencies, 50.0),
            "p90_ms": percentile(&latencies, 90.0),
            "p99_ms": percentile(&latencies, 99.0),
            "max_ms": latencies.last().copied().unwrap_or(0.0),
            "queries_with_hits": hits_per_query.iter().filter(|&&n| n > 0).count(),
        },
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    Ok(())
}
