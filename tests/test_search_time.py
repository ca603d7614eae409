"""Search-time knowledge for raw ESA sourcetypes (docs/search-time.md).

One truth: every extraction of ``default/transforms.conf`` used by ``default/props.conf`` for
``cisco:esa:textmail``, ``cisco:esa:authentication`` and ``cisco:esa:http`` is run here (PCRE turned into
Python ``re``) over the templates' example lines, the sample logs and the requirement samples, the way
Splunk runs it (REPORT classes in name order, FORMAT with ``$n`` groups and literal values, first value of a
field wins, then FIELDALIAS), and what it gives must equal what the library gives for the same lines, for
the fields a regex can know; session-derived fields come from the ICID lookup or the ``esaauth`` command.
Coexistence: every class and object name is ours (``esa_auth`` prefix), no setting of the official add-on's
kind (index-time, EVAL of a field it computes) appears in our sourcetype stanzas.
"""

from __future__ import annotations

import calendar
import csv
import re
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Pattern, Tuple

import pytest
from esa_auth import AuthEvent, Normalizer, Settings, Stream, appliance_from_filename
from esa_auth import patterns as P
from esa_auth.envelope import body_start, parse_prefix
from esa_auth.events import FIELD_ORDER
from esa_auth.profiles import COLUMNS as PROFILE_COLUMNS
from esa_auth.profiles import parse_profile_map
from ksconf.conf.parser import PARSECONF_STRICT_NC, parse_conf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import adversarial

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "default"
SAMPLES = ROOT / "samples"
TEXTMAIL, AUTHENTICATION, HTTP = "cisco:esa:textmail", "cisco:esa:authentication", "cisco:esa:http"
RAW_SOURCETYPES = (TEXTMAIL, AUTHENTICATION, HTTP)
PREFIX = "esa_auth"

#: Names the official Splunk Add-on for Cisco ESA (Splunk_TA_cisco-esa, Splunkbase app 1761) uses or is
#: bound to use on the same sourcetypes, as far as public documentation tells ("Source types for the
#: Splunk Add-on for Cisco ESA" and "Lookups / eventtypes and tags" pages of docs.splunk.com/Documentation/
#: AddOns/released/CiscoESA, and the CIM field mappings they list). Recalled from those pages, not read from a
#: copy of the add-on: the check that matters is that every name of ours carries our prefix, which none
#: of these does.
OFFICIAL = {
    "eventtypes": ["cisco_esa_authentication", "cisco_esa_email", "cisco_esa_http"],
    "transforms": ["cisco_esa_icid", "cisco_esa_mid", "cisco_esa_dcid", "cisco_esa_action_lookup"],
    # CIM fields the add-on maps (Authentication: action, app, dest, src, user; Email: the same names,
    # src_user, recipient; vendor fields): an EVAL-<field> of ours would replace theirs wholesale
    # (one EVAL per field and sourcetype survives the merge of apps), so we never define one.
    "eval_fields": ["action", "app", "dest", "src", "user", "src_user", "recipient", "vendor", "product",
                    "vendor_product", "dvc", "status", "signature_extra"],
}  # fmt: skip
#: Static texts (signature, fixed reasons) come from this lookup, keyed on esa_auth_signature_id, OUTPUTNEW:
#: no EVAL-<field> of ours, whose setting name another app's EVAL of the same field would share (#14).
SIGNATURES = ROOT / "lookups" / "esa_auth_signatures.csv"
#: Settings that belong to the official add-on's sourcetype definition (parsing, time, index-time):
#: none of them may appear in our stanzas, or we would change how their data is indexed or read.
INDEX_TIME = re.compile(
    r"^(?:TIME_|MAX_TIMESTAMP|LINE_BREAKER|SHOULD_LINEMERGE|TRUNCATE|TZ$|KV_MODE|TRANSFORMS-|SEDCMD-|"
    r"CHARSET|BREAK_ONLY|MUST_|DATETIME_CONFIG|category|description|ANNOTATE_PUNCT|INDEXED_EXTRACTIONS)"
)

#: Fields a regex can know (the rest need the session: the ICID lookup or esaauth).
KNOWABLE = (
    "action", "app", "activity", "direction", "user", "src", "src_ip", "dest", "dest_ip", "icid", "dcid",
    "session_id", "authentication_method", "authentication_service", "user_role", "reply_code",
    "enhanced_status", "reason", "signature_id", "signature",
)  # fmt: skip
SESSION_FIELDS = {"inbound": ("src", "src_ip", "dest", "dest_ip"), "outbound": ("src", "src_ip")}


# --- the conf files, read the strict way (duplicate keys and stanzas are errors) --------------
@cache
def conf(name: str) -> Dict[str, Dict[str, str]]:
    path = DEFAULT / f"{name}.conf"
    return parse_conf(str(path), profile=PARSECONF_STRICT_NC)  # type: ignore[no-any-return]


#: PCRE2's branch that fails at this start when X follows it, and starts the search again further on:
#: ``(?:(?=X)...(*SKIP)(*FAIL)|(*COMMIT))``. Where the search starts again changes no match (esa_auth_A2 says why).
_SKIP_BRANCH = "(*SKIP)(*FAIL)|(*COMMIT))"


