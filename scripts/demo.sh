#!/usr/bin/env bash
# npm run demo: slim the Django sample with the one obvious probe, then prove
# the slim image with the sample's full functional check (pages never probed,
# custom 404/500, error logging, time zones).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build-samples.sh" django-site
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo
echo "== slim build slim-samples/django-site:latest --http-probe /"
node "$root/dist/cli.js" build slim-samples/django-site:latest --http-probe /
echo
echo "== the sample's own functional check, against the slim image"
node "$root/sample-apps/check.mjs" django-site slim-samples/django-site.slim:latest
