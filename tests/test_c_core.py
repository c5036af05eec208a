"""The C core on its own: a warnings-clean build of every file, and the
stress programs (tests/c/spsc_stress.c, tests/c/mpmc_stress.c) under
ThreadSanitizer, AddressSanitizer + UndefinedBehaviorSanitizer (gcc and
clang), and a plain optimised build. A sanitizer whose runtime is missing is
skipped, or fails the run with SHMRING_REQUIRE_TSAN=1 (as in CI)."""

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

import shmring
from tests import helpers as h

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
STRESS = ROOT / "tests" / "c" / "spsc_stress.c"
SHARED_MAPPING = ROOT / "tests" / "c" / "shared_mapping.c"

if not (CSRC / "shmring.h").is_file():
    # The suite run against an installed wheel (cibuildwheel's test step,
    # tools/check_wheels.sh) has tests/ without the C sources beside it.
    pytest.skip(
        f"no C sources at {CSRC}: these tests compile csrc/ and tests/c/, so they run from a "
        "source tree (a git checkout or the sdist), not against an installed wheel",
        allow_module_level=True,
    )
CORE_SOURCES = sorted(CSRC.glob("*.c"))
WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror"]


def find_compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if name == "clang" and os.environ.get("SHMRING_REQUIRE_TSAN") == "1":
            pytest.fail("clang is not installed, and SHMRING_REQUIRE_TSAN=1 requires the ThreadSanitizer run")
        pytest.skip(f"{name} is not installed; the C core checks that need it are skipped")
    return path


_sanitizer_builds: dict[tuple[str, ...], str] = {}  # (compiler, flags...) -> "" or why it failed


def require_sanitizer(cc: str, flags: list[str], tmp: Path) -> None:
    """Skip (fail with SHMRING_REQUIRE_TSAN=1) unless `cc` links a program
    with these -fsanitize flags: without the runtime (libclang-rt-N-dev,
    libasan, libubsan, libtsan) it cannot."""
    sanitize = [f for f in flags if f.startswith("-fsanitize")]
    if not sanitize:
        return
    key = (cc, *sanitize)
    if key not in _sanitizer_builds:
        probe = tmp / "sanitizer_probe.c"
        probe.write_text("int main(void) { return 0; }\n")
        built = subprocess.run([cc, *sanitize, str(probe), "-o", str(tmp / "sanitizer_probe")],
                               check=False, capture_output=True, text=True, timeout=120)
        _sanitizer_builds[key] = "" if built.returncode == 0 else built.stderr.strip()[-300:]
    why = _sanitizer_builds[key]
    if why:
        message = f"{cc} {' '.join(sanitize)} cannot link a program (is its runtime installed?): {why}"
        if os.environ.get("SHMRING_REQUIRE_TSAN") == "1":
            pytest.fail(f"{message}\nSHMRING_REQUIRE_TSAN=1 requires the sanitizer runs")
        pytest.skip(message)


def compile_c(cmd: list[str]) -> None:
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, f"{' '.join(cmd)}\n{built.stderr}"


def compile_program(source: Path, compiler: str, flags: list[str], out: Path, one_mapping: bool = False) -> Path:
    """A stress program and the core. one_mapping: both (or all) handles on one
    mapping, so TSan sees every thread's accesses (tests/c/shared_mapping.c)."""
    cc = find_compiler(compiler)
    require_sanitizer(cc, flags, out.parent)
    extra = [str(SHARED_MAPPING)] if one_mapping else []
    renamed = ["-Dshmring_open=stress_open"] if one_mapping else []
    obj = out.with_suffix(".o")
    compile_c([cc, *WARNINGS, *flags, "-I", str(CSRC), *renamed, "-c", str(source), "-o", str(obj)])
    compile_c([cc, *WARNINGS, *flags, "-I", str(CSRC), *map(str, CORE_SOURCES), *extra, str(obj),
               "-o", str(out), "-lpthread"])
    return out


