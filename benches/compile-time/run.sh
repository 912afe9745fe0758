#!/usr/bin/env bash
# Compile-time benchmark: plain Diesel vs tenancy, the generated crate's own compilation only.
#
#   benches/compile-time/run.sh [TABLES=30] [QUERIES=200] [ROUNDS=5]
#
# Environment:
#   CT_WORK   work directory (default: a new mktemp -d); crates go to $CT_WORK/{plain,tenancy},
#             the shared target dir to $CT_WORK/target (never the repository's target/)
#   CT_MODES  which cargo commands to time, default "build check"
#   CT_KEEP   1 keeps the work directory (default: kept only when CT_WORK was given)
#   CT_SOURCE which tenancy sources to benchmark: a git revision (default HEAD), exported with
#             `git archive` into $CT_WORK/src, or `worktree` for a copy of the working tree.
#             Either way the crates depend on a private snapshot, so edits to the repository
#             during a run cannot trigger rebuilds of tenancy-schema mid-measurement.
#   CT_DIESEL_FEATURES  Diesel features of both generated crates (default postgres,uuid)
#
# Dependencies (diesel, tenancy-schema, ...) are built once before timing; each round then
# touches src/lib.rs of each crate and times `cargo build` / `cargo check` of that crate alone,
# alternating which crate goes first. CARGO_INCREMENTAL=0 so that every timed compile is a full
# compile of the crate rather than an incremental no-op.
set -euo pipefail

TABLES=${1:-30}
QUERIES=${2:-200}
ROUNDS=${3:-5}
MODES=${CT_MODES:-build check}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

if [[ -n ${CT_WORK:-} ]]; then
    WORK=$CT_WORK
    mkdir -p "$WORK"
    KEEP=${CT_KEEP:-1}
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/tenancy-compile-time.XXXXXX")
    KEEP=${CT_KEEP:-0}
fi
if [[ $KEEP != 1 ]]; then
    trap 'rm -rf "$WORK"' EXIT
fi

export CARGO_TARGET_DIR="$WORK/target"
export CARGO_INCREMENTAL=0
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER || true

SOURCE=${CT_SOURCE:-HEAD}
SNAP="$WORK/src"
rm -rf "$SNAP" && mkdir -p "$SNAP"
if [[ $SOURCE == worktree ]]; then
    (cd "$REPO" && tar -c --exclude=./target --exclude=./.git --exclude=./benches .) | tar -x -C "$SNAP"
    SOURCE_DESC="working tree of $REPO (based on $(git -C "$REPO" rev-parse --short HEAD))"
else
    git -C "$REPO" archive --format=tar "$SOURCE" | tar -x -C "$SNAP"
    SHA=$(git -C "$REPO" rev-parse --short "$SOURCE^{commit}")
    SOURCE_DESC="$SHA ($SOURCE)"
    SOURCE=$SHA
fi
echo "== tenancy sources: $SOURCE_DESC, snapshot in $SNAP"

FEATURES=${CT_DIESEL_FEATURES:-postgres,uuid}
python3 "$HERE/gen.py" "$WORK" --tables "$TABLES" --queries "$QUERIES" --repo "$SNAP" \
    --diesel-features "$FEATURES"

echo "== warm-up: building dependencies (and each crate once) into $CARGO_TARGET_DIR"
for variant in plain tenancy; do
    for mode in $MODES; do
        (cd "$WORK/$variant" && cargo "$mode" 2>&1 | tee "$WORK/warmup-$variant-$mode.log" | tail -n 3)
        if grep -q '^warning' "$WORK/warmup-$variant-$mode.log"; then
            echo "note: $variant ($mode) emitted warnings, see $WORK/warmup-$variant-$mode.log"
        fi
    done
done

# Cargo's own fixed cost (fingerprinting, no compilation), included in every timed number below.
for variant in plain tenancy; do
    t0=$(date +%s.%N)
    (cd "$WORK/$variant" && cargo build --quiet --offline --locked)
    t1=$(date +%s.%N)
    echo "no-op cargo build ($variant): $(python3 -c "print(f'{$t1 - $t0:.3f}')")s"
done

TIMES="$WORK/times.tsv"
printf 'round\tmode\tvariant\tseconds\n' >"$TIMES"
now() { date +%s.%N; }

for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order="plain tenancy"; else order="tenancy plain"; fi
    for mode in $MODES; do
        for variant in $order; do
            touch "$WORK/$variant/src/lib.rs"
            t0=$(now)
            (cd "$WORK/$variant" && cargo "$mode" --offline --locked 2>"$WORK/last.log") ||
                { cat "$WORK/last.log"; exit 1; }
            t1=$(now)
            if grep -E '^ *(Compiling|Checking) ' "$WORK/last.log" | grep -vq ' ct-'; then
                echo "error: round $r rebuilt more than the generated crate:" >&2
                cat "$WORK/last.log" >&2
                exit 1
            fi
            secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
            printf '%d\t%s\t%s\t%s\n' "$r" "$mode" "$variant" "$secs" >>"$TIMES"
            printf 'round %d  %-5s  %-7s  %6ss\n' "$r" "$mode" "$variant" "$secs"
        done
    done
done

python3 - "$TIMES" "$TABLES" "$QUERIES" "$ROUNDS" <<'EOF'
import csv, statistics, sys
path, tables, queries, rounds = sys.argv[1:]
rows = list(csv.DictReader(open(path), delimiter="\t"))
modes = list(dict.fromkeys(r["mode"] for r in rows))
print()
print(f"Generated crate compile time, {tables} tables, {queries} queries, {rounds} rounds "
      f"(dependencies prebuilt, CARGO_INCREMENTAL=0, debug profile)")
print()
print("| cargo | plain median (min-max) s | tenancy median (min-max) s | tenancy/plain (medians) | per-round ratio min-max |")
print("|---|---|---|---|---|")
for mode in modes:
    t = {v: {int(r["round"]): float(r["seconds"]) for r in rows if r["mode"] == mode and r["variant"] == v}
         for v in ("plain", "tenancy")}
    med = {v: statistics.median(t[v].values()) for v in t}
    span = {v: f"{med[v]:.2f} ({min(t[v].values()):.2f}-{max(t[v].values()):.2f})" for v in t}
    paired = [t["tenancy"][k] / t["plain"][k] for k in t["plain"]]
    print(f"| {mode} | {span['plain']} | {span['tenancy']} | {med['tenancy'] / med['plain']:.2f} "
          f"| {min(paired):.2f}-{max(paired):.2f} |")
print()
print("raw seconds per round:")
for mode in modes:
    for v in ("plain", "tenancy"):
        vals = [r["seconds"] for r in rows if r["mode"] == mode and r["variant"] == v]
        print(f"  {mode:5} {v:7}: {' '.join(vals)}")
EOF
echo
echo "lines of generated code: $(wc -l <"$WORK/plain/src/lib.rs") (plain), $(wc -l <"$WORK/tenancy/src/lib.rs") (tenancy)"
echo "machine: nproc=$(nproc), $(rustc -V), $(date -u +%Y-%m-%dT%H:%M:%SZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tenancy sources: $SOURCE_DESC"
echo "diesel features of the generated crates: $FEATURES (+ those tenancy-schema enables, tenancy crate)"
echo "reproduce: CT_SOURCE=$SOURCE CT_DIESEL_FEATURES=$FEATURES benches/compile-time/run.sh $TABLES $QUERIES $ROUNDS   (from $REPO)"
if [[ $KEEP == 1 ]]; then echo "work directory kept: $WORK"; fi
