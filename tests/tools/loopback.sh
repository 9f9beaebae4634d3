#!/usr/bin/env bash
# Runs a command inside a private network namespace that has only loopback, so a Ray
# cluster started by the command (which advertises the machine's address and probes
# 8.8.8.8 for a route) can send packets to 127.0.0.0/8 only. Needs root (or a user
# namespace): `unshare --net` then `ip link set lo up`.
#   tests/tools/loopback.sh pytest tests/python/test_ray.py
set -euo pipefail
if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARG]..." >&2
    exit 2
fi
if [[ $(id -u) -eq 0 ]]; then
    exec unshare --net -- bash -c 'ip link set lo up && exec "$@"' loopback "$@"
fi
exec unshare --map-root-user --net -- bash -c 'ip link set lo up && exec "$@"' loopback "$@"