def _groups_closed(regex: str) -> Dict[int, int]:
    """Where each group of ``regex`` closes: the index of its ``)`` by that of its ``(``."""
    closes: Dict[int, int] = {}
    opened: List[int] = []
    i = 0
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 1
        elif c == "[":  # a class: its brackets and parentheses are characters ("[]...]", "[^]...]" too)
            i += 2 if regex.startswith("[^", i) else 1
            i += regex[i] == "]"
            while regex[i] != "]":
                i += 2 if regex[i] == "\\" else 1
        elif c == "(":
            opened.append(i)
        elif c == ")":
            closes[opened.pop()] = i
        i += 1
    return closes


def pcre(regex: str) -> Pattern[str]:
    """A Splunk (PCRE) regex as a Python one: named groups ``(?<n>`` become ``(?P<n>``; look-behinds stay.

    ``(*COMMIT)`` and ``(*SKIP)``, which Python's ``re`` does not have, only spare PCRE2 the start positions that
    cannot match (docs/SECURITY.md): ``(*COMMIT)`` and ``(*SKIP)`` are left out, the branch :data:`_SKIP_BRANCH`
    becomes what it asks, ``(?!X)``, the branches :data:`adversarial.LINE_BRANCHES`, which only fail, are left out,
    and any other ``(*FAIL)`` is ``(?!)``.
    tests/test_pcre2_searchtime.py holds both forms to the same matches.
    """
    regex = regex.replace(adversarial.LINE_BRANCHES, ")")
    while _SKIP_BRANCH in regex:
        end = regex.index(_SKIP_BRANCH) + len(_SKIP_BRANCH) - 1
        closes = _groups_closed(regex)
        start = next(i for i, j in closes.items() if j == end)
        assert regex.startswith("(?:(?=", start), regex[start:]
        regex = regex[:start] + "(?!" + regex[start + 6 : closes[start + 3]] + regex[end:]
    regex = regex.replace("(*COMMIT)", "").replace("(*SKIP)", "").replace("(*FAIL)", "(?!)")
    return re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", regex))


def report_transforms(sourcetype: str) -> List[str]:
    """The transforms of the sourcetype's REPORT classes, in the order Splunk applies them."""
    stanza = conf("props")[sourcetype]
    names: List[str] = []
    for key in sorted(k for k in stanza if k.startswith("REPORT-")):
        names.extend(n.strip() for n in stanza[key].split(","))
    return names


def extract(sourcetype: str, raw: str, host: Optional[str] = None) -> Dict[str, str]:
    """What our REPORT extractions and field aliases give an event of this sourcetype."""
    transforms = conf("transforms")
    fields: Dict[str, str] = {}
    for name in report_transforms(sourcetype):
        found = pcre(transforms[name]["REGEX"]).search(raw)
        if found is None:
            continue
        for item in transforms[name]["FORMAT"].split():
            field, _, value = item.partition("::")
            if value.startswith("$"):
                group = found.group(int(value[1:]))
                if not group:
                    continue  # a group that took no part gives no field
                value = group
            fields.setdefault(field, value)  # MV_ADD = false: the first value found stays
    if host:
        fields.setdefault("host", host)
    for key, value in sorted(conf("props")[sourcetype].items()):
        if key.startswith("FIELDALIAS-"):
            for source, mode, target in re.findall(r"(\S+)\s+(ASNEW|AS)\s+(\S+)", value):
                if source in fields and (mode == "AS" or target not in fields):
                    fields[target] = fields[source]
    fields.pop("host", None)
    return fields


@cache
def signature_rows() -> Dict[str, Dict[str, str]]:
    """lookups/esa_auth_signatures.csv by esa_auth_signature_id."""
    with SIGNATURES.open(encoding="utf-8", newline="") as handle:
        return {row["esa_auth_signature_id"]: row for row in csv.DictReader(handle)}


def lookups(sourcetype: str, fields: Dict[str, str]) -> Dict[str, str]:
    """The fields after our automatic lookups of static texts: LOOKUP-esa_auth_signatures, OUTPUTNEW.

    An empty cell of the CSV gives no value; OUTPUTNEW fills only absent fields.
    """
    out = dict(fields)
    value = conf("props")[sourcetype]["LOOKUP-esa_auth_signatures"]
    match = re.fullmatch(r"esa_auth_signatures esa_auth_signature_id OUTPUTNEW (.+)", value)
    assert match, value
    row = signature_rows().get(fields.get("esa_auth_signature_id", ""))
    if row is None:
        return out
    for name in match.group(1).split():
        if row[name] and name not in out:
            out[name] = row[name]
    return out


def sourcetype_of(signature_id: str) -> str:
    name = signature_id[len("ESA-") :]
    if name.startswith("T"):
        return TEXTMAIL
    return HTTP if name.startswith("W") else AUTHENTICATION


ENVELOPES = ("Wed Apr 22 11:44:48 2009 Info: ", "<22>Apr 22 11:44:48 esa01.example.com mail_logs: Info: ")


def library(lines: str, source: str = "test.log", host: Optional[str] = "esa01.example.com") -> List[Dict[str, Any]]:
    normalizer = Normalizer(Settings(tz="UTC", year=2025, host=host))
    stream = Stream(source, appliance=appliance_from_filename(source))
    data = lines.encode("utf-8")
    return [e.to_dict() for e in normalizer.feed(stream, data) + normalizer.end(stream)]


