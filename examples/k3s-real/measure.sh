#!/bin/sh
# Measures the k3s-real stack started three ways, RUNS times each (default 5), and prints
# medians. Each run starts from an empty data/ folder (cold: initdb runs every time), or with
# WARM=1 from the data/ a first run left (initdb finds its cluster and returns at once;
# etcd, postgres and containerd reopen their data):
#
#   herald       `herald up --detach` until it returns (every component ready or completed)
#   one-by-one   ./one-by-one.sh: each daemon started in turn, polled every 100 ms until ready
#   critical     the longest dependency chain of the components' own start times (spawn to
#                ready, as herald measured them in the same run): no order of starts beats it
#
# and the readiness probes herald spent per component (from `status --json`).
#
#   examples/k3s-real/measure.sh
#   WARM=1 RUNS=9 HERALD=target/release/herald examples/k3s-real/measure.sh
#
# Needs root, the daemons (run.sh installs them), curl and python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-5}
WARM=${WARM:-}
if [ -z "${HERALD:-}" ]; then
  (cd "$repo" && cargo build -q -p herald-cli)
  HERALD="$repo/target/debug/herald"
fi
cd "$here"
out=$(mktemp -d)
cleanup() {
  "$HERALD" down >/dev/null 2>&1 || true
  rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

fresh() {
  if [ -z "$WARM" ]; then rm -rf data; fi
}

"$HERALD" graph --format json >"$out/graph.json"
rm -rf data
if [ -n "$WARM" ]; then
  "$HERALD" up --detach >/dev/null 2>&1
  "$HERALD" down >/dev/null 2>&1
fi
i=1
while [ "$i" -le "$RUNS" ]; do
  fresh
  t0=$(now_ms)
  "$HERALD" up --detach >/dev/null 2>&1
  t1=$(now_ms)
  "$HERALD" status --json >"$out/status-$i.json"
  "$HERALD" down >/dev/null 2>&1
  echo "$((t1 - t0))" >"$out/herald-$i"

  fresh
  ./one-by-one.sh >"$out/one-by-one-$i.txt"
  echo "run $i: herald $((t1 - t0)) ms, one-by-one $(awk '/all ready/ {print $3}' "$out/one-by-one-$i.txt") ms" >&2
  i=$((i + 1))
done
rm -rf data

python3 - "$out" "$RUNS" "${WARM:+warm}" <<'EOF'
import json, statistics, sys
out, runs, warm = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "warm"
graph = json.load(open(f"{out}/graph.json"))
deps = {}
for edge in graph["edges"]:
    if edge["kind"] in ("requires", "binds_to", "wants"):
        deps.setdefault(edge["from"], []).append(edge["to"])

def millis(row, *keys):
    for key in keys:
        value = row.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0

herald, sequential, critical, chains = [], [], [], []
probes = {}

def longest(own):
    memo = {}
    def chain(n):
        if n not in memo:
            best = max((chain(d) for d in deps.get(n, [])), key=lambda c: c[0], default=(0.0, []))
            memo[n] = (best[0] + own.get(n, 0.0), best[1] + [n])
        return memo[n]
    return max((chain(n) for n in own), key=lambda c: c[0])

for i in range(1, runs + 1):
    herald.append(float(open(f"{out}/herald-{i}").read()))
    for line in open(f"{out}/one-by-one-{i}.txt"):
        if line.startswith("all ready"):
            sequential.append(float(line.split()[2]))
    status = {row["name"]: row for row in json.load(open(f"{out}/status-{i}.json"))}
    total, names = longest({n: millis(r, "time_to_ready_ms") for n, r in status.items()})
    critical.append(total)
    chains.append(" -> ".join(names))
    for n, r in status.items():
        probes.setdefault(n, []).append(int(millis(r, "probes")))

med = statistics.median
print(f"medians of {runs} runs, " + ("warm: data/ kept from a first run" if warm else "cold: empty data/ each time"))
print(f"  herald up --detach          {med(herald):6.0f} ms")
print(f"  one-by-one.sh               {med(sequential):6.0f} ms   {med(sequential) / med(herald):.2f} x herald")
print(f"  critical path               {med(critical):6.0f} ms   herald = {med(herald) / med(critical):.2f} x this")
print(f"  longest chain: {max(set(chains), key=chains.count)}")
print("readiness probes herald spent per component (median of the runs)")
for n in status:
    print(f"  {n:20} {med(probes[n]):3.0f}")
EOF
