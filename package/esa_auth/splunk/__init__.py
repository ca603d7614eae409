"""The Splunk side of the library: code that imports ``splunklib``.

Everything else in :mod:`esa_auth` runs without Splunk; the scripts in the
app's ``bin/`` are thin shims over the modules here.
"""

from __future__ import annotations
