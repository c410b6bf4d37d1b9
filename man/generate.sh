#!/usr/bin/env bash
# Regenerates the shipped man pages from the CLI definitions (a test fails when they are stale).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/betterform
"$bin" man > man/betterform.1
for cmd in up down run plan stamp status logs graph validate config export migrate stage completions man; do
  "$bin" man "$cmd" > "man/betterform-$cmd.1"
done
