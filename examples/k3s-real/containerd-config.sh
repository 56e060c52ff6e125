#!/bin/sh
# Writes containerd's own configuration into data/containerd: every path it uses (root, state,
# the gRPC, ttrpc and debug sockets) lives in that folder, and the CRI plugin (which needs a CNI
# and privileges this stack does not ask for) is off. containerd needs absolute paths.
set -eu
dir="$PWD/data/containerd"
mkdir -p "$dir"
cat > "$dir/config.toml.new" <<CONF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$dir/containerd.sock"

[ttrpc]
  address = "$dir/containerd.sock.ttrpc"

[debug]
  address = "$dir/debug.sock"

[metrics]
  address = ""
CONF
mv "$dir/config.toml.new" "$dir/config.toml"
