#!/usr/bin/env bash
# Type checks, from the repository root or anywhere:
#   1. the public API as a user's `mypy --strict` sees it: shmring is built and
#      installed into a fresh venv outside the tree (so py.typed must ship in
#      the wheel), and tests/typing/public_api.py is checked against it, for
#      the oldest supported Python (3.10) and the running one;
#   2. `mypy` on src/shmring with the settings in pyproject.toml ([tool.mypy]),
#      once for Linux and once as on Windows (--platform win32).
# Exits non-zero on any error. PYTHON picks the interpreter (default python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
start=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/shmring-types.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== check_types: a venv with mypy and shmring (built from $root)"
"$python" -m venv "$work/venv"
py=$work/venv/bin/python
pip=("$py" -m pip install -q --disable-pip-version-check)
# typing_extensions: assert_type on 3.10, in this venv only (shmring does not need it).
"${pip[@]}" "mypy>=1.11" "typing_extensions>=4.6"
"${pip[@]}" "$root"
installed=$("$py" -c 'import shmring, os; print(os.path.dirname(shmring.__file__))')
case $installed in
    "$work"/*) ;;
    *) echo "check_types: shmring was imported from $installed, not from the venv" >&2; exit 1 ;;
esac
test -f "$installed/py.typed" || { echo "check_types: the installed package has no py.typed" >&2; exit 1; }

echo "== check_types: mypy --strict on tests/typing/public_api.py, against the installed package"
cp "$root/tests/typing/public_api.py" "$work/public_api.py"
cd "$work"  # no pyproject.toml here: mypy's defaults plus --strict, as in a user's project
for version in 3.10 ""; do
    "$py" -m mypy --strict --no-incremental ${version:+--python-version "$version"} public_api.py
done

echo "== check_types: mypy on src/shmring (pyproject.toml [tool.mypy])"
cd "$root"
"$py" -m mypy --no-incremental
# The Windows-only modules as Windows sees them (on Linux mypy skips what
# follows their `assert sys.platform == "win32"`, and the win32 branches).
"$py" -m mypy --no-incremental --platform win32

echo "== check_types: passed in $((SECONDS - start)) s"
