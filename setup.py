# The build is declared in pyproject.toml; this file only wires cffi's
# builders in (src/shmring/_ffi_build.py: the modules and their flags), tags
# the wheel abi3 (the modules use the limited API) and keeps the build host's
# library paths out of the modules.
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _without_rpath(command: list) -> list:
    """A link command without the run-time search paths it was given.

    Some CPython builds (pyenv's, for one) put -Wl,-rpath,<their lib dir> in
    LDSHARED, so every extension built with them records that directory as
    its RUNPATH: a path of the build machine, meaningless on any other. The
    modules link only the C library (and librt), which need none.
    """
    kept = []
    skip_next = False
    for arg in command:
        if skip_next:  # the directory of a two-argument "-Wl,-rpath -Wl,<dir>"
            skip_next = False
            continue
        if arg in ("-Wl,-rpath", "-Wl,-R", "-Wl,--rpath"):
            skip_next = True
            continue
        if arg.startswith(("-Wl,-rpath,", "-Wl,-rpath=", "-Wl,-R,", "-Wl,--rpath,", "-Wl,--rpath=")):
            continue
        kept.append(arg)
    return kept


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "unix":
            for attr in ("linker_so", "linker_so_cxx"):
                command = getattr(self.compiler, attr, None)
                if command:
                    setattr(self.compiler, attr, _without_rpath(command))
        super().build_extensions()


setup(
    cffi_modules=[
        "src/shmring/_ffi_build.py:ffibuilder",
        "src/shmring/_ffi_build.py:fastpath_builder",
    ],
    cmdclass={"build_ext": BuildExt},
    # abi3 wherever the interpreter has a GIL. A free-threaded CPython (3.13t,
    # 3.14t) has no stable ABI, so there the wheel is tagged for that version
    # alone, as cffi builds its modules (and setuptools refuses py_limited_api).
    options={} if sysconfig.get_config_var("Py_GIL_DISABLED") else {"bdist_wheel": {"py_limited_api": "cp310"}},
)