def corpus() -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(id, library event) of every authentication line we know."""
    for pattern in P.PATTERNS:
        if pattern.role != P.AUTH:
            continue
        for n, example in enumerate(pattern.examples):
            for envelope in ENVELOPES:
                events = library(envelope + example + "\n")
                assert len(events) == 1, f"{pattern.name} example {n} gives {len(events)} events"
                yield f"{pattern.name}-{n}-{envelope[:3]}", events[0]
    for log in sorted((SAMPLES / "logs").iterdir()):
        if log.name.startswith(".") or log.suffix == ".md":
            continue
        for event in library(log.read_text(encoding="utf-8"), log.name, host=None):
            yield f"{log.name}:{event['signature_id']}:{event['event_id'][:6]}", event


CORPUS = list(corpus())


def params(cases: List[Tuple[str, Dict[str, Any]]]) -> List[Any]:
    return [pytest.param(case, event, id=case) for case, event in cases]


def expected(event: Dict[str, Any]) -> Dict[str, str]:
    """The fields of a library event a regex (plus the aliases and the static-text lookup) must give."""
    out = {k: _text(event[k]) for k in KNOWABLE if k in event}
    for name in SESSION_FIELDS.get(event.get("direction", ""), ()):
        out.pop(name, None)
    if event.get("signature_id") == "ESA-T5":
        # Search time keeps the line's words (FORMAT cannot write the library's "S: R" without an EVAL).
        found = re.search(r"(could +not +reach +forwarding +server +.+?)\s*\.?\s*$", event["raw"])
        assert found
        out["reason"] = found.group(1)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize(("case", "event"), params(CORPUS))
def test_extractions_give_what_the_library_gives(case: str, event: Dict[str, Any]) -> None:
    sourcetype = sourcetype_of(event["signature_id"])
    got = lookups(sourcetype, extract(sourcetype, event["raw"], host=event.get("dvc")))
    want = expected(event)
    session_only = set(SESSION_FIELDS.get(event.get("direction", ""), ()))
    got_knowable = {k: v for k, v in got.items() if k in KNOWABLE and k not in session_only}
    assert got_knowable == want, f"{case}: {event['raw']}"


def test_a_permission_denied_reason_of_a_dash_is_no_reason_in_either_path() -> None:
    # "-" is the log's placeholder for none (docs/log-formats.md#U5): the library leaves the reason out, and so
    # does esa_auth_U5; every other field is what the line with a reason gives. A reason that only starts
    # with a dash is one.
    example = ENVELOPES[0] + P.BY_NAME["U5"].examples[0]
    with_reason = extract(AUTHENTICATION, example)
    assert with_reason["reason"] == "Invalid username or passphrase"
    for tail in ("-", "- ", "-.", "  -  .", "-\t"):
        line = example.replace("Invalid username or passphrase", tail)
        (event,) = library(line + "\n")
        assert "reason" not in event, line
        assert extract(AUTHENTICATION, line) == {k: v for k, v in with_reason.items() if k != "reason"}, line
    for tail in ("- x", "--", "-x", "x -"):
        line = example.replace("Invalid username or passphrase", tail)
        (event,) = library(line + "\n")
        assert event["reason"] == extract(AUTHENTICATION, line)["reason"] == tail, line


@pytest.mark.parametrize(("case", "event"), [c for c in CORPUS if sourcetype_of(c[1]["signature_id"]) != TEXTMAIL],
                         ids=[c for c, e in CORPUS if sourcetype_of(e["signature_id"]) != TEXTMAIL])  # fmt: skip
def test_http_and_authentication_read_the_same_appliance_lines(case: str, event: Dict[str, Any]) -> None:
    # Audit, API and login lines land under either sourcetype depending on the forwarder's set-up.
    assert extract(HTTP, event["raw"], event.get("dvc")) == extract(AUTHENTICATION, event["raw"], event.get("dvc"))


NOT_EVENTS = [
    (pattern.name, envelope + example)
    for pattern in P.PATTERNS
    if pattern.role != P.AUTH
    for example in pattern.examples
    for envelope in ENVELOPES[:1]
] + [
    ("bounce", "Wed Apr 22 11:19:41 2009 Info: Bounced: DCID 5640 MID 448 to RID 0 - Bounced by destination server"),
    ("cef", "Wed Apr 22 11:19:41 2009: CEF:0|Cisco|C100V Email Security Virtual Appliance|15.0|ESA_CONSOLIDATED"),
    ("mid", "Wed Apr 22 11:19:41 2009 Info: MID 441 ICID 450 From: <user@example.com>"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "line"), NOT_EVENTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(NOT_EVENTS)])
def test_session_header_and_look_alike_lines_give_nothing(name: str, line: str) -> None:
    assert library(line + "\n") == [], f"the library itself makes an event of {line!r}"
    for sourcetype in RAW_SOURCETYPES:
        assert extract(sourcetype, line) == {}, f"{sourcetype} extracts fields from {name}: {line}"


def test_every_template_has_exactly_one_transform_in_the_right_sourcetypes() -> None:
    transforms = conf("transforms")
    by_signature: Dict[str, List[str]] = {}
    for name, stanza in transforms.items():
        sid = re.search(r"esa_auth_signature_id::(\S+)", stanza.get("FORMAT", ""))
        if sid:
            by_signature.setdefault(sid.group(1), []).append(name)
    auth = {p.signature_id for p in P.PATTERNS if p.role == P.AUTH}
    assert set(by_signature) == auth
    assert all(len(names) == 1 for names in by_signature.values()), by_signature
    for sid, (name,) in by_signature.items():
        wanted = {TEXTMAIL} if sid.startswith("ESA-T") else {AUTHENTICATION, HTTP}
        used = {st for st in RAW_SOURCETYPES if name in report_transforms(st)}
        assert used == wanted, f"{name} is used by {sorted(used)}"


def test_static_texts_are_the_library_ones() -> None:
    """lookups/esa_auth_signatures.csv: every template's signature and fixed reason, as the library has them."""
    library_rows = {p.signature_id: (p.signature, p.reason) for p in P.PATTERNS if p.role == P.AUTH}
    assert {sid: (r["signature"], r["reason"]) for sid, r in signature_rows().items()} == library_rows
    lookup = conf("transforms")["esa_auth_signatures"]
    assert lookup["filename"] == SIGNATURES.name
    assert lookup["case_sensitive_match"] == "true"


