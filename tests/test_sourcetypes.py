"""Every output format has its sourcetype, and props.conf reads its time where the renderer writes it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict

import pytest
from esa_auth import Normalizer, Settings, Stream
from esa_auth.render import RENDERERS, SOURCETYPES, render
from ksconf.conf.parser import PARSECONF_STRICT_NC, parse_conf

ROOT = Path(__file__).resolve().parent.parent
PROPS: Dict[str, Dict[str, str]] = parse_conf(str(ROOT / "default" / "props.conf"), profile=PARSECONF_STRICT_NC)
EVENTTYPES = (ROOT / "default" / "eventtypes.conf").read_text(encoding="utf-8")

LINE = b"Wed Apr 22 11:44:48 2009 Info: SMTP Auth: (ICID 450) succeeded for user: ironport using AUTH mechanism: " \
       b"PLAIN with profile: IncomingAuthentication\n"  # fmt: skip
EXPECTED = datetime(2009, 4, 22, 11, 44, 48, tzinfo=timezone.utc)


def test_every_format_has_a_sourcetype() -> None:
    assert set(SOURCETYPES) == set(RENDERERS)
    assert len(set(SOURCETYPES.values())) == len(SOURCETYPES)


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_props_finds_the_time_the_renderer_writes(fmt: str) -> None:
    stanza = PROPS[SOURCETYPES[fmt]]
    assert stanza["KV_MODE"] == "json"
    assert stanza["SHOULD_LINEMERGE"] == "false"
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream("t")
    events = normalizer.feed(stream, LINE) + normalizer.end(stream)
    assert len(events) == 1
    text = json.dumps(render(events[0], fmt), ensure_ascii=False, separators=(",", ":"))
    # Splunk's TIME_PREFIX is a PCRE anchored where the event starts; these prefixes are also Python regexes.
    found = re.match(stanza["TIME_PREFIX"], text)
    assert found, f"TIME_PREFIX of {SOURCETYPES[fmt]} does not match the start of {text[:60]!r}"
    window = text[found.end() : found.end() + int(stanza["MAX_TIMESTAMP_LOOKAHEAD"])]
    time_format = stanza["TIME_FORMAT"]
    if time_format == "%s%3N":  # epoch milliseconds (OCSF timestamp_t)
        when = datetime.fromtimestamp(int(window) / 1000, tz=timezone.utc)
    else:
        when = datetime.strptime(window, time_format).replace(tzinfo=timezone.utc)
        assert stanza["TZ"] == "UTC"
    assert when == EXPECTED


@pytest.mark.parametrize("fmt", sorted(set(RENDERERS) - {"cim"}))
def test_other_formats_stay_out_of_the_data_model(fmt: str) -> None:
    # One event indexed in two forms must not count twice in CIM Authentication.
    assert f"sourcetype={SOURCETYPES[fmt]}" not in EVENTTYPES.replace('"', "")
    assert "EVAL-" not in " ".join(PROPS[SOURCETYPES[fmt]])
