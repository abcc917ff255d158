#!/usr/bin/env bash
# Profile-guided release builds of the benchmarked binaries (auth, booking, gateway, loadgen), what
# `make bench` measures unless BENCH_PGO=0; `make pgo` runs it alone. Prints the directory that
# holds the built binaries on its last line.
#   1. builds them instrumented (target/pgo-gen);
#   2. trains them: `scripts/bench.sh train`, the standard runs made short and slow
#      (PGO_TRAIN_SECONDS at PGO_TRAIN_RATE reserves/s), on the bench stack;
#   3. merges what they counted into target/pgo/merged.profdata (`llvm-profdata` from rustup's
#      llvm-tools component, added when missing);
#   4. builds them again, optimised with that profile (target/pgo-use).
# Training runs again only when the instrumented binaries or the training settings changed, so an
# unchanged tree reuses both builds. `make images` builds the container images with the same profile when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

BINS=(auth booking gateway loadgen)
BIN_ARGS=()
for b in "${BINS[@]}"; do BIN_ARGS+=(--bin "$b"); done
# With an explicit --target, RUSTFLAGS reach only the binaries' code, not build scripts or
# procedural macros (which would otherwise be instrumented and leave profiles of their own).
HOST=$(rustc -vV | sed -n 's/^host: //p')
PGO="$ROOT/target/pgo"
RAW="$PGO/raw"
PROFILE="$PGO/merged.profdata"
GEN="$ROOT/target/pgo-gen/$HOST/release"
USE="$ROOT/target/pgo-use/$HOST/release"
TRAIN_RATE="${PGO_TRAIN_RATE:-2000}"
TRAIN_SECONDS="${PGO_TRAIN_SECONDS:-10}"

sysroot=$(rustc --print sysroot)
PROFDATA="$sysroot/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
  say "adding rustup's llvm-tools component (llvm-profdata)"
  rustup component add llvm-tools >&2
fi

say "building instrumented binaries (target/pgo-gen)"
RUSTFLAGS="-Cprofile-generate=$RAW" cargo build --release --target "$HOST" \
  --target-dir target/pgo-gen "${BIN_ARGS[@]}" >&2

# What the profile was trained with, so changing PGO_TRAIN_RATE or PGO_TRAIN_SECONDS trains again.
TRAINED_WITH="$PGO/trained-with"
SETTINGS="rate $TRAIN_RATE, seconds $TRAIN_SECONDS"
stale=0
[ -s "$PROFILE" ] && [ "$(cat "$TRAINED_WITH" 2>/dev/null)" = "$SETTINGS" ] || stale=1
for b in "${BINS[@]}"; do [ "$GEN/$b" -nt "$PROFILE" ] && stale=1; done
if [ "$stale" = 1 ]; then
  say "training: the standard runs at ${TRAIN_RATE}/s for ${TRAIN_SECONDS}s each"
  rm -rf "$RAW"
  mkdir -p "$RAW"
  BENCH_BIN_DIR="$GEN" BENCH_RATE="$TRAIN_RATE" BENCH_SECONDS="$TRAIN_SECONDS" \
    BENCH_CEILING_RATE="$((TRAIN_RATE * 4))" scripts/bench.sh train >&2
  "$PROFDATA" merge -o "$PROFILE.tmp" "$RAW"
  mv "$PROFILE.tmp" "$PROFILE"
  echo "$SETTINGS" >"$TRAINED_WITH"
  rm -rf "$RAW"
else
  say "the profile in $PROFILE is newer than the instrumented binaries and trained with $SETTINGS; not training again"
fi

# The profile's digest is part of RUSTFLAGS, so a new profile rebuilds and an unchanged one does
# not (cargo fingerprints RUSTFLAGS, not the files they name).
digest=$(sha256sum "$PROFILE" | cut -c1-16)
mkdir -p "$PGO/use"
find "$PGO/use" -name '*.profdata' ! -name "$digest.profdata" -delete
[ -f "$PGO/use/$digest.profdata" ] || cp "$PROFILE" "$PGO/use/$digest.profdata"
say "building binaries optimised with the profile (target/pgo-use)"
RUSTFLAGS="-Cprofile-use=$PGO/use/$digest.profdata" cargo build --release --target "$HOST" \
  --target-dir target/pgo-use "${BIN_ARGS[@]}" >&2
echo "$USE"
