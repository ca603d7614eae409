"""Coverage-guided fuzzing of the byte -> event path with atheris (libFuzzer).

Each input is a 4-byte header that chooses the reading settings (time zone,
year, a small session table and timeout so that evictions happen, a short line
limit so that cutting happens) and the cut points, then the log bytes.
:func:`harness.check_input` then applies every invariant (schema-valid
events, one JSON line each, a well-formed Splunk XML stream, cut and
checkpoint independence, clean warnings). A broken invariant or any
exception is a crash: libFuzzer writes the input to ``-artifact_prefix``.

Usage (from the repository root, after ``fuzz/make_venv.sh``)::

    .venv-fuzz/bin/python fuzz/corpus.py /tmp/esa-fuzz/corpus
    nice -n 10 .venv-fuzz/bin/python fuzz/fuzz_pipeline.py /tmp/esa-fuzz/corpus \\
        -max_total_time=1800 -max_len=8192 -artifact_prefix=/tmp/esa-fuzz/ -print_final_stats=1

Replay a crash file: ``.venv-fuzz/bin/python fuzz/fuzz_pipeline.py CRASH_FILE``.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Only the library is instrumented: coverage of the harness and of jsonschema
# would steer the fuzzer away from the code under test.
with atheris.instrument_imports():
    import esa_auth
    import esa_auth.envelope
    import esa_auth.patterns
    import esa_auth.pipeline
    import esa_auth.render
    import esa_auth.sessions
    import esa_auth.splunk.modinput  # the modular input's event sink (the fuzz venv has splunklib)
    import esa_auth.text
    import esa_auth.timezones  # noqa: F401

import harness

#: Reported library defects the fuzzer steps over (``ESA_FUZZ_STRICT=1``: none).
TOLERATE = frozenset() if os.environ.get("ESA_FUZZ_STRICT") == "1" else harness.KNOWN_ISSUES


def test_one_input(data: bytes) -> None:
    """One fuzz case: every invariant of :func:`harness.check_input`."""
    settings, cuts, checkpoint, body = harness.parse_input(data)
    harness.check_input(body, settings, cuts, checkpoint, tolerate=TOLERATE)


def main() -> None:
    """Run libFuzzer with the arguments of the command line."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
