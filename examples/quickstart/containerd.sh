#!/bin/sh
# Stand-in for containerd: boots, says so on stdout, then runs until stopped.
trap 'echo "containerd: stopping"; exit 0' TERM INT
echo "containerd: loading plugins"
sleep 0.2
echo "containerd successfully booted"
while :; do sleep 1; done
