#!/usr/bin/env bash
# Fuzz the C core's segment reader (tests/fuzz/README.md): build the libFuzzer
# target with clang (-fsanitize=fuzzer,address,undefined), check the corpus
# generator still makes what tests/fuzz/corpus/ expects, run every corpus file
# once as a regression input, then fuzz from the corpus for RUNS executions
# (default 1,000,000: about 60 s on one core here), at most MAX_SECONDS
# (SHMRING_FUZZ_MAX_SECONDS, default 240). Exits non-zero on any crash, leak,
# UB report, timeout, failed check, or fewer than RUNS executions.
#
#   bash tools/fuzz.sh [RUNS]
#   bash tools/fuzz.sh --for SECONDS     (as many executions as fit: what .ci/run does)
#
# New inputs go to build/fuzz/work (not the repository), crashes to
# build/fuzz/crashes/. Reproduce one with build/fuzz/fuzz_segment FILE.
# SHMRING_FUZZ_JOBS=N fuzzes with N processes (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-1000000}
max_seconds=${SHMRING_FUZZ_MAX_SECONDS:-240}
if [ "${1:-}" = "--for" ]; then  # bounded by time only: no count to reach on a slow or busy machine
    runs=-1 max_seconds=${2:?--for takes a number of seconds}
fi
jobs=${SHMRING_FUZZ_JOBS:-1}
build=build/fuzz
corpus=tests/fuzz/corpus
cc=${CLANG:-clang}

core=(csrc/ring.c csrc/ends.c csrc/spsc.c csrc/mpmc.c csrc/block.c tests/fuzz/segment_fuzz.c
      tests/fuzz/fuzz_segment.c)
flags=(-std=c11 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer -I csrc
       -fno-sanitize-recover=undefined)

mkdir -p "$build/work" "$build/crashes" "$build/generated"
echo "== fuzz: building with $($cc --version | head -n 1)"
"$cc" "${flags[@]}" -fsanitize=fuzzer,address,undefined "${core[@]}" -o "$build/fuzz_segment"
"$cc" "${flags[@]}" -fsanitize=address,undefined "${core[@]}" tests/fuzz/gen_corpus.c \
    -o "$build/gen_corpus"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The generator runs each file it writes and checks what every op returned.
echo "== fuzz: the corpus generator"
rm -f "$build"/generated/*
"$build/gen_corpus" "$build/generated"
if ! diff -rq -x "regress-*" "$build/generated" "$corpus" >/dev/null; then
    echo "fuzz: tests/fuzz/corpus/ differs from what tests/fuzz/gen_corpus.c makes now; if the" >&2
    echo "change is meant, regenerate it: rm tests/fuzz/corpus/*; $build/gen_corpus tests/fuzz/corpus" >&2
    echo "(keeping any regress-* files), and commit it" >&2
    diff -rq -x "regress-*" "$build/generated" "$corpus" >&2 || true
    exit 1
fi

# -runs=0 with directories: every file is run once (inputs found by the
# fuzzer that crashed once are kept in the corpus as regress-* files).
echo "== fuzz: $(ls "$corpus" | wc -l) corpus files as regression inputs"
"$build/fuzz_segment" -runs=0 -artifact_prefix="$build/crashes/" "$corpus"

if [ "$runs" -lt 0 ]; then
    echo "== fuzz: for ${max_seconds} s, ${jobs} job(s)"
else
    echo "== fuzz: ${runs} executions (at most ${max_seconds} s), ${jobs} job(s)"
fi
fuzz_args=(-runs="$runs" -max_total_time="$max_seconds" -max_len=9000 -timeout=10 -rss_limit_mb=2048
           -print_final_stats=1 -artifact_prefix="$build/crashes/")
if [ "$jobs" -gt 1 ]; then
    fuzz_args+=(-jobs="$jobs" -workers="$jobs")
fi
"$build/fuzz_segment" "${fuzz_args[@]}" "$build/work" "$corpus" 2>&1 | tee "$build/last.log"
done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/last.log" | awk '{s += $1} END {print s + 0}')
if [ "$jobs" -eq 1 ] && [ "$runs" -ge 0 ] && [ "$done_runs" -lt "$runs" ]; then  # -jobs logs to fuzz-N.log instead
    echo "fuzz: only $done_runs of $runs executions in ${max_seconds} s (raise SHMRING_FUZZ_MAX_SECONDS on a slow machine)" >&2
    exit 1
fi
echo "== fuzz: nothing found in $done_runs executions"