def test_static_texts_leave_other_events_alone() -> None:
    # No EVAL of ours (an EVAL replaces its field on every event of the sourcetype, and shares its setting name
    # with any other app's EVAL of that field); every lookup of ours only fills absent fields (OUTPUTNEW).
    for sourcetype in RAW_SOURCETYPES:
        stanza = conf("props")[sourcetype]
        assert not [key for key in stanza if key.startswith("EVAL-")], sourcetype
        for key, value in stanza.items():
            if key.startswith("LOOKUP-"):
                assert " OUTPUTNEW " in value, f"{sourcetype} {key}"
                assert " OUTPUT " not in value, f"{sourcetype} {key}"
    # The key only our transforms set: an event of the official add-on alone gets nothing.
    assert lookups(TEXTMAIL, {"signature": "theirs", "action": "delivered"}) == {
        "signature": "theirs",
        "action": "delivered",
    }
    assert lookups(TEXTMAIL, {"esa_auth_signature_id": "ESA-T3", "reason": "theirs"})["reason"] == "theirs"


# --- coexistence with the official add-on ------------------------------------------------------------
def our_stanza_keys() -> Iterator[Tuple[str, str]]:
    for sourcetype in RAW_SOURCETYPES:
        for key in conf("props")[sourcetype]:
            yield sourcetype, key


def test_every_class_name_carries_our_prefix() -> None:
    for sourcetype, key in our_stanza_keys():
        kind, _, name = key.partition("-")
        assert kind in ("REPORT", "FIELDALIAS", "LOOKUP", "EXTRACT"), f"{sourcetype}: unexpected {key}"
        assert name.startswith(PREFIX + "_"), f"{sourcetype}: {key} lacks the {PREFIX}_ prefix"
        assert not INDEX_TIME.match(key), f"{sourcetype}: {key} belongs to the official sourcetype definition"


def test_referenced_objects_carry_our_prefix_and_exist() -> None:
    transforms = conf("transforms")
    for sourcetype, key in our_stanza_keys():
        value = conf("props")[sourcetype][key]
        if key.startswith("REPORT-"):
            for name in (n.strip() for n in value.split(",")):
                assert name.startswith(PREFIX + "_"), f"{sourcetype} {key}: {name}"
                assert name in transforms, f"{sourcetype} {key}: {name}"
        elif key.startswith("LOOKUP-"):
            table = value.split()[0]
            assert table.startswith(PREFIX + "_")
            assert table in transforms
            if "filename" in transforms[table]:
                assert (ROOT / "lookups" / transforms[table]["filename"]).is_file(), table
    assert all(name.startswith(PREFIX + "_") for name in transforms), sorted(transforms)
    for kind, names in OFFICIAL.items():
        if kind != "eval_fields":
            assert not any(n.startswith(PREFIX) for n in names), kind


def test_our_eventtypes_are_ours_and_tag_only_our_eventtypes() -> None:
    eventtypes = conf("eventtypes")
    ours = {n for n, s in eventtypes.items() if any(st in s.get("search", "") for st in RAW_SOURCETYPES)}
    assert ours == {"esa_auth_raw", "esa_auth_raw_cleartext", "esa_auth_raw_default_account", "esa_auth_raw_logoff",
                    "esa_auth_raw_privileged"}  # fmt: skip
    assert not ours & set(OFFICIAL["eventtypes"])
    tagged = {k[len("eventtype=") :] for k in conf("tags") if k.startswith("eventtype=")}
    # No tag stanza of ours names another add-on's eventtype (that would tag its events a second way).
    assert all(name.startswith(PREFIX) for name in tagged)


def test_fields_conf_marks_every_literal_field_and_only_ours() -> None:
    literal = set()
    for stanza in conf("transforms").values():
        for item in stanza.get("FORMAT", "").split():
            field, _, value = item.partition("::")
            if not value.startswith("$"):
                literal.add(field)
    fields = conf("fields")
    assert set(fields) - {"default"} == literal
    assert all(name.startswith(PREFIX + "_") for name in literal)
    assert all(fields[name]["INDEXED_VALUE"] == "false" for name in literal)


