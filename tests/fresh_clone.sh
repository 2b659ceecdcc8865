#!/usr/bin/env bash
# A newcomer's first step, proven: clone the committed tree into a temporary folder and run the
# install step that `make run` and `make test` both begin with, from nothing. No virtualenv, no
# node_modules and no package cache of this machine's is used, so a lock that only installs
# where it was written fails here. Then check that the virtualenv is exactly the lock and that
# the `market` command and the Meilisearch binary it needs are there.
#
#   bash tests/fresh_clone.sh [REV]      (REV defaults to HEAD; KEEP=1 keeps the clone)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
rev="${1:-HEAD}"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "fresh clone: note: uncommitted changes in $repo are not part of the clone" >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/techmarket-fresh.XXXXXX")"
if [ "${KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$work"' EXIT
fi

git clone --quiet --no-local "$repo" "$work/techmarket"
git -C "$work/techmarket" checkout --quiet --detach "$rev"
cd "$work/techmarket"

# Nothing from earlier installs on this machine: empty caches that live and die with the clone.
unset VIRTUAL_ENV
export UV_NO_CACHE=1 PIP_NO_CACHE_DIR=1 npm_config_cache="$work/npm-cache"

started=$(date +%s)
make setup
took=$(($(date +%s) - started))

.venv/bin/python tests/installed.py
.venv/bin/market --help >/dev/null
.venv/bin/python -c 'from market.app.processes import meili_binary; print("meilisearch:", meili_binary())'
# What the index has published since the lock was written: the pins held all the same.
.venv/bin/python tests/installed.py --newer || true
echo "fresh clone of $(git rev-parse --short HEAD): make setup took ${took} s from nothing"
