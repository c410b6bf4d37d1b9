#!/usr/bin/env bash
# Regenerates the shipped man pages (a test fails when they are stale): betterform(1) and one
# page per command, each assembled by `betterform man` from the CLI definitions and the prose
# in man/src/<page>.roff.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/betterform
"$bin" man > man/betterform.1
# The commands, as `betterform --help` lists them (the `help` pseudo-command has no page).
commands=$("$bin" --help | awk '/^Commands:/ {on = 1; next} on && /^$/ {exit} on && /^  [a-z]/ && $1 != "help" {print $1}')
for cmd in $commands; do
  "$bin" man "$cmd" > "man/betterform-$cmd.1"
done
