"""``python -m esa_auth.cli``: the command line tool."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
