#!/bin/sh
# Stand-in for containerd: boots, says so on stdout, then runs until stopped.
echo "containerd: loading plugins"
sleep 0.2
echo "containerd successfully booted"
trap 'echo "containerd: stopping"; exit 0' TERM INT
while :; do sleep 1; done
