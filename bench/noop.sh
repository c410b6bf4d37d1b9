#!/usr/bin/env bash
# No-op re-run benchmark: bring a 300-stage layered DAG up once, then time `up` when
# everything is up to date (nothing to run). Target: <= 50 ms on a 2-core machine.
#
# usage: bench/noop.sh [STAGES] [RUNS]     (builds the release binary first)
set -euo pipefail
stages=${1:-300}
runs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/betterform"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$root/bench/gen_dag.py" "$work/impl" "$stages"
mkdir -p "$work/deploy"
cd "$work/deploy"
echo "{ region: 'eu-north-1' }" > config.jsonnet
"$bin" --impl-dir ../impl up -j 2 > /dev/null 2>&1
if command -v hyperfine > /dev/null; then
  hyperfine --warmup 3 --runs "$runs" "$bin --impl-dir ../impl up -j 2"
else
  # Fallback: best and median of $runs wall-clock runs, in milliseconds.
  times=()
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" --impl-dir ../impl up -j 2 > /dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  echo "no-op up of $stages stages, $runs runs: min ${sorted[0]} ms, median ${sorted[$((runs / 2))]} ms"
fi
"$bin" --impl-dir ../impl up -j 2 2>&1 | grep '^summary'
