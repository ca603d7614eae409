"""Splunk's chunked external search command protocol (v2), both ways, for tests.

The wire format splunkd speaks to a ``chunked = true`` command (splunk-sdk-python
``splunklib/searchcommands/search_command.py``, ``_read_chunk`` / ``RecordWriterV2``): every message is
``chunked 1.0,<metadata bytes>,<body bytes>\\n`` then the JSON metadata, then a CSV body. Multivalue
fields travel as a pair of columns, ``name`` (values joined by newlines) and ``__mv_name``
(``$a$;$b$``, with ``$`` doubled inside values).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

_HEADER = re.compile(rb"chunked 1\.0,(\d+),(\d+)\n")

Record = Dict[str, Any]


def chunk(meta: Dict[str, Any], records: Optional[Iterable[Record]] = None, body: Optional[bytes] = None) -> bytes:
    """One protocol message: metadata plus records (as CSV with the union of their fields) or a given body."""
    if body is None:
        rows = list(records or [])
        if rows:
            names: Dict[str, None] = {}
            for row in rows:
                names.update(dict.fromkeys(row))
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(list(names))
            for row in rows:
                writer.writerow(["" if row.get(name) is None else str(row[name]) for name in names])
            body = text.getvalue().encode("utf-8")
        else:
            body = b""
    head = json.dumps(meta).encode("utf-8")
    return b"chunked 1.0,%d,%d\n" % (len(head), len(body)) + head + body


def getinfo(args: List[str], dispatch_dir: str) -> Dict[str, Any]:
    """The getinfo metadata splunkd sends first (the fields splunklib reads)."""
    return {
        "action": "getinfo",
        "preview": False,
        "streaming_command_will_restart": False,
        "searchinfo": {
            "args": args,
            "raw_args": args,
            "dispatch_dir": dispatch_dir,
            "earliest_time": "0",
            "latest_time": "0",
            "search": "search%20index%3Dmain%20%7C%20esaauth",
            "sid": "1700000000.42",
            "splunk_version": "9.4.0",
            "app": "TA-cisco-esa-auth",
            "owner": "admin",
            "username": "admin",
            "session_key": "0000",
            "splunkd_uri": "https://127.0.0.1:8089",
            "maxresultrows": 50000,
        },
    }


def conversation(args: List[str], dispatch_dir: str, chunks: Iterable[List[Record]]) -> bytes:
    """The whole input of one run: getinfo, then one execute message per list of records, the last finished."""
    parts = [chunk(getinfo(args, dispatch_dir))]
    batches = list(chunks)
    for index, records in enumerate(batches):
        parts.append(chunk({"action": "execute", "finished": index == len(batches) - 1}, records))
    return b"".join(parts)


def parse(data: bytes) -> List[Tuple[Dict[str, Any], List[Record]]]:
    """Split a command's output into (metadata, records) messages; multivalue fields come back as lists.

    Raises:
        ValueError: the output is not a well-formed sequence of chunks.
    """
    out: List[Tuple[Dict[str, Any], List[Record]]] = []
    pos = 0
    while pos < len(data):
        match = _HEADER.match(data, pos)
        if match is None:
            raise ValueError(f"not a chunk header at byte {pos}: {data[pos : pos + 60]!r}")
        meta_len, body_len = int(match.group(1)), int(match.group(2))
        start = match.end()
        meta = json.loads(data[start : start + meta_len].decode("utf-8"))
        body = data[start + meta_len : start + meta_len + body_len]
        if len(body) != body_len:
            raise ValueError(f"chunk body cut short at byte {start + meta_len}")
        out.append((meta, _records(body.decode("utf-8"))))
        pos = start + meta_len + body_len
    return out


def _records(body: str) -> List[Record]:
    if not body:
        return []
    rows = list(csv.reader(io.StringIO(body)))
    header, rows = rows[0], rows[1:]
    records: List[Record] = []
    for row in rows:
        values = dict(zip(header, row))
        record: Record = {}
        for name in header:
            if name.startswith("__mv_"):
                continue
            multi = values.get("__mv_" + name, "")
            if multi:
                record[name] = [v.replace("$$", "$") for v in multi[1:-1].split("$;$")]
            elif values[name] != "":
                record[name] = values[name]
        records.append(record)
    return records


def messages(meta: Dict[str, Any]) -> List[Tuple[str, str]]:
    """The (level, text) messages a chunk's metadata carries for the search inspector."""
    inspector = meta.get("inspector") or {}
    return [(str(level), str(text)) for level, text in inspector.get("messages", [])]
