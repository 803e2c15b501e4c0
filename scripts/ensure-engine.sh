#!/usr/bin/env bash
# Makes sure a Docker engine answers. On a root Debian/Ubuntu machine with no
# engine it installs Debian's docker.io and starts dockerd in the background.
# Honours DOCKER_HOST: a remote engine is only checked, never started.
set -euo pipefail

timeout_s=${SLIM_ENGINE_TIMEOUT:-90}
log=${SLIM_DOCKERD_LOG:-/var/log/slim-dockerd.log}

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

say() { printf 'ensure-engine: %s\n' "$*" >&2; }

if engine_up; then exit 0; fi

if [ -n "${DOCKER_HOST:-}" ] && [[ "$DOCKER_HOST" != unix://* ]]; then
  say "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'. Start that engine, or unset DOCKER_HOST to use a local one."
  exit 1
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "no Docker engine answers and this machine is not a root Debian/Ubuntu one, so slim cannot start one."
  say "Start Docker yourself (e.g. 'sudo systemctl start docker', or Docker Desktop), or point DOCKER_HOST at an engine, then run again."
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  say "starting dockerd (log: $log)"
  mkdir -p "$(dirname "$log")"
  nohup dockerd >>"$log" 2>&1 </dev/null &
fi

deadline=$((SECONDS + timeout_s))
until engine_up; do
  if [ $SECONDS -ge $deadline ]; then
    say "dockerd did not answer within ${timeout_s}s. Last lines of $log:"
    tail -n 20 "$log" >&2 || true
    exit 1
  fi
  sleep 1
done
say "engine is up: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
