#!/bin/sh
# Two herald "nodes" on one machine over a 3-member etcd cluster on 127.0.0.1.
#
#   ./run.sh            start it all, show the agent waiting for the server, then both up;
#                       press Enter to stop everything
#   ./run.sh --check    the same, then stop at once (exit 0 if the agent came up)
#
# Needs etcd (Debian: etcd-server) and python3; HERALD names the herald binary (default:
# `herald` in PATH). Uses ports 2379/2380, 22379/22380, 32379/32380 and 16443.
set -eu
cd "$(dirname "$0")"
HERALD=${HERALD:-herald}
ETCD=${ETCD:-etcd}
data=$(mktemp -d)
pids=""

cleanup() {
    "$HERALD" -f agent/herald.toml down >/dev/null 2>&1 || true
    "$HERALD" -f server/herald.toml down >/dev/null 2>&1 || true
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

members="m1=http://127.0.0.1:2380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380"
for m in 1 2 3; do
    case $m in 1) c=2379 p=2380 ;; 2) c=22379 p=22380 ;; 3) c=32379 p=32380 ;; esac
    "$ETCD" --name "m$m" --data-dir "$data/m$m" \
        --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
        --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
        --initial-cluster "$members" --initial-cluster-state new \
        --heartbeat-interval 100 --election-timeout 1000 >"$data/m$m.log" 2>&1 &
    pids="$pids $!"
done
echo "etcd: 3 members on 127.0.0.1:2379, :22379, :32379 (logs in $data)"

# The agent first: it waits for @server-1/apiserver.
"$HERALD" -f agent/herald.toml up --detach &
agent=$!
sleep 1
"$HERALD" -f agent/herald.toml status
echo
echo "starting the server node"
"$HERALD" -f server/herald.toml up --detach
wait "$agent"
echo
"$HERALD" -f agent/herald.toml status
"$HERALD" -f agent/herald.toml wait @server-1/apiserver --timeout 10s
echo "the agent sees @server-1/apiserver ready"

if [ "${1:-}" = "--check" ]; then
    exit 0
fi
echo
echo "try: $HERALD -f server/herald.toml stop apiserver   (kube-proxy stops; start it again)"
echo "press Enter to stop everything"
read -r _
