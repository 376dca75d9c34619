#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds dist/bunker, then runs the test files in
# parallel (each file starts its own daemons and registries) and prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"

JOBS="${BUNKER_TEST_JOBS:-4}"
OUT=test/.results
rm -rf "$OUT" && mkdir -p "$OUT"
mapfile -t FILES < <(ls test/*.test.ts; find src drivers -name '*.test.ts' | sort)
[ "$#" -gt 0 ] && FILES=("$@")

# A file that hangs (a wait with no deadline, a process that never ends) must not hang the whole run: it is
# ended after FILE_TIMEOUT seconds and counted as failed. The slowest file takes about a minute here.
FILE_TIMEOUT="${BUNKER_TEST_FILE_TIMEOUT:-1800}"
run_one() {
  local f="$1" log="$OUT/$(echo "$1" | tr '/' '_').log"
  local start=$SECONDS
  timeout --kill-after=60 "$FILE_TIMEOUT" bun test --timeout 300000 "$f" >"$log" 2>&1
  local code=$?
  [ "$code" = 124 ] && echo "error: ended after ${FILE_TIMEOUT} s (BUNKER_TEST_FILE_TIMEOUT)" >>"$log"
  echo "exit=$code seconds=$((SECONDS - start))" >>"$log"
}
export -f run_one
export OUT FILE_TIMEOUT
printf '%s\n' "${FILES[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {}

passed=0 failed=0
for f in "${FILES[@]}"; do
  log="$OUT/$(echo "$f" | tr '/' '_').log"
  p=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | awk '{print $1}')
  x=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | awk '{print $1}')
  code=$(grep -E '^exit=' "$log" | tail -1 | sed 's/exit=\([0-9]*\).*/\1/')
  secs=$(grep -E '^exit=' "$log" | tail -1 | sed 's/.*seconds=//')
  p=${p:-0} x=${x:-0}
  # A file that crashed before reporting counts as one failure.
  if [ "${code:-1}" != 0 ] && [ "$x" = 0 ]; then x=1; fi
  passed=$((passed + p)) failed=$((failed + x))
  printf '%-40s %4s passed %3s failed  %4ss\n' "$f" "$p" "$x" "$secs"
  if [ "$x" != 0 ]; then
    echo "----- failures in $f -----"
    grep -E '^\(fail\)|error:|Error:|Expected|Received' "$log" | head -60
    echo "----- (full log: $log) -----"
  fi
done
# Container cgroups live under a shared "bunker" parent per hierarchy; drop the parents the tests left empty.
for parent in /sys/fs/cgroup/*/bunker /sys/fs/cgroup/bunker; do [ -d "$parent" ] && rmdir "$parent" 2>/dev/null; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
