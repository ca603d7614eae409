"""Sigma detection rules over normalized events: the engine behind ``esa-auth detect``.

- :mod:`.compiler`: a rule set read and compiled (pySigma's SQLite backend for
  the detections; the correlations' windows, groups and conditions from the rules);
- :mod:`.store`: the events of a run, in SQLite on a temporary file;
- :mod:`.windows`: each correlation's sliding windows, in one pass in time order;
- :mod:`.engine`: :class:`Engine` and :class:`Alert`, overlapping windows merged into alerts.

The engine reads events (CIM dicts) and knows nothing of files, terminals or
exit codes: the command line (:mod:`esa_auth.cli.detect`) does. It needs
pySigma (Python 3.10 or newer), imported only when rules are loaded; the
Splunk app does not ship this package, as Splunk runs the searches generated
from the same rules (``detections/generate.py``).
"""

from __future__ import annotations

from .compiler import DEFAULT_RULES, load_rules
from .engine import Alert, Engine, Progress, detect
from .store import Store

__all__ = ["DEFAULT_RULES", "Alert", "Engine", "Progress", "Store", "detect", "load_rules"]
