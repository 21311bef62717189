#!/usr/bin/env bash
# Runs the whole test suite with meson and ends with one plain line "N passed, N failed".
# Check suites count their test cases; any other test counts as one.
set -u
build=${1:-build}
meson test -C "$build" --print-errorlogs --num-processes 2 "${@:2}"
rc=$?
# meson names the log testlog-<wrapper>.json when run with --wrapper: set EMSYNC_TESTLOG=testlog-<wrapper> then.
/usr/bin/python3 - "$build/meson-logs/${EMSYNC_TESTLOG:-testlog}.json" <<'PY'
import json, re, sys
passed = failed = 0
check_line = re.compile(r"(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")
try:
    lines = [l for l in open(sys.argv[1]) if l.strip()]
except OSError:
    print("0 passed, 1 failed")
    sys.exit(0)
for line in lines:
    r = json.loads(line)
    ok = r["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
    m = check_line.findall(r.get("stdout", "") or "")
    if m:
        for _, checks, failures, errors in m:
            passed += int(checks) - int(failures) - int(errors)
            failed += int(failures) + int(errors)
        if not ok and all(int(f) + int(e) == 0 for _, _, f, e in m):
            failed += 1   # crashed or timed out after its last report
    elif r["result"] == "SKIP":
        continue
    elif ok:
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed")
PY
exit $rc
