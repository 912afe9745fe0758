#!/usr/bin/env bash
# Minimizes the committed corpora (`cargo fuzz cmin`) and keeps the hand-written seeds.
#
# cmin rewrites a corpus under SHA-1 file names, which is how libFuzzer names what it finds;
# the seeds have readable names (`valid_ten`, `fk_missing_arrow`, ...) that say what they
# test, so they are set aside, put back afterwards, and their SHA-1-named copies dropped.
#
# `-use_counters=0`: keep one input per covered edge, not per hit-count bucket of each edge.
# Same edge coverage, about a fifth of the files (macro_args: 451 instead of 2213); the
# fuzzer finds the count variants again within seconds.
#
# Usage: fuzz/minimize.sh [target...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(typed_id api_key macro_args)
fi
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  seeds="$(mktemp -d)"
  for file in "$corpus"/*; do
    if [ -f "$file" ] && ! [[ "$(basename "$file")" =~ ^[0-9a-f]{40}$ ]]; then
      cp -p "$file" "$seeds/"
    fi
  done
  before="$(find "$corpus" -type f | wc -l)"
  RUSTC_BOOTSTRAP=1 cargo fuzz cmin -s none "$target" -- -use_counters=0
  for seed in "$seeds"/*; do
    [ -e "$seed" ] || continue
    cp -p "$seed" "$corpus/"
    rm -f "$corpus/$(sha1sum "$seed" | cut -d' ' -f1)" # the same input under its SHA-1 name
  done
  rm -rf "$seeds"
  echo "$target: $before -> $(find "$corpus" -type f | wc -l) files, $(cat "$corpus"/* | wc -c) bytes"
done