# --- eventtypes and tags -----------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r'\(|\)|[A-Za-z_][\w.]*\s+IN\s*\([^)]*\)|[A-Za-z_][\w.]*=(?:"[^"]*"|[^\s()]+)|"[^"=\s]+"|OR|AND|NOT'
)
#: Splunk's default segmenters (segmenters.conf): major and minor breakers. A raw search term without
#: breakers matches an event whose _raw holds it as a segment, whatever the case.
_BREAKERS = re.compile(r"""[\s\[\](){}<>|!;,'"*\n\r&?+/:=@.$#%\\_-]+""")


def raw_terms(raw: str) -> set:
    return {segment.lower() for segment in _BREAKERS.split(raw) if segment}


def matches(search: str, fields: Dict[str, str]) -> bool:
    """Evaluate the simple eventtype searches of ours: field=value, field=*, field IN (...), OR, (), AND."""
    tokens = _TOKEN.findall(search)
    assert "".join(tokens).replace(" ", "") == search.replace(" ", ""), f"beyond the grammar: {search}"
    pos = 0

    def term(token: str) -> bool:
        if token.startswith('"'):
            return token.strip('"').lower() in raw_terms(fields.get("_raw", ""))
        found = re.match(r"([A-Za-z_][\w.]*)\s+IN\s*\((.*)\)$", token)
        if found:
            values = [v.strip().strip('"').lower() for v in found.group(2).split(",")]
            return fields.get(found.group(1), "").lower() in values and found.group(1) in fields
        name, _, value = token.partition("=")
        value = value.strip('"')
        if value == "*":
            return name in fields
        return name in fields and fields[name].lower() == value.lower()  # values match case-insensitively

    def conjunction() -> bool:
        nonlocal pos
        result = True
        while pos < len(tokens) and tokens[pos] not in (")", "OR"):
            token = tokens[pos]
            pos += 1
            if token == "AND":
                continue
            if token == "(":
                value = disjunction()
                assert tokens[pos] == ")"
                pos += 1
            else:
                value = term(token)
            result = result and value
        return result

    def disjunction() -> bool:
        nonlocal pos
        result = conjunction()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            result = conjunction() or result
        return result

    outcome = disjunction()
    assert pos == len(tokens), f"unbalanced: {search}"
    return outcome


def tags_of(sourcetype: str, fields: Dict[str, str]) -> set:
    everything = dict(fields, sourcetype=sourcetype)
    out = set()
    for name, stanza in conf("eventtypes").items():
        search = stanza.get("search", "")
        if name.startswith("esa_auth_raw") and matches(search, everything):
            out |= {tag for tag, state in conf("tags").get(f"eventtype={name}", {}).items() if state == "enabled"}
    return out


@pytest.mark.parametrize(("case", "event"), CORPUS, ids=[c for c, _ in CORPUS])
def test_tags_follow_the_library(case: str, event: Dict[str, Any]) -> None:
    sourcetype = sourcetype_of(event["signature_id"])
    fields = extract(sourcetype, event["raw"], host=event.get("dvc"))
    if "tls" in event and event.get("direction") == "inbound":
        fields["tls"] = _text(event["tls"])  # what the ICID lookup gives when it knows the session
    tags = tags_of(sourcetype, dict(fields, _raw=event["raw"]))
    assert ("authentication" in tags) == (event["activity"] != "logoff")
    attempt = event["activity"] != "logoff"
    assert ("privileged" in tags) == (attempt and event.get("privileged") is True)
    assert ("default" in tags) == (attempt and event.get("default_account") is True)
    assert ("cleartext" in tags) == (attempt and event.get("cleartext") is True)


def test_the_evaluator_can_say_no() -> None:
    # The grammar check above must be able to fail, or the tag test proves nothing.
    assert not matches('a="1" (b="2" OR c IN ("3", "4"))', {"a": "1", "b": "9", "c": "5"})
    assert matches('a="1" (b="2" OR c IN ("3", "4"))', {"a": "1", "b": "9", "c": "4"})
    assert not matches("a=*", {})
    # Raw terms are segments of _raw: "Auth" is one in "SMTP Auth: (ICID 1)", "Aut" and "ICID 1" are not.
    assert matches('"SMTP" "auth"', {"_raw": "Info: SMTP Auth: (ICID 1) failed"})
    assert not matches('"Aut"', {"_raw": "Info: SMTP Auth: (ICID 1) failed"})
    assert not matches('"user"', {"_raw": "Info: Username:admin"})


