#!/bin/sh
# postgres, in the roles `initdb` (a oneshot: create the cluster once) and `run` (the server, in
# the foreground). postgres refuses to run as root, so as root both run as the postgres user;
# `exec setpriv` keeps the pid, so the server is the component's own process and its READY=1
# is credited to it. Everything lives in data/postgres (cluster) and data/postgres-run (socket).
#
#   postgres.sh initdb
#   postgres.sh run PORT
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
  echo "postgres is not installed (apt-get install postgresql)" >&2
  exit 127
fi
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  fi
  exec "$@"
}
data="$PWD/data/postgres"
run="$PWD/data/postgres-run"
case "${1:-}" in
  initdb)
    mkdir -p "$data" "$run"
    chmod 700 "$data"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$data" "$run"; fi
    if [ -f "$data/PG_VERSION" ]; then
      echo "cluster already initialized in $data"
      exit 0
    fi
    as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync \
      --no-instructions --encoding=UTF8 --locale=C
    ;;
  run)
    port=${2:?usage: postgres.sh run PORT}
    as_postgres "$bin/postgres" -D "$data" -k "$run" -h 127.0.0.1 -p "$port" \
      -c shared_buffers=16MB -c fsync=off
    ;;
  *)
    echo "usage: postgres.sh initdb | run PORT" >&2
    exit 2
    ;;
esac
