#!/usr/bin/env bash
# Builds the sample apps (and the base image they stand on) as slim-samples/NAME:latest.
# docker build's layer cache makes a second run fast.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bash "$here/ensure-engine.sh"
bash "$here/ensure-base-image.sh"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(django-site c-hello node-api static-site redis-cache csv-batch ruby-gems c-text shell-cgi php-site magick java-svc data-app)
for name in "${names[@]}"; do
  dir="$root/sample-apps/$name"
  [ -f "$dir/Dockerfile" ] || { echo "build-samples: no sample app '$name' under sample-apps/" >&2; exit 2; }
  start=$SECONDS
  if ! out=$(docker build --quiet --tag "slim-samples/$name:latest" "$dir" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "build-samples: building $name failed" >&2
    exit 1
  fi
  echo "build-samples: slim-samples/$name:latest in $((SECONDS - start))s"
done
