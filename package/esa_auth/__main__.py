"""``python -m esa_auth``: the command line tool (:mod:`esa_auth.cli`; the Splunk app ships neither)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
