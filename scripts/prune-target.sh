#!/usr/bin/env bash
# Keeps the shared build cache ($CARGO_TARGET_DIR, default ~/.cache/fusion-target) bounded: each
# dependency change gives every crate downstream new artifact hashes, and cargo never deletes the
# old ones (on this 2-core, 250 GB machine the debug dir reached 49 GB in a day). For each
# artifact name in debug/deps and release/deps this keeps the newest KEEP files of each kind
# (default 5: a crate can have about four current variants — build, clippy check, build-script
# host, test); it drops incremental caches not touched for MAX_AGE_MIN minutes (default 120).
# Only cache is removed: cargo rebuilds whatever it misses. Safe to run before any build.
set -euo pipefail
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
KEEP="${KEEP:-5}"
MAX_AGE_MIN="${MAX_AGE_MIN:-120}"
[[ -d "$TARGET" ]] || exit 0
before=$(du -sm "$TARGET" 2>/dev/null | cut -f1)
for profile in debug release; do
  deps="$TARGET/$profile/deps"
  [[ -d "$deps" ]] || continue
  # name-HASH.ext -> group by name and ext, newest first, drop all but KEEP.
  find "$deps" -maxdepth 1 -type f -printf '%T@ %f\n' | sort -rn \
    | perl -ne '
        my ($t, $f) = split / /, $_, 2; chomp $f;
        next unless $f =~ /^(.+)-[0-9a-f]{16}(\..*)?$/;   # name-HASH[.ext]
        print "$f\n" if ++$seen{"$1|" . ($2 // "")} > '"$KEEP"';' \
    | while read -r f; do rm -f "$deps/$f"; done
  # Temporary files of links that were interrupted.
  find "$deps" -maxdepth 1 -type f -name '*.tmp*' -mmin +60 -delete
  inc="$TARGET/$profile/incremental"
  [[ -d "$inc" ]] && find "$inc" -mindepth 1 -maxdepth 1 -mmin +"$MAX_AGE_MIN" -exec rm -rf {} +
done
after=$(du -sm "$TARGET" 2>/dev/null | cut -f1)
echo "[prune-target] $TARGET: ${before} MB -> ${after} MB" >&2
