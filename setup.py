"""Build of the optional compiled reading loop (``esa_auth._speedups``).

Everything else is declared in pyproject.toml. The extension is optional: where
no C compiler is found the package installs without it and reads in pure
Python (as the Splunk app always does), with the same results.
"""

from __future__ import annotations

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("esa_auth._speedups", ["package/esa_auth/_speedups.c"], optional=True),
    ]
)