def run_program(program: Path, args: list, expect: str, timeout: float, env=None):
    """Run a stress program on a fresh name (its first argument) and check it
    said `expect` and unlinked the name."""
    name = h.unique_name()
    cmd = [str(program), name, *map(str, args)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
        if "unexpected memory mapping" in run.stderr:  # TSan and a kernel with high ASLR entropy
            cmd = ["setarch", platform.machine(), "-R", *cmd]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
        assert run.returncode == 0, f"{' '.join(cmd)} exited {run.returncode}\n{run.stdout}\n{run.stderr}"
        assert run.stdout.startswith(expect), run.stdout
        assert not h.segment_exists(name), "every end closed, yet the name was not unlinked"
        return run
    finally:
        shmring.unlink(f"shm://{name}")


def compile_stress(compiler: str, flags: list[str], out: Path) -> Path:
    return compile_program(STRESS, compiler, flags, out)


def compile_stress_on_one_mapping(flags: list[str], out: Path) -> Path:
    return compile_program(STRESS, "clang", flags, out, one_mapping=True)


def run_stress(program: Path, messages: int = 200_000, capacity: int = 1024, env=None):
    return run_program(program, [messages, capacity], f"ok: {messages} messages", 120, env)


@pytest.mark.timeout(300)
def test_stress_under_thread_sanitizer(tmp_path):
    program = compile_stress("clang", ["-O1", "-g", "-fsanitize=thread"], tmp_path / "spsc_stress_tsan")
    run = run_stress(program, env={"TSAN_OPTIONS": "halt_on_error=1"})
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr


@pytest.mark.timeout(300)
def test_stress_under_thread_sanitizer_with_both_threads_on_one_mapping(tmp_path):
    # Only here does TSan see both threads' accesses to the ring's memory.
    program = compile_stress_on_one_mapping(["-O1", "-g", "-fsanitize=thread"], tmp_path / "spsc_stress_tsan_shared")
    run = run_stress(program, env={"TSAN_OPTIONS": "halt_on_error=1"})
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr


# AddressSanitizer + UndefinedBehaviorSanitizer, any UB report fatal; a few seconds a run.
ASAN_UBSAN = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_stress_under_address_and_undefined_behaviour_sanitizers(tmp_path, compiler):
    program = compile_stress(compiler, ASAN_UBSAN, tmp_path / "spsc_stress_asan")
    run = run_stress(program)
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, run.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("capacity", [1024, 1 << 16])
def test_stress_optimised_build(tmp_path, capacity):
    program = compile_stress("gcc", ["-O2"], tmp_path / "spsc_stress")
    run_stress(program, capacity=capacity)


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@pytest.mark.parametrize("source", CORE_SOURCES, ids=lambda p: p.name)
def test_core_source_compiles_without_warnings(tmp_path, compiler, source):
    # -O2: some warnings (maybe-uninitialized, for one) need the optimiser's analysis.
    compile_c([find_compiler(compiler), *WARNINGS, "-O2", "-I", str(CSRC), "-c", str(source), "-o", str(tmp_path / "x.o")])


# ---- MPMC: 4 producer and 4 consumer threads on one ring ---------------------------

MPMC_STRESS = ROOT / "tests" / "c" / "mpmc_stress.c"


def compile_mpmc_stress(compiler: str, flags: list[str], out: Path, one_mapping: bool) -> Path:
    return compile_program(MPMC_STRESS, compiler, flags, out, one_mapping)


def run_mpmc_stress(program: Path, per_producer: int, slots: int, slot_size: int, env=None):
    return run_program(program, [4, 4, per_producer, slots, slot_size], "ok: 4 producers", 240, env)


@pytest.mark.timeout(300)
def test_mpmc_stress_under_thread_sanitizer_on_one_mapping(tmp_path):
    program = compile_mpmc_stress("clang", ["-O1", "-g", "-fsanitize=thread"], tmp_path / "mpmc_tsan", True)
    run = run_mpmc_stress(program, per_producer=20_000, slots=16, slot_size=64, env={"TSAN_OPTIONS": "halt_on_error=1"})
    assert "WARNING: ThreadSanitizer" not in run.stderr, run.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_mpmc_stress_under_address_and_undefined_behaviour_sanitizers(tmp_path, compiler):
    program = compile_mpmc_stress(compiler, ASAN_UBSAN, tmp_path / "mpmc_asan", False)
    run = run_mpmc_stress(program, per_producer=50_000, slots=8, slot_size=40)
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, run.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("slots", [2, 64, 4096])
def test_mpmc_stress_optimised_build(tmp_path, slots):
    program = compile_mpmc_stress("gcc", ["-O2"], tmp_path / "mpmc", False)
    run_mpmc_stress(program, per_producer=250_000, slots=slots, slot_size=256)
