#!/usr/bin/env bash
# CI leg: the in-process tests (vitest project `in-process`: unit, SDK integration, adapter,
# setup and package tests) on Node 20 with the OpenTelemetry JS 2.x line, the line apps on
# Node 20 install (3.x needs Node 22.15). The build before them compiles src/ against the 2.x
# type declarations. Typecheck and lint run in the 3.x legs (npm test), not here.
#
# The adapter and CLI tests run too: ai 7 and openai 7 (under @openai/agents) declare Node >= 22
# but work on 20 today. Should they stop, exclude test/adapters/ and test/cli/ here (an
# unsupported pair, not a bug of ours) rather than working around them.
#
# The checkout stays on 3.x: its files (tracked and new, as in the working tree) are copied to
# .cache/otel2, whose package.json pins the 2.x line instead, and installed there from the
# checkout's lockfile. The install is cached: it is redone only when the rewritten package.json
# or the lockfile changes.
#
# Usage: scripts/ci/otel2.sh [vitest arguments, default: --project in-process]
set -euo pipefail

# The 2.x line's matched releases; the exporters depend on exactly this SDK version. They are
# SDK_LINES' 2.x entry in src/setup/sdk.ts, which test/setup/sdk.test.ts checks on this leg.
API_VERSION=1.9.1
SDK_VERSION=2.12.0
EXPORTER_VERSION=0.223.0

root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/.cache/otel2"
source "$root/scripts/ci/node.sh"
use_node 20 20.19.0 # vite, under vitest, needs 20.19

# The working tree's files into the copy; its node_modules (and install stamp) survive, and
# everything else is replaced so that deleted files go too.
mkdir -p "$work"
find "$work" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
(cd "$root" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [ -e "$file" ] && printf '%s\0' "$file"
done | tar --null -T - -cf -) | tar -xf - -C "$work"

node - "$work/package.json" "$API_VERSION" "$SDK_VERSION" "$EXPORTER_VERSION" <<'EOF'
const fs = require('node:fs');
const [file, api, sdk, exporter] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
for (const name of Object.keys(manifest.devDependencies)) {
  if (!name.startsWith('@opentelemetry/')) continue;
  const version = name === '@opentelemetry/api' ? api : name.startsWith('@opentelemetry/exporter-') ? exporter : sdk;
  manifest.devDependencies[name] = version;
}
fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
EOF

stamp=$(cat "$work/package.json" "$work/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$work/node_modules/.otel2-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "otel2: installing the 2.x line"
  (cd "$work" && npm install --no-audit --no-fund --ignore-scripts)
  echo "$stamp" >"$work/node_modules/.otel2-stamp"
fi
(cd "$work" && npm ls --depth=0 2>/dev/null | grep @opentelemetry/) || true

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--project in-process)
cd "$work"
# Tests run the built package too (the CLI, agentmetry/register, the main entry in a new process).
npm run --silent build
node node_modules/vitest/vitest.mjs run "${args[@]}"
