"""CSV files staff download: every cell made safe to open in a spreadsheet.

A cell that starts with = + - @, a tab or a carriage return is a formula to Excel and its kin
("=HYPERLINK(...)" typed as a patient's name would run on the manager's machine), so such a
cell is written with an apostrophe before it (OWASP's advice for CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text, with an apostrophe in front when a spreadsheet would read a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> tuple[bytes, int]:
    """The file (UTF-8 with a byte-order mark, so spreadsheets read accents) and how many rows
    it holds besides the header. `rows` may be a generator: rows are written as they come."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(cell) for cell in header])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        count += 1
    return buffer.getvalue().encode("utf-8-sig"), count
