"""Splunk modular input ``esa_auth://<name>``: Cisco ESA logs in, authentication events out.

A shim: the work is done by ``esa_auth.splunk.modinput`` in ``lib/`` (the
library and splunklib, shipped inside the app).
"""

from __future__ import annotations

import os
import sys

_BIN = os.path.dirname(os.path.abspath(__file__))
# splunkd runs bin/<scheme>.py, so this file has the package's name, and Python
# puts its directory first on sys.path: there ``import esa_auth`` would find
# this file. Drop the directory and put lib/ first, as ksconf's _bootstrap.py does.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _BIN]
sys.path.insert(0, os.path.join(_BIN, "lib"))

from esa_auth.splunk.modinput import EsaAuthInput  # noqa: E402

if __name__ == "__main__":
    sys.exit(EsaAuthInput().run(sys.argv))
