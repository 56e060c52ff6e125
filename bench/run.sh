#!/usr/bin/env bash
# The start-up benchmark of docs/BENCHMARKS.md: herald against dinit, a plain bash script, s6,
# runit, supervisord and the K3s style, on the scenarios of the design note.
#
#   bench/run.sh            the full suite (under 15 minutes on a 2-core machine)
#   bench/run.sh --quick    one repetition, 200 instead of 1,000 processes, idle100 over 10 s (under 2 minutes)
#
# Extra arguments go to `herald-bench suite` (for example `--only chain5,k3s` or
# `--tools herald,s6`). Results: the markdown table on stdout and in bench/results.md, the
# JSON in bench/results.json.
#
# Run as root, it installs the peers from Debian packages (s6, runit, supervisor) without
# starting their system services; a peer that cannot be installed is left out with a note.
# dinit has no Debian package: it is compared when HERALD_BENCH_DINIT names its binary or
# `dinit` is on PATH, and left out with a note otherwise.
# Every peer runs from a scan folder or config under a temporary folder, and everything the
# suite starts is stopped when a run ends (and again on exit).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '%s\n' "$*" >&2; }

install_peers() {
  local missing=()
  command -v s6-svscan >/dev/null || missing+=(s6)
  command -v runsvdir >/dev/null || missing+=(runit)
  command -v supervisord >/dev/null || missing+=(supervisor)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "note: cannot install ${missing[*]} (needs root and apt-get); those peers are left out"
    return 0
  fi
  # Installing must not start the packages' system services: a policy that refuses every
  # service start, only if the machine has none of its own.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2; then
    log "note: installing ${missing[*]} failed; the peers not installed are left out"
  fi
  [ "$ours" = 1 ] && rm -f "$policy"
  return 0
}

install_peers

# One release build, reused. The fixture is linked statically (as `benchmarks.md` asks), so
# its own start costs no dynamic loading; building it for the explicit host target keeps the
# static flag away from build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release -p herald-bench -p herald-cli >&2
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release -p herald-fixture --target "$host" >&2
fixture="target/$host/release/herald-fixture"

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench.XXXXXX")
cleanup() {
  # Anything still running from the work folder (a run interrupted half-way).
  local pid
  for pid in $(grep -l -s -F "$work" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p bench
target/release/herald-bench suite --work "$work" --json bench/results.json \
  --bin-dir target/release --fixture "$fixture" "$@" | tee bench/results.md
