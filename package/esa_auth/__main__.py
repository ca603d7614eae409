"""``python -m esa_auth``: the command line tool."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
