"""What every reader (CSV, FHIR Bundle, FHIR NDJSON) yields: one source row at a time."""

from __future__ import annotations

from dataclasses import dataclass

from portal_app.services.patient_records import PatientRecord


@dataclass(frozen=True)
class SourceRow:
    """One record of the file. `line` is the file's line number (CSV, NDJSON) or the entry's
    position in a Bundle (1-based), as staff will look it up. Exactly one of: `record` (readable),
    `error` (refused, with the reason in words), `skipped` (not a patient, e.g. an Observation)."""

    line: int
    record: PatientRecord | None = None
    error: str = ""
    skipped: bool = False
    chart_number: str = ""  # as read, when known, even for a refused row
