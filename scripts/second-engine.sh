#!/usr/bin/env bash
# Runs a second Docker engine beside the first, from the same dockerd binary,
# for tests of several engines and of an engine that dies mid-run:
#   second-engine.sh start DIR   starts it; prints its DOCKER_HOST (unix://DIR/docker.sock)
#   second-engine.sh stop DIR    stops it and removes its bridge (DIR stays; remove it yourself)
# Everything it owns is its own: socket, data root, exec root, pidfile, and a
# bridge on a private subnet that does not clash with docker0. It does not touch
# iptables (the first engine owns those chains); published ports on 127.0.0.1
# work through docker-proxy over the bridge.
set -euo pipefail

action=${1:-}
dir=${2:-}
if [ -z "$action" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# One bridge per DIR: a short name derived from it (interface names have at most 15 characters).
tag=$(printf '%s' "$dir" | sha256sum | cut -c1-6)
bridge="slim2-$tag"
pidfile="$dir/dockerd.pid"
sock="$dir/docker.sock"

say() { printf 'second-engine: %s\n' "$*" >&2; }

# A /24 in 10.213.0.0/16 no interface uses yet.
free_subnet() {
  local used n
  used=$(ip -4 -o addr show | awk '{print $4}')
  for n in $(seq $((16#${tag:0:2})) 255) $(seq 0 255); do
    if ! grep -q "^10\.213\.$n\." <<<"$used"; then echo "10.213.$n"; return; fi
  done
  say "no free /24 in 10.213.0.0/16"
  exit 1
}

stop() {
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pidfile"
  fi
  # Containers dockerd left running (SIGKILL) are stopped with their containerd, under the exec root.
  if [ -f "$dir/exec/containerd/containerd.pid" ]; then
    kill -TERM "$(cat "$dir/exec/containerd/containerd.pid")" 2>/dev/null || true
  fi
  if ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
}

case "$action" in
  start)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "unix://$sock"
      exit 0
    fi
    command -v dockerd >/dev/null || { say "no dockerd binary: run scripts/ensure-engine.sh first"; exit 1; }
    if ! ip link show "$bridge" >/dev/null 2>&1; then
      net=$(free_subnet)
      ip link add "$bridge" type bridge
      ip addr add "$net.1/24" dev "$bridge"
      ip link set "$bridge" up
    fi
    mkdir -p "$dir/data" "$dir/exec"
    nohup dockerd \
      --host "unix://$sock" \
      --data-root "$dir/data" \
      --exec-root "$dir/exec" \
      --pidfile "$pidfile" \
      --bridge "$bridge" \
      --iptables=false --ip-forward=false --ip-masq=false \
      --cgroup-parent "slim2-$tag" \
      --storage-driver overlay2 \
      >>"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 300); do
      if DOCKER_HOST="unix://$sock" timeout 5 docker info >/dev/null 2>&1; then
        echo "unix://$sock"
        exit 0
      fi
      sleep 0.2
    done
    say "dockerd did not answer within 60s; last lines of $dir/dockerd.log:"
    tail -n 20 "$dir/dockerd.log" >&2 || true
    stop
    exit 1
    ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