# --- the ICID session lookup and the search that keeps it -----------------------------------------------------
def test_lookup_collection_and_search_agree() -> None:
    lookup = conf("transforms")["esa_auth_icid_sessions"]
    collection = conf("collections")["esa_auth_icid_sessions"]
    fields_list = [f.strip() for f in lookup["fields_list"].split(",")]
    declared = {k[len("field.") :] for k in collection if k.startswith("field.")}
    assert set(fields_list) - {"_key"} == declared
    assert lookup["external_type"] == "kvstore"
    assert lookup["collection"] == "esa_auth_icid_sessions"
    # Time-based, with expiry: a session opened long before (an ICID reused) is never matched.
    assert lookup["time_field"] == "time"
    assert 0 < int(lookup["max_offset_secs"]) <= 3600
    assert int(lookup["max_matches"]) == 1
    props = conf("props")[TEXTMAIL]["LOOKUP-esa_auth_icid_sessions"]
    match = re.match(r"(\S+) appliance AS host icid AS esa_auth_icid OUTPUTNEW (.+)$", props)
    assert match, props
    outputs = match.group(2).split()
    assert set(outputs) <= declared
    assert {"src", "dest", "dest_interface", "tls"} <= set(outputs)
    searches = parse_conf(str(ROOT / "detections" / "searches" / "esa_auth_icid_sessions.conf"),
                          profile=PARSECONF_STRICT_NC)  # fmt: skip
    ((name, search),) = ((k, v) for k, v in searches.items() if k != "default")
    assert search["disabled"] == "1"
    assert search["enableSched"] == "1"
    assert "rt" not in search["dispatch.earliest_time"]
    text = search["search"]
    assert text.rstrip().endswith(
        "| outputlookup append=true key_field=_key override_if_empty=false esa_auth_icid_sessions"
    )
    table = re.search(r"\| table ([^|\n\\]+)", text)
    assert table, name
    assert set(table.group(1).split()) == set(fields_list), name


def test_the_search_reads_the_open_line_the_library_reads() -> None:
    # The rex of the scheduled search on the C1 examples gives the library's session values.
    searches = parse_conf(str(ROOT / "detections" / "searches" / "esa_auth_icid_sessions.conf"),
                          profile=PARSECONF_STRICT_NC)  # fmt: skip
    text = next(v["search"] for k, v in searches.items() if k != "default")
    from test_detections import spl_model  # how SPL reads a search's rex

    rex = pcre(next(r for r in spl_model.raw_rexes(text) if r.startswith(r"(?i)\bNew")))
    for example in P.BY_NAME["C1"].examples:
        auth = "SMTP Auth: (ICID {}) succeeded for user: u using AUTH mechanism: PLAIN with profile: p"
        icid = re.search(r"ICID (\d+)", example).group(1)  # type: ignore[union-attr]
        lines = f"Wed Apr 22 11:44:47 2009 Info: {example}\nWed Apr 22 11:44:48 2009 Info: {auth.format(icid)}\n"
        (event,) = library(lines)
        found = rex.search(f"Wed Apr 22 11:44:47 2009 Info: {example}")
        assert found, example
        assert found["esa_auth_src"] == event["src"]
        assert found["esa_auth_open"] == icid
        assert (found["esa_auth_dest"] or None) == event.get("dest_ip")
        assert found["esa_auth_listener"].strip() == event["dest_interface"]


#: Mail logs whose inbound AUTH lines the fill search and the lookup complete as the library does: sessions with and
#: without TLS, one appliance or two with the same ICID, an ICID opened again, and the sample mail log.
SESSION_LOGS = (
    "tests/golden/correlation/tls-before-auth.log", "tests/golden/correlation/icid-reuse-after-close.log",
    "tests/golden/correlation/two-appliances-same-icid.log", "tests/golden/inbound/smtp-auth-templates.log",
    "samples/logs/mail.current",
    # Busy appliances (bench/generate.py): thousands of interleaved connections, submission and guessing, the
    # file envelope and syslog's.
    "generated:typical:3000", "generated:auth-heavy:3000", "generated:syslog:3000",
)  # fmt: skip


def _generated(preset: str, lines: int) -> str:
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mail.log"
        generate.generate(path, lines, seed=7, preset=preset)
        return path.read_text(encoding="utf-8")


#: What the lookup gives an AUTH event (props.conf LOOKUP-esa_auth_icid_sessions).
SESSION_OUTPUTS = ("src", "src_ip", "src_host", "dest", "dest_ip", "dest_interface", "tls")


def _indexed(text: str, year: int, default_host: str) -> List[Dict[str, Any]]:
    """The lines as Splunk holds them: _time and host from the envelope, our search-time fields."""
    rows = []
    for line in text.splitlines():
        envelope = parse_prefix(line[: body_start(line)])
        if envelope is None:
            continue
        hms = [int(x) for x in envelope.hms.split(":")]
        when = calendar.timegm((envelope.year or year, envelope.month, envelope.day, *hms, 0, 0, 0))
        host = envelope.host or default_host
        rows.append({"_raw": line, "_time": float(when), "host": host, "index": "main", "sourcetype": TEXTMAIL,
                     **extract(TEXTMAIL, line)})  # fmt: skip
    return rows


def _looked_up(event: Dict[str, Any], table: List[Dict[str, Any]]) -> Dict[str, str]:
    """The time-based lookup: the row of the event's appliance and ICID whose time is the latest at most
    max_offset_secs before the event (case-insensitive keys, one match), its outputs as text."""
    lookup = conf("transforms")["esa_auth_icid_sessions"]
    assert lookup["case_sensitive_match"] == "false"
    assert lookup["max_matches"] == "1"
    low, high = int(lookup.get("min_offset_secs", "0")), int(lookup["max_offset_secs"])
    rows = [
        r for r in table
        if str(r["appliance"]).lower() == event["host"].lower() and str(r["icid"]) == event["esa_auth_icid"]
        and low <= event["_time"] - float(r["time"]) <= high
    ]  # fmt: skip
    if not rows:
        return {}
    row = max(rows, key=lambda r: float(r["time"]))
    return {k: str(row[k]) for k in SESSION_OUTPUTS if row.get(k) not in (None, "")}


