# The build is declared in pyproject.toml; this file only wires cffi's
# builder in, and tags the wheel abi3 (the module uses the limited API).
from setuptools import setup

setup(
    cffi_modules=[
        "src/shmring/_ffi_build.py:ffibuilder",
        "src/shmring/_ffi_build.py:fastpath_builder",
    ],
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
