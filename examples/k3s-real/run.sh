#!/bin/sh
# Runs the k3s-real stack in the foreground with herald; Ctrl-C stops it in order.
#
#   examples/k3s-real/run.sh          install what is missing, then `herald up`
#   HERALD=/path/to/herald run.sh     use that herald instead of building one
#
# Needs root: it installs Debian packages, containerd needs root, and postgres is run as the
# postgres user. The packages' own system services are not started (policy-rc.d answers 101
# while installing) and nothing outside data/ beside this file is written by the stack.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "$(id -u)" != 0 ]; then
  echo "run.sh: needs root (package installation, containerd, postgres as its own user)" >&2
  exit 1
fi

have_postgres() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }
missing=""
command -v containerd >/dev/null || missing="$missing containerd"
command -v etcd >/dev/null || missing="$missing etcd-server"
command -v redis-server >/dev/null || missing="$missing redis-server"
have_postgres || missing="$missing postgresql"
command -v nginx >/dev/null || missing="$missing nginx-light"
if [ -n "$missing" ]; then
  echo "run.sh: installing$missing" >&2
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y --no-install-recommends $missing
  if [ -n "$made_policy" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
fi

if [ -z "${HERALD:-}" ]; then
  if command -v herald >/dev/null; then
    HERALD=herald
  else
    (cd "$repo" && cargo build -q -p herald-cli)
    HERALD="$repo/target/debug/herald"
  fi
fi

cd "$here"
"$HERALD" check
exec "$HERALD" up
