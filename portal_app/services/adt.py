"""HL7 v2 ADT messages from the practice's EHR: read one message with the `hl7` library, apply it
to the charts in one transaction, and answer with an ACK built by the library.

Events: A04 and A28 register (or update) a chart, A08 and A31 update a known chart, A40 merges the
chart named in MRG-1 into the one in PID-3 (`chart_merge`), A23 and A29 (the EHR deleted the
record) turn the chart's portal access off. Every chart change goes through
`patient_records.upsert` (source "adt A08" etc.), so PID-30 = Y (deceased) runs the automatic
access rules like any other source.

An applied message is answered AA; a refused one AE with the reason in MSA-3 and an ERR segment
(where, HL7 table 0357 code, our words), and changes nothing. Every message is audited
(`adt.message`) with its control id (MSH-10), event and outcome, never its content.

Empty HL7 components mean "not sent" (the chart keeps what it has); the HL7 null `""` means
"the EHR says empty" and clears the field. No sockets here: `portal_app/adt_listener.py` carries
the messages over MLLP.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
import traceback
from dataclasses import dataclass
from datetime import date

import hl7  # type: ignore[import-untyped]  # (no stubs; its objects are Any here)
from sqlmodel import Session

from portal_app.models import Patient, ident
from portal_app.services import audit, chart_merge, patient_records
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.patient_records import PatientRecord

log = logging.getLogger(__name__)

ACTOR = audit.Actor.system("ADT feed")
EVENTS = {"A04": "register", "A28": "register", "A08": "update", "A31": "update", "A40": "merge",
          "A23": "delete", "A29": "delete"}
SEX_CODES = {"F": "Female", "M": "Male", "O": "Other", "A": "Other", "U": "", "N": ""}
# HL7 table 0357 (message error condition codes) used in ERR-3.
ERROR_NAMES = {"100": "Segment sequence error", "101": "Required field missing", "102": "Data type error",
               "103": "Table value not found", "200": "Unsupported message type", "201": "Unsupported event code",
               "204": "Unknown key identifier", "207": "Application internal error"}
# Where each record field comes from, for the ERR segment of a refused value.
_WHERE = {"chart_number": "PID^1^3", "first_name": "PID^1^5", "middle_name": "PID^1^5", "last_name": "PID^1^5",
          "sex": "PID^1^8", "dob": "PID^1^7", "email": "PID^1^13", "mobile_phone": "PID^1^13",
          "home_phone": "PID^1^13", "address": "PID^1^11", "city": "PID^1^11", "state": "PID^1^11",
          "postal_code": "PID^1^11", "deceased": "PID^1^29", "last_visit": "PV1^1^44"}
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
NOT_SAVED = "The message could not be applied because of an error here; send it again later."
_PRINTABLE = re.compile(r"[^\x21-\x7e]")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2}(\d{2}(\d{2}(\.\d{1,4})?)?)?)?([+-]\d{4})?$")


class Refused(Exception):
    """The message cannot be applied: `text` for MSA-3/ERR, `code` from table 0357, `where` a
    location such as "PID^1^3"."""

    def __init__(self, text: str, *, code: str = "207", where: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.where = where


@dataclass(frozen=True)
class Handled:
    code: str  # AA or AE (MSA-1)
    control_id: str  # MSH-10 as received ("" when it could not be read)
    event: str  # A04... ("" when it could not be read)
    text: str  # what was done, or why not (MSA-3 on AE)
    error_code: str  # HL7 table 0357 on AE, "" on AA
    where: str  # ERR-2 location on AE
    ack: str  # the ACK, segments ended by CR


def log_failure(what: str) -> None:
    """Log the exception being handled by its type and stack only: its message (a database error
    quotes the statement's values) may carry patient data, which never goes to the log."""
    error = sys.exc_info()[1]
    stack = "".join(traceback.format_tb(error.__traceback__)) if error is not None else ""
    log.error("%s: %s (message withheld: it may quote patient data)\n%s", what, type(error).__name__, stack)


# ---- reading a message ----------------------------------------------------------------------


def _guess_control_id(text: str) -> str:
    """MSH-10 read by position, for a message the library cannot parse (to echo it in MSA-2)."""
    first = text.split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return ""
    parts = first.split(first[3])
    return _clean_id(parts[9]) if len(parts) > 9 else ""


def _clean_id(value: str) -> str:
    return _PRINTABLE.sub("", value)[:50]


def parse(text: str) -> hl7.Message:
    """One message, segments ended by CR (LF and CRLF are read as CR, as many senders use them).

    Raises:
        Refused: no MSH first, separators other than the standard |^~\\&, or lines that are not segments.
    """
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\x00 \t")
    if not text.startswith("MSH"):
        raise Refused("The message does not start with an MSH segment.", code="100", where="MSH")
    if text[3:4] != "|" or not text[4:9].startswith("^~\\&"):
        raise Refused("The message does not use the standard HL7 separators |^~\\& in MSH-1 and MSH-2.",
                      code="102", where="MSH^1^1")
    try:
        message = hl7.parse(text)
    except (hl7.ParseException, ValueError, IndexError) as error:
        raise Refused(f"The message is not HL7 v2: {error}.", code="100", where="MSH") from None
    for number, segment in enumerate(message, start=1):
        if not _SEGMENT_ID.match(str(segment[0])):
            raise Refused(f"Segment {number} is not an HL7 segment.", code="100", where=str(number))
    return message


def _value(segment: hl7.Segment, field: int, repetition: int = 1, component: int = 1, sub: int = 1) -> str:
    """One value of a segment ("" when absent), unescaped by the library."""
    try:
        return str(segment.extract_field(1, field, repetition, component, sub)).strip()
    except (IndexError, TypeError):
        return ""


def _repetitions(segment: hl7.Segment, field: int) -> int:
    if field >= len(segment):
        return 0
    value = segment(field)
    if len(value) and isinstance(value[0], hl7.Repetition):
        return len(value)
    return 1 if str(value) else 0


def _given(value: str) -> str | None:
    """An HL7 value as a record field: "" not sent (None), the HL7 null '""' clears ("")."""
    if value == '""':
        return ""
    return value or None


def _segment(message: hl7.Message, name: str) -> hl7.Segment | None:
    try:
        return message.segment(name)
    except KeyError:
        return None


def _date(value: str, *, where: str, label: str) -> date | None:
    """YYYYMMDD[HHMM[SS[.S]]][+ZZZZ] -> the date (None when empty)."""
    if not value or value == '""':
        return None
    found = _DATE.match(value)
    try:
        if found is None:
            raise ValueError(value)
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        raise Refused(f"{label} {value} is not a date (YYYYMMDD).", code="102", where=where) from None


def _chart(segment: hl7.Segment, field: int, *, where: str, label: str) -> str:
    """The chart number of a CX list: the repetition typed MR, else the first."""
    count = _repetitions(segment, field)
    chosen = next((r for r in range(1, count + 1) if _value(segment, field, r, 5).upper() == "MR"), 1)
    number = _value(segment, field, chosen, 1)
    if not number or number == '""':
        raise Refused(f"{label} is missing.", code="101", where=where)
    return number


def _name(pid: hl7.Segment) -> dict[str, str | None]:
    """PID-5: the legal (L) name if typed, else the first: family^given^middle."""
    count = _repetitions(pid, 5)
    chosen = next((r for r in range(1, count + 1) if _value(pid, 5, r, 7).upper() == "L"), 1)
    return {"last_name": _given(_value(pid, 5, chosen, 1)), "first_name": _given(_value(pid, 5, chosen, 2)),
            "middle_name": _given(_value(pid, 5, chosen, 3))}


def _address(pid: hl7.Segment) -> dict[str, str | None]:
    """PID-11: the home (H) address if typed, else the first: street^other^city^state^zip."""
    count = _repetitions(pid, 11)
    if count == 0:
        return {}
    chosen = next((r for r in range(1, count + 1) if _value(pid, 11, r, 7).upper() == "H"), 1)
    street, other = _value(pid, 11, chosen, 1), _value(pid, 11, chosen, 2)
    line = ", ".join(part for part in (street, other) if part and part != '""') or street
    return {"address": _given(line), "city": _given(_value(pid, 11, chosen, 3)),
            "state": _given(_value(pid, 11, chosen, 4)), "postal_code": _given(_value(pid, 11, chosen, 5))}


def _number(segment: hl7.Segment, field: int, repetition: int) -> str:
    """An XTN's telephone number: XTN-1, else country + area + local number (+ extension)."""
    whole = _value(segment, field, repetition, 1)
    if whole:
        return whole
    parts = [_value(segment, field, repetition, c) for c in (5, 6, 7)]
    number = " ".join(part for part in parts if part)
    extension = _value(segment, field, repetition, 8)
    return f"{number} x{extension}" if number and extension else number


def _telecoms(pid: hl7.Segment) -> dict[str, str | None]:
    """PID-13 (home) and PID-14 (business): email (use NET or equipment Internet/X.400),
    mobile (equipment CP), else the first home number."""
    found: dict[str, str | None] = {}
    for field in (13, 14):
        for repetition in range(1, _repetitions(pid, field) + 1):
            use = _value(pid, field, repetition, 2).upper()
            equipment = _value(pid, field, repetition, 3).upper()
            if use == "NET" or equipment in ("INTERNET", "X.400"):
                email = _value(pid, field, repetition, 4) or _value(pid, field, repetition, 1)
                found.setdefault("email", _given(email))
            elif equipment == "CP" or use == "CP":
                found.setdefault("mobile_phone", _given(_number(pid, field, repetition)))
            elif field == 13:
                found.setdefault("home_phone", _given(_number(pid, field, repetition)))
    return {key: value for key, value in found.items() if value is not None}


def _deceased(pid: hl7.Segment) -> dict[str, object]:
    died = _date(_value(pid, 29), where="PID^1^29", label="PID-29 date of death")
    flag = _value(pid, 30).upper()
    if flag not in ("", "Y", "N", '""'):
        raise Refused(f"PID-30 deceased indicator {flag} is not Y or N.", code="103", where="PID^1^30")
    values: dict[str, object] = {}
    if flag == "Y" or (died is not None and flag != "N"):
        values = {"deceased": True, "deceased_on": died}
    elif flag == "N":
        values = {"deceased": False}
    return {key: value for key, value in values.items() if value is not None}


def record_of(message: hl7.Message) -> PatientRecord:
    """PID (and PV1-44) as a `PatientRecord`.

    Raises:
        Refused: no PID, no PID-3, a date that is not one, a sex or deceased code we do not know.
    """
    pid = _segment(message, "PID")
    if pid is None:
        raise Refused("The message has no PID segment.", code="100", where="PID")
    values: dict[str, object] = {"chart_number": _chart(pid, 3, where="PID^1^3", label="PID-3 patient identifier")}
    values.update(_name(pid))
    values["dob"] = _date(_value(pid, 7), where="PID^1^7", label="PID-7 date of birth")
    sex = _value(pid, 8).upper()
    if sex and sex != '""':
        if sex not in SEX_CODES:
            raise Refused(f"PID-8 sex {sex} is not one of F, M, O, A, U, N.", code="103", where="PID^1^8")
        values["sex"] = SEX_CODES[sex]
    values.update(_address(pid))
    values.update(_telecoms(pid))
    values.update(_deceased(pid))
    pv1 = _segment(message, "PV1")
    if pv1 is not None:
        values["last_visit"] = _date(_value(pv1, 44), where="PV1^1^44", label="PV1-44 admit date")
    return PatientRecord(**{key: value for key, value in values.items() if value is not None})  # type: ignore[arg-type]


def event_of(message: hl7.Message) -> str:
    """The trigger event (MSH-9.2, else EVN-1) of an ADT message.

    Raises:
        Refused: not ADT, or an event we do not handle.
    """
    msh = message.segment("MSH")
    kind = _value(msh, 9, 1, 1).upper()
    event = _value(msh, 9, 1, 2).upper()
    evn = _segment(message, "EVN")
    if not event and evn is not None:
        event = _value(evn, 1).upper()
    if kind != "ADT":
        raise Refused(f"Message type {kind or '(none)'} is not ADT.", code="200", where="MSH^1^9")
    if event not in EVENTS:
        raise Refused(f"Event {event or '(none)'} is not one we handle (A04, A08, A23, A28, A29, A31, A40).",
                      code="201", where="MSH^1^9")
    return event


# ---- applying a message ---------------------------------------------------------------------


def _unknown(number: str, where: str, event: str) -> Refused:
    return Refused(f"Chart {number} is not known here ({event} changes a chart that exists; "
                   "send A04 or A28 to register it).", code="204", where=where)


def _known(session: Session, number: str, where: str, event: str) -> Patient:
    patient = patient_records.find(session=session, chart_number=number)
    if patient is None:
        raise _unknown(number, where, event)
    return patient


def _upsert(session: Session, record: PatientRecord, event: str, actor: audit.Actor) -> tuple[int, str]:
    outcome = patient_records.upsert(session=session, record=record, actor=actor, source=f"adt {event}")
    words = outcome.kind + (f" ({outcome.changed_fields()})" if outcome.changes else "")
    notes = "; ".join(outcome.notes)
    return ident(outcome.patient_id), words + (f"; {notes}" if notes else "")


def _merge(session: Session, message: hl7.Message, record: PatientRecord, actor: audit.Actor) -> tuple[int, str]:
    mrg = _segment(message, "MRG")
    if mrg is None:
        raise Refused("An A40 needs an MRG segment naming the merged chart.", code="100", where="MRG")
    merged_number = _chart(mrg, 1, where="MRG^1^1", label="MRG-1 merged patient identifier")
    if merged_number == record.chart_number:
        raise Refused("MRG-1 names the same chart as PID-3; nothing to merge.", code="102", where="MRG^1^1")
    surviving = _known(session, record.chart_number, "PID^1^3", "A40")
    merged = _known(session, merged_number, "MRG^1^1", "A40")
    if merged.merged_into_id == surviving.id:
        return ident(surviving), f"chart {merged_number} was already merged into chart {record.chart_number}"
    patient_id, words = _upsert(session, record, "A40", actor)
    done = chart_merge.merge(session=session, surviving=surviving, merged=merged, actor=actor, source="adt A40")
    return patient_id, f"{words}; chart {merged_number} merged into chart {record.chart_number} ({done.summary()})"


def _delete(session: Session, record: PatientRecord, event: str, actor: audit.Actor) -> tuple[int, str]:
    patient = _known(session, record.chart_number, "PID^1^3", event)
    note = f"Portal access off: the EHR deleted this record ({event})"
    ended = chart_merge.end_access(session=session, patient=patient, actor=actor, rule=f"adt {event}", note=note)
    return ident(patient), "portal access turned off" if ended else "portal access was already off"


def _apply(session: Session, message: hl7.Message, event: str, actor: audit.Actor) -> tuple[int, str]:
    """Apply one message (not committed). Returns the chart's id and what was done, in words."""
    kind = EVENTS[event]
    if kind == "delete":
        pid = _segment(message, "PID")
        if pid is None:
            raise Refused("The message has no PID segment.", code="100", where="PID")
        number = _chart(pid, 3, where="PID^1^3", label="PID-3 patient identifier")
        return _delete(session, PatientRecord(chart_number=number), event, actor)
    record = record_of(message)
    if kind == "merge":
        return _merge(session, message, record, actor)
    if kind == "update":
        return _update(session, record, event, actor)
    return _upsert(session, record, event, actor)


def _update(session: Session, record: PatientRecord, event: str, actor: audit.Actor) -> tuple[int, str]:
    """An update of a known chart. Upserted first and refused after when the chart turns out to be
    new (the savepoint undoes it): one lookup instead of two for the usual, known chart."""
    try:
        patient_id, words = _upsert(session, record, event, actor)
    except InvalidInput:
        _known(session, record.chart_number, "PID^1^3", event)  # an unknown chart is the better reason
        raise
    if words.startswith("new"):
        raise _unknown(record.chart_number, "PID^1^3", event)
    return patient_id, words


# ---- the ACK --------------------------------------------------------------------------------


def _source_for_ack(message: hl7.Message | None, control_id: str, event: str) -> hl7.Message:
    """The message to acknowledge, or a stand-in MSH when it could not be read (or has no MSH-9.2)."""
    if message is not None and _value(message.segment("MSH"), 9, 1, 2):
        return message
    sender = "|".join(message.escape(_value(message.segment("MSH"), n)) if message is not None else ""
                      for n in (3, 4, 5, 6))
    # create_ack copies MSH-9.2, so the stand-in carries one; an unknown event is blanked after.
    return hl7.parse(f"MSH|^~\\&|{sender}|||ADT^{event or 'X'}|{control_id}|P|2.5")


def build_ack(message: hl7.Message | None, *, code: str, control_id: str = "", event: str = "",
              text: str = "", error_code: str = "", where: str = "") -> str:
    """The ACK (MSH + MSA, and ERR on an error), built with the library's `create_ack`."""
    source = _source_for_ack(message, _clean_id(control_id), re.sub(r"[^A-Z0-9]", "", event))
    ack = source.create_ack(code)
    if not event:
        ack.segment("MSH").assign_field("", 9, 1, 2)
    if text and code != "AA":
        ack.segment("MSA").assign_field(source.escape(text[:200]), 3)
    lines = str(ack).rstrip("\r")
    if code != "AA" and error_code:
        name = ERROR_NAMES.get(error_code, "")
        lines += f"\rERR||{where}|{error_code}^{name}^HL70357|E||||{source.escape(text[:250])}"
    return lines + "\r"


# ---- one message, start to end --------------------------------------------------------------


def _audit(session: Session, actor: audit.Actor, handled: Handled, patient_id: int | None) -> None:
    detail = f"control_id={handled.control_id}; event={handled.event or '?'}; outcome={handled.code}"
    if handled.code != "AA":
        detail += f"; error={handled.error_code}"
    audit.record(session=session, actor=actor, action="adt.message", patient_id=patient_id,
                 detail=f"{detail}; {handled.text}")


def _answer(message: hl7.Message | None, code: str, control_id: str, event: str, text: str,
            error_code: str = "", where: str = "") -> Handled:
    ack = build_ack(message, code=code, control_id=control_id, event=event, text=text,
                    error_code=error_code, where=where)
    return Handled(code, control_id, event, text, error_code, where, ack)


@dataclass
class _Seen:
    """What was read of a message before it was refused (for the ACK)."""

    message: hl7.Message | None = None
    control_id: str = ""
    event: str = ""


def _open_outer_transaction(session: Session) -> None:
    """Begin a real transaction before the first SAVEPOINT (Python's sqlite3 module, in its legacy
    mode, would let the SAVEPOINT be the outermost transaction, and its release would commit)."""
    raw = session.connection().connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection) and not raw.in_transaction:
        raw.execute("BEGIN")


