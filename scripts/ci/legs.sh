# Sourced by .ci/run. `leg NAME COMMAND...` runs one leg, announcing it and then printing its
# time and result; a failed leg does not stop the others. `legs_summary` prints every leg's line,
# the tests counted over every leg (from vitest's closing "Tests" line), and exits non-zero if
# any leg failed.
LEG_LINES=()
LEG_FAILED=0
TESTS_PASSED=0
TESTS_FAILED=0

leg() {
  local name=$1
  shift
  local started=$SECONDS status=0 output
  output=$(mktemp)
  printf '\n=== leg: %s\n' "$name"
  # In an || list, set -e does not stop the group: the leg's own exit status is kept.
  { "$@" 2>&1 | tee "$output"; status=${PIPESTATUS[0]}; } || true
  # vitest closes with e.g. "Tests  2 failed | 366 passed (368)"; its colours are stripped first.
  local tests
  tests=$(sed 's/\x1b\[[0-9;]*m//g' "$output" | grep -E '^ +Tests +' | tail -n 1 || true)
  rm -f "$output"
  local passed failed
  passed=$(grep -oE '[0-9]+ passed' <<<"$tests" | grep -oE '[0-9]+' || true)
  failed=$(grep -oE '[0-9]+ failed' <<<"$tests" | grep -oE '[0-9]+' || true)
  TESTS_PASSED=$((TESTS_PASSED + ${passed:-0}))
  TESTS_FAILED=$((TESTS_FAILED + ${failed:-0}))
  local took=$((SECONDS - started)) result=ok
  [ "$status" -eq 0 ] || { result="FAILED (exit $status)"; LEG_FAILED=1; }
  LEG_LINES+=("$(printf '%-50s %3d min %02d s  %s' "$name" $((took / 60)) $((took % 60)) "$result")")
  printf '=== %s\n' "${LEG_LINES[-1]}"
}

legs_summary() {
  printf '\n=== legs\n'
  printf '%s\n' "${LEG_LINES[@]}"
  printf '\ntests: %d passed, %d failed\n' "$TESTS_PASSED" "$TESTS_FAILED"
  exit "$LEG_FAILED"
}
