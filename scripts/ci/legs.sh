# Sourced by .ci/run. `leg NAME COMMAND...` runs one leg, announcing it and then printing its
# time and result; a failed leg does not stop the others. `legs_summary` prints every leg's line
# and exits non-zero if any failed.
LEG_LINES=()
LEG_FAILED=0

leg() {
  local name=$1
  shift
  local started=$SECONDS status=0
  printf '\n=== leg: %s\n' "$name"
  "$@" || status=$?
  local took=$((SECONDS - started)) result=ok
  [ "$status" -eq 0 ] || { result="FAILED (exit $status)"; LEG_FAILED=1; }
  LEG_LINES+=("$(printf '%-50s %3d min %02d s  %s' "$name" $((took / 60)) $((took % 60)) "$result")")
  printf '=== %s\n' "${LEG_LINES[-1]}"
}

legs_summary() {
  printf '\n=== legs\n'
  printf '%s\n' "${LEG_LINES[@]}"
  exit "$LEG_FAILED"
}
