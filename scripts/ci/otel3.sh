#!/usr/bin/env bash
# CI leg: the whole suite, `npm test` (typecheck, lint, then every vitest project, e2e
# included), on Node MAJOR with the OpenTelemetry JS 3.x line, which is what package.json's
# devDependencies install (`npm ci` first). 3.x needs Node 22.15 or newer.
#
# Usage: scripts/ci/otel3.sh 24|22
set -euo pipefail
major=${1:?usage: scripts/ci/otel3.sh <node major>}
cd "$(dirname "$0")/../.."
source scripts/ci/node.sh
case $major in
  22) use_node 22 22.15.0 ;;
  *) use_node "$major" "$major.0.0" ;;
esac
npm test
