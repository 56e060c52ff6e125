#!/bin/sh
# Runs containerd in the foreground with the configuration containerd-config.sh wrote.
#
# containerd 1.6 removes its gRPC socket when it stops but leaves its ttrpc and debug sockets
# behind, so this shell stays as the component's process (containerd runs in its group and
# sends READY=1 itself; herald credits it to the group) and removes them once containerd has
# exited. The trap only makes the shell outlive the stop signal, which reaches containerd too.
dir="$PWD/data/containerd"
trap : TERM INT
containerd --config "$dir/config.toml"
status=$?
rm -f "$dir/containerd.sock.ttrpc" "$dir/debug.sock"
exit "$status"