@pytest.mark.parametrize("log", SESSION_LOGS)
def test_the_fill_search_and_the_lookup_give_auth_events_the_library_s_session(log: str) -> None:
    # The shipped fill search runs (tests/detections/spl_model.py: its rex by PCRE2) over the log's lines with our
    # extractions, then the lookup completes each inbound AUTH event: the client address, its host, the receiving
    # address and interface and the TLS state are the ones the library's session gives the same line.
    from test_detections import spl_model  # the model of SPL the detection tests run

    macros = {name: body["definition"] for name, body in conf("macros").items()}
    searches = parse_conf(str(ROOT / "detections" / "searches" / "esa_auth_icid_sessions.conf"),
                          profile=PARSECONF_STRICT_NC)  # fmt: skip
    search = next(v["search"] for k, v in searches.items() if k != "default")
    if log.startswith("generated:"):
        _, preset, lines = log.split(":")
        text = _generated(preset, int(lines))
    else:
        text = (ROOT / log).read_text(encoding="utf-8")
    rows = _indexed(text, 2024, "esa01.example.com")
    store = spl_model.Collections()
    end = max(r["_time"] for r in rows) + 60
    spl_model.SplModel(macros, 0, end, collections=store, now=end).run(search, [dict(r) for r in rows])
    table = store.rows("esa_auth_icid_sessions")
    # The next run reads the same lines (the windows overlap), whose AUTH events the automatic lookup has now
    # completed from the collection (OUTPUTNEW): it writes the same rows.
    completed = [dict(_looked_up(r, table), **r) if r.get("esa_auth_icid") else dict(r) for r in rows]
    spl_model.SplModel(macros, 0, end, collections=store, now=end).run(search, completed)
    assert store.rows("esa_auth_icid_sessions") == table
    normalizer = Normalizer(Settings(tz="UTC", year=2024, host="esa01.example.com"))
    stream = Stream(log, appliance=None)
    events = [e.to_dict() for e in normalizer.feed(stream, text.encode("utf-8")) + normalizer.end(stream)]
    inbound = [e for e in events if e.get("direction") == "inbound" and e.get("icid") is not None]
    auth = [r for r in rows if r.get("esa_auth_icid")]
    assert [e["raw"] for e in inbound] == [r["_raw"] for r in auth]
    assert any(e.get("src") for e in inbound), log  # the log has sessions to find
    for event, row in zip(inbound, auth):
        # The library's values of the line's connection; none when it knows none (no open line). Without a
        # receiving address its dest is the appliance, which is no value of the connection's.
        joined = event.get("src") is not None
        want = {k: _text(event[k]) for k in SESSION_OUTPUTS if joined and event.get(k) is not None}
        if "dest_ip" not in want and want.get("dest") == event.get("dvc"):
            del want["dest"]
        assert _looked_up(row, table) == want, row["_raw"]


# --- requirement samples for the raw sourcetypes ---------------------------------------------------------------
SAMPLE_FILES = {"esa_auth_textmail.xml": TEXTMAIL, "esa_auth_authentication.xml": AUTHENTICATION,
                "esa_auth_http.xml": HTTP}  # fmt: skip


def sample_events() -> Iterator[Tuple[str, str, ET.Element]]:
    for name, sourcetype in SAMPLE_FILES.items():
        root = ET.parse(SAMPLES / name).getroot()
        assert root.tag == "device"
        assert root.find("version") is not None
        for number, element in enumerate(root.findall("event"), 1):
            yield f"{name}#{number}", sourcetype, element


SAMPLE_EVENTS = list(sample_events())


@pytest.mark.parametrize(("case", "sourcetype", "element"), SAMPLE_EVENTS, ids=[c for c, _, _ in SAMPLE_EVENTS])
def test_requirement_samples_hold_what_the_extractions_give(case: str, sourcetype: str, element: ET.Element) -> None:
    transport = element.find("transport")
    assert transport is not None
    assert transport.get("sourcetype") == sourcetype
    raw = element.findtext("raw") or ""
    host = transport.get("host")
    fields = lookups(sourcetype, extract(sourcetype, raw, host=host))
    expected_fields = element.findall("cim/cim_fields/field") + element.findall("other_mappings/field")
    for field in expected_fields:
        assert fields.get(field.get("name") or "") == field.get("value"), f"{case}: {field.get('name')}"
    missing = {f.text for f in element.findall("cim/missing_recommended_fields/field")}
    assert not missing & set(fields), f"{case}: listed missing but extracted: {missing & set(fields)}"
    # The library reads the same line the same way.
    events = library(raw + "\n", host=host)
    assert len(events) == 1
    want = expected(events[0])
    assert {k: v for k, v in fields.items() if k in want} == want
    models = {m.text for m in element.findall("cim/models/model")}
    tags = tags_of(sourcetype, dict(fields, _raw=raw))
    assert ("Authentication" in models) == ("authentication" in tags)


