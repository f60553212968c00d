#!/usr/bin/env bash
# Time the README's two commands as a newcomer meets them: a fresh clone (with ../shared beside
# it, as in this project), a new .venv, and an empty pip cache (PIP_NO_CACHE_DIR=1).
#
#   benchmarks/fresh_clone_times.sh main    ./scripts/setup --core && recoworld evaluate ...
#   benchmarks/fresh_clone_times.sh tests   ./scripts/setup && .venv/bin/python -m pytest
#
# Prints the wall time of each step with the machine's load (uptime) before and after, and the CPU
# seconds the step used (its children included), which a loaded machine changes far less. The
# clone is made from this checkout's HEAD in a temporary folder and deleted at the end.
set -euo pipefail
which=${1:-}
case "$which" in
  main | tests) ;;
  *) echo "usage: $0 main|tests" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/.." && pwd)/shared
work=$(mktemp -d /tmp/recoworld-fresh-XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -e "$shared" ] && ln -s "$shared" "$work/shared"
git clone -q "$repo" "$work/recoworld"
cd "$work/recoworld"
export PIP_NO_CACHE_DIR=1
echo "commit $(git rev-parse --short HEAD); $(date -u +%FT%TZ); chromium: $(command -v chromium || echo absent)"

step() {  # step NAME COMMAND...
  local name=$1
  shift
  echo "[$name] load before: $(uptime | sed 's/.*load average/load average/')"
  local start=$SECONDS
  /usr/bin/time -f "[$name] cpu: user %U s, system %S s" "$@"
  echo "[$name] wall: $((SECONDS - start)) s; load after: $(uptime | sed 's/.*load average/load average/')"
}

if [ "$which" = main ]; then
  step main bash -c './scripts/setup --core && .venv/bin/recoworld evaluate --env recoworld/Synthetic-CRS-v0 --agent max-entropy'
else
  step setup ./scripts/setup
  step tests .venv/bin/python -m pytest -rs
fi
