//! Benchmark of token estimation (`fusion_core::tokens::estimate_text`) on what used to be
//! super-linear: runs of one letter from 4 KiB to 1 MiB (counted in bounded segments, sampled
//! past 64 KiB), beside ordinary prose of the same sizes. Run:
//! `cargo bench -p fusion-core --bench tokens -- --quick`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fusion_core::tokens::estimate_text;

fn prose(bytes: usize) -> String {
    let sentence = "Fusion routes each request to the cheapest model that is good enough. ";
    sentence.repeat(bytes / sentence.len() + 1)[..bytes].to_owned()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("estimate_text");
    group.sample_size(10);
    for kib in [4usize, 64, 512, 1024] {
        let bytes = kib * 1024;
        group.throughput(Throughput::Bytes(bytes as u64));
        let letters = "a".repeat(bytes);
        group.bench_with_input(BenchmarkId::new("letters", kib), &letters, |b, text| {
            b.iter(|| estimate_text(black_box(text)))
        });
        let prose = prose(bytes);
        group.bench_with_input(BenchmarkId::new("prose", kib), &prose, |b, text| {
            b.iter(|| estimate_text(black_box(text)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
