#!/bin/sh
# Stand-in for the kubelet: marks itself ready with a file, then runs until stopped.
mkdir -p .herald
rm -f .herald/kubelet.ready
trap 'rm -f .herald/kubelet.ready; exit 0' TERM INT
sleep 0.1
touch .herald/kubelet.ready
echo "kubelet: node registered"
while :; do sleep 1; done
