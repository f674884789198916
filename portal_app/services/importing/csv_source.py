"""CSV exports: the header, the guessed column mapping, and the rows as `SourceRow`s.

The file is streamed (one row in memory at a time). Line numbers are the file's own (a quoted
value with line breaks moves them on), so staff can find a refused row in a text editor.
Dates are read as MM/DD/YYYY, M/D/YY or YYYY-MM-DD; anything else, or a date that cannot exist,
is that row's error and never a guess.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from portal_app.services import clock
from portal_app.services.errors import InvalidInput
from portal_app.services.importing.rows import SourceRow
from portal_app.services.patient_records import FIELDS, PatientRecord

# One cell may be this long (a 10 MB line is a refused row, not a crash or 10 MB in memory twice).
FIELD_LIMIT = 100_000
csv.field_size_limit(FIELD_LIMIT)

DATE_FIELDS = ("dob", "last_visit")
BOOL_FIELDS = ("allow_email", "allow_sms", "deceased")
_TRUE = {"y", "yes", "true", "t", "1"}
_FALSE = {"n", "no", "false", "f", "0"}

# Header names seen in EHR exports, compared without case, spaces or punctuation.
_NAMES: dict[str, tuple[str, ...]] = {
    "chart_number": ("chartnumber", "chart", "chartno", "chartnum", "chartid", "mrn", "medicalrecordnumber",
                     "medicalrecordno", "patientid", "patientnumber", "patientno", "accountnumber", "accountno",
                     "ptid", "id"),
    "first_name": ("firstname", "first", "givenname", "given", "fname", "patientfirstname", "forename"),
    "middle_name": ("middlename", "middle", "middleinitial", "mi", "mname"),
    "last_name": ("lastname", "last", "surname", "familyname", "family", "lname", "patientlastname"),
    "preferred_name": ("preferredname", "preferred", "nickname", "goesby", "knownas"),
    "sex": ("sex", "gender", "sexatbirth", "birthsex", "administrativegender"),
    "dob": ("dob", "dateofbirth", "birthdate", "birthday", "birthdt", "bdate", "born"),
    "email": ("email", "emailaddress", "mail", "patientemail"),
    "mobile_phone": ("mobilephone", "mobile", "cell", "cellphone", "cellular", "mobilenumber", "cellnumber",
                     "sms", "textphone"),
    "home_phone": ("homephone", "home", "phone", "telephone", "phonenumber", "homenumber", "tel"),
    "address": ("address", "address1", "addressline1", "street", "streetaddress", "addr", "addr1"),
    "city": ("city", "town", "locality"),
    "state": ("state", "province", "region", "st"),
    "postal_code": ("postalcode", "zip", "zipcode", "postcode", "zip5"),
    "allow_email": ("allowsemail", "allowemail", "emailconsent", "emailok", "consentemail", "okemail",
                    "mayemail"),
    "allow_sms": ("allowstextmessages", "allowtextmessages", "allowstext", "allowtext", "allowsms", "smsconsent",
                  "textconsent", "textok", "smsok", "consenttext", "consentsms", "maytext"),
    "deceased": ("deceased", "isdeceased", "dead", "expired", "deceasedflag", "deathindicator"),
    "last_visit": ("lastvisit", "lastvisitdate", "lastseen", "lastappointment", "lastappt", "lastencounter",
                   "lastdos", "lastserviced"),
}
_SEX = {"f": "Female", "female": "Female", "w": "Female", "m": "Male", "male": "Male", "o": "Other",
        "other": "Other", "u": "Unknown", "unknown": "Unknown", "unk": "Unknown"}
_DATE_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _key(column: str) -> str:
    text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", text.replace("#", "number"))


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """Our field -> the file's column, for the columns whose header is a common name for it.
    A column is guessed for one field at most (the first field, in FIELDS order, that names it)."""
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(_key(column), column)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field in FIELDS:
        for name in _NAMES.get(field, ()):
            found = by_key.get(name)
            if found is not None and found not in used:
                mapping[field] = found
                used.add(found)
                break
    return mapping


def check_mapping(mapping: dict[str, str], columns: list[str]) -> dict[str, str]:
    """The mapping without its blank choices, in FIELDS order.

    Raises:
        InvalidInput: `field=` our field whose column is unknown or already mapped to an earlier
            field, or "chart_number" when the chart number is not mapped.
    """
    kept: dict[str, str] = {}
    owner: dict[str, str] = {}
    for field in FIELDS:
        column = (mapping.get(field) or "").strip()
        if not column:
            continue
        if column not in columns:
            raise InvalidInput(f"The file has no column “{column}”.", field=field)
        if column in owner:
            raise InvalidInput(f"The column “{column}” is already used for {FIELDS[owner[column]]}; "
                               f"choose another column for {FIELDS[field]} or leave it unmapped.", field=field)
        owner[column] = field
        kept[field] = column
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"We have no field called “{unknown[0]}”.", field=unknown[0])
    if "chart_number" not in kept:
        raise InvalidInput("Choose the column that holds the chart number (MRN): every row is matched on it.",
                           field="chart_number")
    return kept


def parse_date(text: str, *, label: str, today: date | None = None) -> date | None:
    """MM/DD/YYYY, M/D/YY or YYYY-MM-DD; blank is None. A two-digit year is the latest year that
    is not in the future (a birth date, a visit or a death is never in the future).

    Raises:
        InvalidInput: a date that cannot exist, or written in another form (e.g. 03-04-2020,
            which could be March 4 or April 3).
    """
    text = text.strip()
    if not text:
        return None
    today = today or clock.now().date()
    us = _DATE_US.fullmatch(text)
    iso = None if us else _DATE_ISO.fullmatch(text)
    if us:
        month, day, year = int(us[1]), int(us[2]), int(us[3])
        if len(us[3]) == 2:
            year += 2000 if 2000 + year <= today.year else 1900
    elif iso:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3])
    else:
        raise InvalidInput(f"{label} “{text[:40]}” is not a date we read without guessing: write it "
                           "MM/DD/YYYY or YYYY-MM-DD.")
    try:
        value = date(year, month, day)
    except ValueError:
        raise InvalidInput(f"{label} “{text}” is not a real date.") from None
    if us and len(us[3]) == 2 and value > today:
        value = value.replace(year=value.year - 100)
    return value


def parse_bool(text: str, *, label: str) -> bool | None:
    """Y/N, yes/no, true/false, 1/0 (any case); blank is None (the chart keeps its value)."""
    word = text.strip().lower()
    if not word:
        return None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidInput(f"{label} “{text[:20]}” should be Y or N.")


def header(path: str | Path, *, encoding: str, delimiter: str) -> list[str]:
    """The header row's column names (trimmed).

    Raises:
        InvalidInput: the header is unreadable, has a blank or repeated name, or no row follows it.
    """
    with open(path, encoding=encoding, newline="", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            columns = [cell.strip() for cell in next(reader)]
            second = next((row for row in reader if any(cell.strip() for cell in row)), None)
        except StopIteration:
            raise InvalidInput("The file is empty.", field="file") from None
        except csv.Error:
            raise InvalidInput("The first rows of the file cannot be read as CSV (a value is too long or "
                               "a quote is not closed).", field="file") from None
    seen: set[str] = set()
    for number, column in enumerate(columns, start=1):
        if not column:
            raise InvalidInput(f"Column {number} of the header row has no name.", field="file")
        if column in seen:
            raise InvalidInput(f"The header row names the column “{column}” twice.", field="file")
        seen.add(column)
    if second is None:
        raise InvalidInput("The file has a header row but no patients below it.", field="file")
    return columns


def _record(cells: list[str], positions: dict[str, int], today: date) -> PatientRecord:
    values: dict[str, object] = {}
    for field, position in positions.items():
        text = cells[position]
        if field in DATE_FIELDS:
            values[field] = parse_date(text, label=FIELDS[field], today=today)
        elif field in BOOL_FIELDS:
            values[field] = parse_bool(text, label=FIELDS[field])
        elif field == "sex":
            values[field] = _SEX.get(text.strip().lower(), text)
        elif field == "address":  # a quoted address over two lines ("12 Oak St\nApt 4") is one line here
            values[field] = ", ".join(part.strip() for part in text.splitlines() if part.strip())
        else:
            values[field] = text
    return PatientRecord(**values)  # type: ignore[arg-type]


def read(path: str | Path, *, encoding: str, delimiter: str, mapping: dict[str, str],
         today: date | None = None, charts_only: bool = False) -> Iterator[SourceRow]:
    """Every data row as a SourceRow (blank lines are left out), streamed.

    Args:
        mapping: our field -> column (checked with `check_mapping`).
        charts_only: a quick pass for the chart numbers and line numbers alone (no record).
    """
    today = today or clock.now().date()
    with open(path, encoding=encoding, newline="", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        columns = [cell.strip() for cell in next(reader, [])]
        mapping = check_mapping(mapping, columns)
        positions = {field: columns.index(column) for field, column in mapping.items()}
        chart_at = positions["chart_number"]
        width = len(columns)
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield SourceRow(line=line, error=f"This row cannot be read: a value is over {FIELD_LIMIT:,} "
                                "characters or a quote is not closed.")
                line = reader.line_num + 1
                continue
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            chart = cells[chart_at].strip() if chart_at < len(cells) else ""
            if len(cells) < width or any(cell.strip() for cell in cells[width:]):
                yield SourceRow(line=start, chart_number=chart,
                                error=f"This row has {len(cells)} values; the header has {width} columns.")
                continue
            if charts_only:
                yield SourceRow(line=start, chart_number=chart)
                continue
            try:
                record = _record(cells, positions, today)
            except InvalidInput as refused:
                yield SourceRow(line=start, chart_number=chart, error=refused.message)
                continue
            yield SourceRow(line=start, record=record, chart_number=chart)
