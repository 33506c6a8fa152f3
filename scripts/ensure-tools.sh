#!/usr/bin/env bash
# Installs the binaries the pipeline needs, idempotently, into the git-ignored
# .cache/ folder (and Debian packages through apt):
#
#   .cache/bin/builder                     OpenTelemetry Collector Builder, version = dist.version
#                                          of collector/builder-config.yaml
#   .cache/otelcol/otelcol-agentmetry      the collector built from that manifest; rebuilt
#                                          only when the manifest (or builder version) changes
#   .cache/bin/helm                        Helm, built from the Go module proxy at HELM_VERSION
#                                          below (for the Kubernetes chart under deploy/)
#   prometheus, promtool                   Debian's prometheus package, if missing
#   redis-server                           Debian's redis-server package, if missing
#                                          (for the Redis quota store suite)
#
# Needs Go (for the builder and the collector build) and apt-get (as root or via
# sudo) when a package is missing. Safe to run concurrently: runs hold a lock.
# Prints `KEY=value` lines (OTELCOL_BIN, HELM_BIN, PROMETHEUS_BIN, PROMTOOL_BIN,
# REDIS_SERVER_BIN, REDIS_CLI_BIN) on stdout for callers; progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
MANIFEST="$ROOT/collector/builder-config.yaml"
mkdir -p "$CACHE/bin"

log() { printf '[ensure-tools] %s\n' "$*" >&2; }

# One run at a time (test projects may call this in parallel).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/ensure-tools.lock"
  flock 9
fi

# --- Go toolchain ----------------------------------------------------------
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
export GOTOOLCHAIN=local   # never try to download another toolchain
export GOFLAGS="-mod=mod -buildvcs=false"   # no VCS stamping: the build dir sits inside this repo

# --- OpenTelemetry Collector -----------------------------------------------
BUILDER_VERSION="$(sed -n 's/^  version: *\([0-9][0-9.]*\) *$/\1/p' "$MANIFEST" | head -n1)"
if [ -z "$BUILDER_VERSION" ]; then
  log "cannot read dist.version from $MANIFEST"; exit 1
fi
DIST_NAME="$(sed -n 's/^  name: *\([A-Za-z0-9_.-]*\) *$/\1/p' "$MANIFEST" | head -n1)"
OUTPUT_DIR="$CACHE/otelcol"
OTELCOL_BIN="$OUTPUT_DIR/$DIST_NAME"
BUILDER="$CACHE/bin/builder"
BUILDER_STAMP="$CACHE/bin/builder.version"

if [ ! -x "$BUILDER" ] || [ "$(cat "$BUILDER_STAMP" 2>/dev/null)" != "$BUILDER_VERSION" ]; then
  command -v go >/dev/null 2>&1 || { log "Go is required to build the collector"; exit 1; }
  log "installing go.opentelemetry.io/collector/cmd/builder@v$BUILDER_VERSION"
  GOBIN="$CACHE/bin" CGO_ENABLED=0 go install -trimpath \
    "go.opentelemetry.io/collector/cmd/builder@v$BUILDER_VERSION" >&2
  echo "$BUILDER_VERSION" >"$BUILDER_STAMP"
fi

WANT_HASH="$( (cat "$MANIFEST"; echo "builder=$BUILDER_VERSION") | sha256sum | cut -d' ' -f1)"
STAMP="$OUTPUT_DIR/.manifest.sha256"
if [ ! -x "$OTELCOL_BIN" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT_HASH" ]; then
  log "building the collector from collector/builder-config.yaml (first run: several minutes)"
  started=$(date +%s)
  rm -rf "$OUTPUT_DIR"
  # The manifest's output_path is relative to the working directory.
  (cd "$ROOT" && "$BUILDER" --config "$MANIFEST") >"$CACHE/otelcol-build.log" 2>&1 || {
    tail -n 40 "$CACHE/otelcol-build.log" >&2
    log "collector build failed (full log: .cache/otelcol-build.log)"; exit 1
  }
  echo "$WANT_HASH" >"$STAMP"
  log "collector built in $(( $(date +%s) - started ))s"
fi

# --- Helm ---------------------------------------------------------------------
# `helm lint` and `helm template` check deploy/helm/agentmetry without a cluster.
HELM_VERSION="v3.22.0"
HELM_BIN="$CACHE/bin/helm"
HELM_STAMP="$CACHE/bin/helm.version"
if [ ! -x "$HELM_BIN" ] || [ "$(cat "$HELM_STAMP" 2>/dev/null)" != "$HELM_VERSION" ]; then
  command -v go >/dev/null 2>&1 || { log "Go is required to build helm"; exit 1; }
  log "installing helm.sh/helm/v3/cmd/helm@$HELM_VERSION (first run: a few minutes)"
  started=$(date +%s)
  GOBIN="$CACHE/bin" CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >"$CACHE/helm-build.log" 2>&1 || {
    tail -n 40 "$CACHE/helm-build.log" >&2
    log "helm build failed (full log: .cache/helm-build.log)"; exit 1
  }
  echo "$HELM_VERSION" >"$HELM_STAMP"
  log "helm built in $(( $(date +%s) - started ))s"
fi

# --- Debian packages ---------------------------------------------------------
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  pkgs="$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  log "apt-get install $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $pkgs >&2
fi

echo "OTELCOL_BIN=$OTELCOL_BIN"
echo "HELM_BIN=$HELM_BIN"
echo "PROMETHEUS_BIN=$(command -v prometheus)"
echo "PROMTOOL_BIN=$(command -v promtool)"
echo "REDIS_SERVER_BIN=$(command -v redis-server)"
echo "REDIS_CLI_BIN=$(command -v redis-cli)"
