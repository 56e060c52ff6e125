#!/bin/sh
# Starts the k3s-real stack the way a hand-written start script does: one daemon at a time, in
# dependency order, each waited for with a poll loop (a check every 100 ms, as K3s's own waits
# and most scripts do) before the next one starts. Same commands, ports and data/ folder as
# herald.toml. Prints how long each step took and the total, then stops everything.
#
#   ./one-by-one.sh            run once
#   POLL=0.05 ./one-by-one.sh  poll every 50 ms instead
#
# Needs curl besides the daemons. Run it with the herald stack down (same ports, same data/).
set -eu
cd "$(dirname "$0")"
POLL=${POLL:-0.1}
LIMIT=${LIMIT:-600} # polls before giving up on one daemon

pids=""
cleanup() {
  # Stop in reverse order; each daemon runs in its own session (setsid), signalled as a group.
  for entry in $pids; do
    pid=${entry%%:*}
    sig=${entry#*:}
    kill "-$sig" "-$pid" 2>/dev/null || true
  done
  for entry in $pids; do
    pid=${entry%%:*}
    n=0
    while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do
      sleep 0.1
      n=$((n + 1))
    done
    kill -KILL "-$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start NAME STOPSIGNAL COMMAND...: runs a daemon in the background in its own session.
start() {
  name=$1
  sig=$2
  shift 2
  mkdir -p data/one-by-one
  setsid "$@" >"data/one-by-one/$name.log" 2>&1 </dev/null &
  pids="$!:$sig $pids"
}

# wait_for NAME COMMAND...: polls until COMMAND succeeds.
wait_for() {
  name=$1
  shift
  n=0
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    if [ $n -ge "$LIMIT" ]; then
      echo "$name: not ready after $n polls" >&2
      exit 1
    fi
    sleep "$POLL"
  done
}

t0=$(now_ms)
step_start=$t0
step() {
  t=$(now_ms)
  printf '%-20s %6d ms\n' "$1" $((t - step_start))
  step_start=$t
}

sh ./containerd-config.sh
step containerd-config
start containerd TERM sh ./containerd.sh
wait_for containerd ctr --address data/containerd/containerd.sock version
step containerd

start etcd TERM etcd --name k3s-real --data-dir data/etcd \
  --logger zap --log-outputs stderr \
  --listen-client-urls http://127.0.0.1:12379 \
  --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 \
  --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster k3s-real=http://127.0.0.1:12380
wait_for etcd curl -sf http://127.0.0.1:12379/health
step etcd

sh ./postgres.sh initdb >data/one-by-one/initdb.log 2>&1
step initdb
start apiserver INT sh ./postgres.sh run 15432
wait_for apiserver pg_isready -q -h 127.0.0.1 -p 15432
step apiserver

mkdir -p data/redis
start controller-manager TERM redis-server --daemonize no --bind 127.0.0.1 --port 16379 \
  --unixsocket "$PWD/data/redis/redis.sock" --unixsocketperm 700 --dir "$PWD/data/redis" \
  --save '' --appendonly no
wait_for controller-manager redis-cli -p 16379 ping
step controller-manager

sh ./ingress-config.sh 18080
step ingress-config
start ingress TERM nginx -e stderr -p data/nginx -c nginx.conf -g 'daemon off;'
wait_for ingress curl -sf http://127.0.0.1:18080/healthz
step ingress

printf '%-20s %6d ms\n' "all ready" $(($(now_ms) - t0))