def test_requirement_samples_cover_every_template() -> None:
    seen = set()
    for _, sourcetype, element in SAMPLE_EVENTS:
        fields = extract(sourcetype, element.findtext("raw") or "")
        seen.add(fields.get("signature_id"))
    assert seen >= {p.signature_id for p in P.PATTERNS if p.role == P.AUTH}


# --- one login, one logon (#15) ----------------------------------------------------------------------------------
AUDIT_PAIRS = [
    ("Successful login", "Session established successfully"),
    ("User logged out", "Session terminated"),
]


@pytest.mark.parametrize(("first", "second"), AUDIT_PAIRS, ids=["login", "logout"])
def test_audit_pair_is_one_event_in_both_paths(first: str, second: str) -> None:
    """The audit log writes two lines per login and per logout: the library and the eventtypes count one."""
    head = ENVELOPES[1] + P._AUDIT_EXAMPLE
    lines = [head + first, head + second]
    events = library("".join(line + "\n" for line in lines))
    assert len(events) == 1
    assert events[0]["raw"] == lines[0]
    for sourcetype in (AUTHENTICATION, HTTP):
        tagged = [tags_of(sourcetype, dict(extract(sourcetype, line, "esa01"), _raw=line)) for line in lines]
        assert ("authentication" in tagged[0]) == (events[0]["activity"] == "logon"), sourcetype
        assert tagged[1] == set(), sourcetype
        assert extract(sourcetype, lines[1]) == {}, sourcetype


# --- the outbound profile map (#15) ------------------------------------------------------------------------------
PROFILE_USERS = ROOT / "lookups" / "esa_auth_profile_users.csv"
#: What an administrator could write: the outbound profiles of the examples, and inbound profile names too, which
#: must give no inbound event a user.
PROFILE_MAP = parse_profile_map(
    "profile,user\nOutboundAuthentication,svc-relay@example.com\nSmartHostAuth,relay@example.net\nIncomingAuthentication,nobody\n"
    "smtp_auth_ldap,nobody\nCorp Auth,nobody\n"
)


def profile_lookup(sourcetype: str, fields: Dict[str, str], rows: Dict[str, str]) -> Dict[str, str]:
    """LOOKUP-esa_auth_profile_users of the sourcetype, with ``rows`` (profile -> user) as the lookup's content."""
    value = conf("props")[sourcetype]["LOOKUP-esa_auth_profile_users"]
    match = re.fullmatch(r"esa_auth_profile_users profile AS (\S+) OUTPUTNEW user", value)
    assert match, value
    out = dict(fields)
    key = fields.get(match.group(1))
    if key is not None and key in rows and "user" not in out:  # exact match (case_sensitive_match), OUTPUTNEW
        out["user"] = rows[key]
    return out


def json_fields(event: Dict[str, Any]) -> Dict[str, str]:
    """What cisco:esa:auth gives an event before its lookups: KV_MODE = json, then our one EVAL."""
    fields = {k: _text(v) for k, v in event.items()}
    stanza = conf("props")[AUTH]
    assert [k for k in stanza if k.startswith("EVAL-")] == ["EVAL-esa_auth_outbound_profile"]
    assert stanza["EVAL-esa_auth_outbound_profile"] == 'if(direction=="outbound", authentication_service, null())'
    if fields.get("direction") == "outbound" and "authentication_service" in fields:
        fields["esa_auth_outbound_profile"] = fields["authentication_service"]
    return fields


AUTH = "cisco:esa:auth"
DEFAULTS: Dict[str, Any] = dict.fromkeys(FIELD_ORDER)
SMTP_CORPUS = [c for c in CORPUS if c[1]["app"] == "smtp"]


@pytest.mark.parametrize(("case", "event"), params(SMTP_CORPUS))
def test_profile_map_gives_the_same_user_in_every_path(case: str, event: Dict[str, Any]) -> None:
    mapped = PROFILE_MAP.apply(AuthEvent.from_fields({**DEFAULTS, **event})).to_dict()
    listed = event["direction"] == "outbound" and event.get("authentication_service") in PROFILE_MAP.users
    assert ("user" in mapped) == ("user" in event or listed), case
    raw = lookups(TEXTMAIL, extract(TEXTMAIL, event["raw"], host=event.get("dvc")))
    assert profile_lookup(TEXTMAIL, raw, dict(PROFILE_MAP.users)).get("user") == mapped.get("user"), case
    assert profile_lookup(AUTH, json_fields(event), dict(PROFILE_MAP.users)).get("user") == mapped.get("user"), case


def test_the_profile_map_ships_empty_and_matches_exactly() -> None:
    text = PROFILE_USERS.read_text(encoding="utf-8")
    assert text == ",".join(PROFILE_COLUMNS) + "\n", "shipped with its header only: an administrator fills it"
    assert parse_profile_map(text).users == {}
    lookup = conf("transforms")["esa_auth_profile_users"]
    assert (lookup["filename"], lookup["case_sensitive_match"], lookup["max_matches"]) == (
        PROFILE_USERS.name, "true", "1",
    )  # fmt: skip
    for sourcetype in (TEXTMAIL, AUTH):
        assert "LOOKUP-esa_auth_profile_users" in conf("props")[sourcetype]
