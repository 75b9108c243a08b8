#!/usr/bin/env bash
# Install every dependency at its DECLARED LOWER BOUND in a fresh venv and run the fast tests, so the
# ranges in pyproject.toml are ranges that were tested, not hopes.
#
#   scripts/check_lower_bounds.sh            # venv in /tmp/polyedit-lower-bounds (recreated)
#   VENV=/tmp/x PYTHON=python3.10 scripts/check_lower_bounds.sh -k ike   # extra args go to pytest
#
# torch is installed first as torch==2.13.0 (the CPU wheel this project's machines provide); for every
# other requirement of [project.dependencies] and the `test` extra, `NAME>=X[,<Y]` becomes `NAME==X`.
# The fast tests are the suite less those marked `slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-/tmp/polyedit-lower-bounds}

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q torch==2.13.0

# the lower bounds, read from pyproject.toml by the new venv's own Python (tomllib: Python >= 3.11)
mapfile -t PINS < <("$VENV/bin/python" - <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for req in project["dependencies"] + project.get("optional-dependencies", {}).get("test", []):
    m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req.split(";")[0])
    name, spec = m[1], m[2]
    if name.split("[")[0].lower() == "torch":
        continue  # installed above
    low = re.search(r"(?:>=|==)\s*([^,\s]+)", spec)
    if not low:
        sys.exit(f"{req!r} declares no lower bound: every dependency must have one")
    print(f"{name}=={low[1]}")
PY
)
echo "lower bounds: ${PINS[*]}"
"$VENV/bin/python" -m pip install -q "${PINS[@]}"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE "^($(printf '%s|' "${PINS[@]%%==*}")torch) " || true
"$VENV/bin/python" -m pytest -q -x -m "not slow" -p no:cacheprovider "$@"