def _attempt(session: Session, text: str, actor: audit.Actor, seen: _Seen) -> tuple[Handled, int]:
    with session.begin_nested():
        seen.message = parse(text)
        seen.control_id = _clean_id(_value(seen.message.segment("MSH"), 10))
        seen.event = _value(seen.message.segment("MSH"), 9, 1, 2).upper()
        seen.event = event_of(seen.message)
        patient_id, words = _apply(session, seen.message, seen.event, actor)
    return _answer(seen.message, "AA", seen.control_id, seen.event, words), patient_id


def apply(*, session: Session, text: str, actor: audit.Actor = ACTOR) -> Handled:
    """Read and apply one message inside a SAVEPOINT of the caller's transaction, and audit it
    (the caller commits). A refused message's savepoint is rolled back: only its audit event stays."""
    _open_outer_transaction(session)
    seen = _Seen()
    patient_id: int | None = None
    try:
        handled, patient_id = _attempt(session, text, actor, seen)
    except Refused as refused:
        handled = _answer(seen.message, "AE", seen.control_id or _guess_control_id(text), seen.event,
                          refused.text, refused.code, refused.where)
    except DomainError as error:
        code = "101" if error.message.startswith("A new chart needs") else "102"
        where = _WHERE.get(error.field, "PID")
        text = error.message if code == "101" else f"{where.replace('^1^', '-')}: {error.message}"
        handled = _answer(seen.message, "AE", seen.control_id, seen.event, text, code, where)
    except Exception:  # noqa: BLE001 - a bug must not take the feed down; the sender retries on AE
        log_failure(f"ADT message {seen.control_id or '-'} ({seen.event or '-'}) could not be applied")
        handled = _answer(seen.message, "AE", seen.control_id, seen.event, NOT_SAVED, "207", "")
    _audit(session, actor, handled, patient_id if handled.code == "AA" else None)
    return handled


