"""The version of shmring: the one place it is written.

setuptools reads it statically (pyproject.toml: dynamic = ["version"]), so
building never imports the package or its compiled modules.
"""

__version__ = "0.1.0"
