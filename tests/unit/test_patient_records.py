"""The one upsert behind every way a chart comes in (CSV, FHIR, ADT, the "New patient" form)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event
from sqlmodel import select

from portal_app.models import AuditEvent, Patient
from portal_app.services import audit, patient_records
from portal_app.services.errors import InvalidInput
from portal_app.services.patient_records import PatientRecord

ACTOR = audit.Actor.system("test import")


def _record(**values) -> PatientRecord:
    base = dict(chart_number="MRN-001", first_name="Zoë", last_name="Nguyễn-Smith", dob=date(1990, 2, 28),
                email="Zoe.Nguyen@Example.com", mobile_phone="(512) 555-0142")
    return PatientRecord(**{**base, **values})


def test_a_new_chart_is_created_with_phones_in_e164_and_the_email_as_typed(session, frozen_clock):
    outcome = patient_records.upsert(session=session, record=_record(), actor=ACTOR, source="csv")
    session.commit()
    patient = session.exec(select(Patient)).one()
    assert outcome.kind == "new" and outcome.patient_id == patient.id
    assert (patient.email, patient.email_lower) == ("Zoe.Nguyen@Example.com", "zoe.nguyen@example.com")
    assert patient.mobile_phone == "+15125550142" and patient.sort_key.startswith("nguyễn-smith")
    assert patient.allow_email is True and patient.portal_enabled is False
    assert session.exec(select(AuditEvent.action)).all() == ["chart.create"]


def test_the_same_record_twice_changes_nothing_and_a_change_is_audited_old_to_new(session, frozen_clock):
    patient_records.upsert(session=session, record=_record(), actor=ACTOR, source="csv")
    again = patient_records.upsert(session=session, record=_record(), actor=ACTOR, source="csv")
    assert again.kind == "unchanged"
    changed = patient_records.upsert(session=session, record=_record(city="Austin", middle_name=None),
                                     actor=ACTOR, source="csv")
    session.commit()
    assert changed.kind == "updated" and changed.changed_fields() == "City"
    detail = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "chart.update")).one()
    assert detail == "source=csv; City:  -> Austin"


def test_a_dry_run_writes_nothing(session, frozen_clock):
    outcome = patient_records.upsert(session=session, record=_record(), actor=ACTOR, source="csv", dry_run=True)
    session.commit()
    assert outcome.kind == "new" and session.exec(select(Patient)).all() == []


@pytest.mark.parametrize(("values", "field"), [
    ({"first_name": None}, "first_name"),
    ({"dob": date(2031, 1, 1)}, "dob"),
    ({"email": "not an address"}, "email"),
    ({"mobile_phone": "12"}, "mobile_phone"),
    ({"chart_number": "x" * 65}, "chart_number"),
])
def test_bad_fields_are_refused_by_name_and_a_batch_keeps_the_good_rows(session, frozen_clock, values, field):
    results = patient_records.upsert_many(
        session=session, records=[_record(**values), _record(chart_number="MRN-002")], actor=ACTOR, source="csv")
    session.commit()
    assert isinstance(results[0], InvalidInput) and results[0].field == field
    assert session.exec(select(Patient.chart_number)).all() == ["MRN-002"]


def test_the_ehrs_number_that_is_not_a_real_one_is_kept_as_written_but_staff_typing_it_are_refused(session):
    record = _record(chart_number="59a8543c-e24f-4a01-b28b-47ccde6bc11d", home_phone="555-907-9875")
    outcome = patient_records.upsert(session=session, record=record, actor=ACTOR, source="fhir")
    session.commit()
    patient = session.get(Patient, outcome.patient_id)
    assert (patient.chart_number, patient.home_phone) == (record.chart_number, "555-907-9875")
    with pytest.raises(InvalidInput) as refused:
        patient_records.upsert(session=session, record=_record(chart_number="F-1", home_phone="555-907-9875"),
                               actor=ACTOR, source=patient_records.FORM_SOURCE)
    assert refused.value.field == "home_phone"
    with pytest.raises(InvalidInput):
        patient_records.upsert(session=session, record=_record(chart_number="F-2", home_phone="ask at desk"),
                               actor=ACTOR, source="csv")
    with pytest.raises(InvalidInput) as too_long:
        patient_records.upsert(session=session, record=_record(chart_number="x" * 65), actor=ACTOR, source="csv")
    assert too_long.value.field == "chart_number"


def test_a_re_import_of_unchanged_charts_loads_no_chart_and_a_changed_one_is_still_updated(session, frozen_clock):
    records = [_record(chart_number=f"MRN-{n}") for n in range(3)]
    patient_records.upsert_many(session=session, records=records, actor=ACTOR, source="csv")
    session.commit()
    session.expunge_all()
    loaded: list[str] = []

    def count(patient: Patient, _context: object) -> None:
        loaded.append(patient.chart_number)

    event.listen(Patient, "load", count)
    try:
        again = patient_records.upsert_many(session=session, records=records, actor=ACTOR, source="csv")
    finally:
        event.remove(Patient, "load", count)
    assert [outcome.kind for outcome in again] == ["unchanged"] * 3  # type: ignore[union-attr]
    assert loaded == []  # (plain rows compared, no Patient built per unchanged chart)
    changed = patient_records.upsert_many(session=session, records=[*records[:2], _record(chart_number="MRN-2",
                                                                                             city="Austin")],
                                          actor=ACTOR, source="csv")
    assert [outcome.kind for outcome in changed] == ["unchanged", "unchanged", "updated"]  # type: ignore[union-attr]
    assert session.exec(select(Patient.city).where(Patient.chart_number == "MRN-2")).one() == "Austin"


def test_bulk_insert_puts_a_value_shared_by_every_row_in_its_stored_form_once(session):
    import sqlalchemy as sa

    calls: list[object] = []

    class Counted(sa.types.TypeDecorator):
        impl = sa.String
        cache_ok = True

        def process_bind_param(self, value, dialect):
            calls.append(value)
            return f"<{value}>"

    table = sa.Table("bulk_probe", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("tag", Counted()))
    table.create(session.connection())
    shared = "batch"
    patient_records.bulk_insert(session, table, [{"tag": shared}, {"tag": shared}, {"tag": "own"}, {"tag": None}])
    assert calls == ["batch", "own"]
    stored = [row[0] for row in session.execute(sa.select(table.c.tag).order_by(table.c.id))]
    assert stored == ["<batch>", "<batch>", "<own>", None]


def test_bidi_controls_are_stripped_from_every_imported_field(session, frozen_clock):
    record = _record(chart_number="MRN-\u202e001", first_name="\u202eaiR\u202c", last_name="Nguy\u2067ễn\u2069",
                     email="\u200eZoe.Nguyen@Example.com", mobile_phone="(512)\u061c 555-0142", city="Aus\u202atin")
    cleaned = patient_records.clean(record)
    assert (cleaned.chart_number, cleaned.first_name, cleaned.last_name, cleaned.email, cleaned.mobile_phone,
            cleaned.city) == ("MRN-001", "aiR", "Nguyễn", "Zoe.Nguyen@Example.com", "+15125550142", "Austin")
    patient_records.upsert(session=session, record=record, actor=ACTOR, source="csv")
    session.commit()
    patient = session.exec(select(Patient)).one()
    assert (patient.chart_number, patient.first_name, patient.last_name) == ("MRN-001", "aiR", "Nguyễn")
