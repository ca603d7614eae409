#!/usr/bin/env python
"""Splunk entry point of the ``esaauth`` search command (chunked protocol v2; default/commands.conf).

A shim: the command lives in ``esa_auth.splunk.search``, shipped with splunklib in ``bin/lib``.
"""

from __future__ import annotations

import os
import sys

_BIN = os.path.dirname(os.path.abspath(__file__))
# bin/ itself must not shadow the packages in bin/lib (python puts the script's directory first).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _BIN]
sys.path.insert(0, os.path.join(_BIN, "lib"))

from esa_auth.splunk.search import EsaAuthCommand  # noqa: E402
from splunklib.searchcommands import dispatch  # noqa: E402

if __name__ == "__main__":
    dispatch(EsaAuthCommand, sys.argv, sys.stdin, sys.stdout, None)
