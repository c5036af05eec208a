#!/usr/bin/env bash
# check_macos.sh - type-check the C core for macOS from any host: compile
# every csrc/*.c, and src/shmring/_fastpath.h, with zig's clang against
# zig's Darwin headers, for x86_64 and aarch64. Nothing is linked or run.
#
#   bash tools/check_macos.sh       (from the repository root)
#
# zig comes from the ziglang wheel, installed into ${VENV:-.venv} if that
# venv lacks it. Prints one line per target; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
py="$venv/bin/python"
if [ ! -x "$py" ]; then
    echo "check_macos: no python at $py (set VENV to a virtual environment)" >&2
    exit 2
fi
if ! "$py" -c "import ziglang" 2>/dev/null; then
    "$venv/bin/pip" install -q ziglang || { echo "check_macos: cannot install ziglang" >&2; exit 2; }
fi

# zig cc caches per target under $ZIG_GLOBAL_CACHE_DIR (default ~/.cache/zig).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# _fastpath.h and _blocking.h are C bodies of the cffi modules, whose
# generated code calls their static functions; alone, they are unused, so
# that warning is off for them.
printf '#include "_fastpath.h"\n#include "_blocking.h"\n' > "$tmp/fastpath.c"

# -fsyntax-only is broken in zig cc: compile to /dev/null instead.
flags=(-std=c11 -O2 -Wall -Wextra -Werror -Icsrc -Isrc/shmring)
status=0
for target in x86_64-macos aarch64-macos; do
    failed=()
    n=0
    for f in csrc/*.c "$tmp/fastpath.c"; do
        extra=()
        [ "$f" = "$tmp/fastpath.c" ] && extra=(-Wno-unused-function)
        n=$((n + 1))
        if ! "$py" -m ziglang cc -target "$target" "${flags[@]}" "${extra[@]}" \
                -c "$f" -o /dev/null 2>"$tmp/err"; then
            failed+=("$f")
            sed "s|^|    |" "$tmp/err" >&2
        fi
    done
    if [ ${#failed[@]} -eq 0 ]; then
        echo "$target: ok ($n files)"
    else
        echo "$target: FAILED ${failed[*]/#$tmp\/fastpath.c/src/shmring/_fastpath.h + _blocking.h}"
        status=1
    fi
done
exit $status
