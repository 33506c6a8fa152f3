#!/usr/bin/env bash
# CI step: `npm ci` on Node MAJOR, which also builds dist/ (the prepare script). The 3.x legs
# then test this install on Node 24 and 22.
#
# Usage: scripts/ci/install.sh 24
set -euo pipefail
major=${1:?usage: scripts/ci/install.sh <node major>}
cd "$(dirname "$0")/../.."
source scripts/ci/node.sh
use_node "$major" "$major.0.0"
npm ci --no-audit --no-fund