def handle(*, session: Session, text: str, actor: audit.Actor = ACTOR) -> Handled:
    """Read, apply and acknowledge one message in its own transaction (committed here): an AE
    leaves the charts exactly as they were, and only its audit event is written."""
    return handle_many(session=session, texts=[text], actor=actor)[0]


def handle_many(*, session: Session, texts: list[str], actor: audit.Actor = ACTOR) -> list[Handled]:
    """Apply messages in order, each in its own SAVEPOINT (so each is all or nothing, and sees the
    ones before it), then commit once: the listener passes the messages that arrived together
    (group commit). If the commit fails, each message is applied again on its own."""
    results = [apply(session=session, text=text, actor=actor) for text in texts]
    try:
        session.commit()
        return results
    except Exception:  # noqa: BLE001 - e.g. another process wrote the same chart at once
        session.rollback()
        if len(texts) > 1:
            return [handle(session=session, text=text, actor=actor) for text in texts]
        log_failure(f"ADT message {results[0].control_id or '-'} ({results[0].event or '-'}) could not be committed")
        return [refuse(session=session, text=texts[0], reason=NOT_SAVED, code="207")]


def refuse(*, session: Session, text: str, reason: str, code: str = "100", actor: audit.Actor = ACTOR) -> Handled:
    """Answer AE without applying anything (a frame that lost its end bytes, data outside a frame,
    a frame too large), echoing the control id when the text has a readable MSH; audited."""
    message: hl7.Message | None = None
    control_id = _guess_control_id(text.replace("\r\n", "\r").replace("\n", "\r"))
    event = ""
    try:
        message = parse(text)
        event = _value(message.segment("MSH"), 9, 1, 2).upper()
    except Refused:
        pass
    where = "MSH" if message is None and code == "100" else ""
    handled = _answer(message, "AE", control_id, event, reason, code, where)
    _audit(session, actor, handled, None)
    session.commit()
    return handled


def log_line(handled: Handled) -> str:
    """One line for the listener's log: control id, event, ACK code (and error code, location);
    never the message's content or the reason's words (they may name a chart)."""
    extra = f" error={handled.error_code} at={handled.where or '-'}" if handled.code != "AA" else ""
    return f"control_id={handled.control_id or '-'} event={handled.event or '-'} ack={handled.code}{extra}"
