#!/usr/bin/env bash
# Builds the project's Debian base image locally (no registry is reachable):
# mmdebstrap reads the host's apt sources, docker import turns the rootfs into
# an image. Cached by tag: an existing tag is reused.
set -euo pipefail

tag=${SLIM_BASE_IMAGE:-slim-samples/debian:bookworm}
say() { printf 'ensure-base-image: %s\n' "$*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then exit 0; fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "mmdebstrap is missing. Install it (apt-get install mmdebstrap) or 'docker tag' a Debian bookworm image as $tag."
    exit 1
  fi
  say "installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
fi

say "building $tag with mmdebstrap (minbase bookworm)"
start=$SECONDS
# The image keeps the host's apt sources so that docker build steps reach the same packages.
mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm - \
  | docker import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
say "built $tag in $((SECONDS - start))s"
