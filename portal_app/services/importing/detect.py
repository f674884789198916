"""What an uploaded file is, from its content (never its name): a CSV (with its text encoding and
delimiter), a FHIR JSON Bundle, or FHIR NDJSON (one resource a line, as a Bulk Data `$export`
writes). Only the first SAMPLE bytes are read. Anything else is refused with a sentence staff can
act on."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

from portal_app.services.errors import InvalidInput

SAMPLE = 256 * 1024
CSV = "csv"
BUNDLE = "fhir-bundle"
NDJSON = "ndjson"
FORMATS = (CSV, BUNDLE, NDJSON)
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
# Bytes that never occur in a text export (NUL, and C0 controls other than tab, newline, CR, FF).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_RESOURCE_TYPE = re.compile(r'"resourceType"\s*:\s*"([A-Za-z]+)"')


@dataclass(frozen=True)
class Detected:
    fmt: str  # csv, fhir-bundle, ndjson
    encoding: str  # utf-8-sig, utf-8, cp1252 (a codec name Python opens the file with)
    delimiter: str = ""  # CSV only: "," ";" "\t"

    def describe(self) -> str:
        """E.g. "CSV (UTF-8, semicolon-separated)"."""
        encoding = {"utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8", "cp1252": "Windows-1252"}[self.encoding]
        if self.fmt == CSV:
            return f"CSV ({encoding}, {DELIMITERS[self.delimiter]}-separated)"
        return "FHIR JSON Bundle" if self.fmt == BUNDLE else "FHIR NDJSON"


def _encoding(sample: bytes, whole: bool) -> tuple[str, str]:
    """(codec, decoded sample). UTF-8 when the sample decodes as UTF-8 (a character cut at the
    sample's end is fine), else Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    else:
        codec = "utf-8"
    try:
        return codec, codecs.getincrementaldecoder(codec)().decode(sample, final=whole)
    except UnicodeDecodeError:
        pass
    try:
        return "cp1252", sample.decode("cp1252")
    except UnicodeDecodeError:
        raise InvalidInput("This file is not text in a form we can read (UTF-8 or Windows-1252). "
                           "Export the patients again as CSV or FHIR JSON.", field="file") from None


def _delimiter(header: str) -> str:
    """The delimiter the header line uses most, outside quotes (comma when it has none)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda key: counts[key])
    return best if counts[best] else ","


def _json_kind(text: str) -> str:
    """Bundle or NDJSON, from the start of a JSON file."""
    first_line = text.split("\n", 1)[0].strip()
    try:
        first = json.loads(first_line)
    except ValueError:
        first = None  # a pretty-printed document, or a line longer than the sample
    if isinstance(first, dict):
        kind = first.get("resourceType")
        if not isinstance(kind, str) or not kind:
            raise InvalidInput("This JSON file is not FHIR: its first resource has no resourceType.", field="file")
        return BUNDLE if kind == "Bundle" else NDJSON
    if first is not None:
        raise InvalidInput("This JSON file is not FHIR: it should hold a Bundle or one resource a line.",
                           field="file")
    found = _RESOURCE_TYPE.search(text)
    if found is None:
        raise InvalidInput("This JSON file is not FHIR: it has no resourceType.", field="file")
    return BUNDLE


def detect(path: str | Path) -> Detected:
    """The file's format, encoding and (CSV) delimiter.

    Raises:
        InvalidInput (field "file"): empty, binary, not text we read, or JSON that is not FHIR.
    """
    with open(path, "rb") as handle:
        sample = handle.read(SAMPLE)
        whole = not handle.read(1)
    if not sample.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InvalidInput("The file is empty.", field="file")
    if _BINARY.search(sample):
        raise InvalidInput("This file is not a text export (it looks like a spreadsheet, archive or image). "
                           "Save it as CSV or export FHIR JSON, then upload that.", field="file")
    codec, text = _encoding(sample, whole)
    start = text.lstrip()
    if start[:1] in "{[":
        if start[:1] == "[":
            raise InvalidInput("This JSON file is not FHIR: it should hold a Bundle or one resource a line.",
                               field="file")
        return Detected(_json_kind(start), codec)
    header = start.split("\n", 1)[0]
    return Detected(CSV, codec, _delimiter(header))
