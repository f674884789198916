"""The "New patient" form's rules: the import's checks, create-only, probable duplicates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, Patient
from portal_app.services import audit, new_patient, patient_records
from portal_app.services.errors import FormInvalid, InvalidInput
from portal_app.services.new_patient import NewPatientForm, ProbableDuplicate
from tests.unit.conftest import make_patient

ACTOR = audit.Actor.system("test form")
TODAY = date(2026, 11, 23)  # the frozen clock's day


def _form(**values) -> NewPatientForm:
    base = dict(chart_number="  C0000777 ", first_name=" Zoë ", last_name="Nguyễn-Smith", dob="02/28/1990",
                email=" Zoe.Nguyen@Example.com ", mobile_phone="(512) 555-0142", sex="Female",
                address="12 Oak St.", city="Austin", state="TX", postal_code="78701")
    return NewPatientForm(**{**base, **values})


def test_a_chart_is_created_as_typed_trimmed_with_phones_in_e164_and_audited_as_the_form(session, frozen_clock):
    created = new_patient.create(session=session, form=_form(home_phone="512-555-0199", last_visit="2026-10-01"),
                                 actor=ACTOR)
    patient = session.exec(select(Patient)).one()
    assert (created.patient_id, created.chart_number) == (patient.id, "C0000777")
    assert created.notice == "Chart C0000777 created."
    assert (patient.first_name, patient.last_name, patient.email) == ("Zoë", "Nguyễn-Smith", "Zoe.Nguyen@Example.com")
    assert (patient.mobile_phone, patient.home_phone) == ("+15125550142", "+15125550199")
    assert (patient.dob, patient.last_visit_on, patient.sex) == (date(1990, 2, 28), date(2026, 10, 1), "Female")
    assert (patient.address_line1, patient.region, patient.postal_code) == ("12 Oak St.", "TX", "78701")
    events = session.exec(select(AuditEvent.action, AuditEvent.detail)).all()
    assert events == [("chart.create", "source=form")]


def test_consent_is_off_unless_ticked_even_with_an_email_on_file(session, frozen_clock):
    new_patient.create(session=session, form=_form(), actor=ACTOR)
    new_patient.create(session=session, form=_form(chart_number="C2", first_name="Ana", allow_email=True,
                                                   allow_sms=True), actor=ACTOR)
    consent = session.exec(select(Patient.chart_number, Patient.allow_email, Patient.allow_sms)
                           .order_by(Patient.chart_number)).all()
    assert consent == [("C0000777", False, False), ("C2", True, True)]


def test_every_bad_field_gets_its_own_message_at_once_and_nothing_is_written(session, frozen_clock):
    form = _form(dob="02/30/1990", email="zoe@", mobile_phone="12", first_name="", sex="Robot", chart_number="")
    with pytest.raises(FormInvalid) as refused:
        new_patient.create(session=session, form=form, actor=ACTOR)
    errors = refused.value.errors
    assert list(errors) == ["chart_number", "first_name", "sex", "dob", "email", "mobile_phone"]
    assert errors["dob"] == "Date of birth 02/30/1990 is not a real date."
    assert errors["first_name"] == "First name is required."
    assert errors["chart_number"] == "Chart number is required."
    assert errors["email"].startswith("That email address is not valid")
    assert refused.value.message == errors["chart_number"]
    assert session.exec(select(Patient)).all() == [] and session.exec(select(AuditEvent)).all() == []


@pytest.mark.parametrize(("typed", "expected"), [
    ("04/27/1986", date(1986, 4, 27)), ("4/7/1986", date(1986, 4, 7)), ("1986-04-27", date(1986, 4, 27)),
    ("4/7/86", date(1986, 4, 7)), ("4/7/20", date(2020, 4, 7)), ("12/31/26", date(1926, 12, 31)),
])
def test_dates_are_read_in_the_imports_forms(typed, expected):
    assert new_patient.parse_date(typed, key="dob", today=TODAY) == expected


@pytest.mark.parametrize(("typed", "message"), [
    ("27.04.1986", "Enter date of birth as MM/DD/YYYY (for example 04/27/1986)."),
    ("13/01/1986", "Date of birth 13/01/1986 is not a real date."),
    ("01/01/2099", "Date of birth 01/01/2099 is not possible."),
    ("01/01/1850", "Date of birth 01/01/1850 is not possible."),
])
def test_a_date_that_cannot_be_read_or_cannot_be_is_refused_beside_its_field(typed, message, frozen_clock):
    with pytest.raises(FormInvalid) as refused:
        new_patient.check(_form(dob=typed))
    assert refused.value.errors == {"dob": message}


def test_a_last_visit_in_the_future_is_refused_beside_its_field(frozen_clock):
    with pytest.raises(FormInvalid) as refused:
        new_patient.check(_form(last_visit="12/01/2026"))
    assert refused.value.errors == {"last_visit": "Last visit date 12/01/2026 is not possible."}


def test_a_chart_number_in_use_is_refused_and_that_chart_is_left_alone(session, frozen_clock):
    other = make_patient(session, chart="C0000123", first="Maria", last="Lopez")
    with pytest.raises(InvalidInput) as refused:
        new_patient.create(session=session, form=_form(chart_number="C0000123"), actor=ACTOR)
    assert (refused.value.field, refused.value.message) == ("chart_number", "Chart number C0000123 is already in use.")
    session.refresh(other)
    assert (other.first_name, other.email) == ("Maria", "maria.lopez@example.com")
    assert session.exec(select(AuditEvent)).all() == []


def _blind_first_look(monkeypatch) -> None:
    """The form's own look at the chart number sees nothing (another save is about to commit it)."""
    real, calls = patient_records.find, []

    def find(**kwargs):
        calls.append(1)
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(patient_records, "find", find)


@pytest.mark.parametrize("blind", ["first look", "every look"])
def test_a_number_taken_between_the_check_and_the_write_never_updates_that_chart(session, frozen_clock, monkeypatch,
                                                                                blind):
    other = make_patient(session, chart="C0000777", first="Maria", last="Lopez")
    if blind == "first look":
        _blind_first_look(monkeypatch)  # upsert finds the chart: it would update it
    else:
        monkeypatch.setattr(patient_records, "find", lambda **_: None)  # the unique index refuses the insert
    with pytest.raises(InvalidInput) as refused:
        new_patient.create(session=session, form=_form(), actor=ACTOR)
    assert (refused.value.field, refused.value.message) == ("chart_number", "Chart number C0000777 is already in use.")
    session.rollback()
    session.refresh(other)
    assert (other.first_name, other.email) == ("Maria", "maria.lopez@example.com")
    assert session.exec(select(AuditEvent)).all() == []


def test_a_probable_duplicate_asks_naming_the_other_chart_then_is_created_once_confirmed(session, frozen_clock):
    make_patient(session, chart="C0000456", first="zoë", last="NGUYỄN-SMITH", dob=date(1990, 2, 28))
    make_patient(session, chart="C0000999", first="Zoë", last="Nguyễn-Smith", dob=date(1991, 2, 28))
    with pytest.raises(ProbableDuplicate) as asked:
        new_patient.create(session=session, form=_form(), actor=ACTOR)
    assert asked.value.chart_numbers == ["C0000456"] and asked.value.field == "duplicate"
    assert "Chart C0000456 already has a patient with this name and date of birth" in asked.value.message
    created = new_patient.create(session=session, form=replace(_form(), different_from=("C0000456",)), actor=ACTOR)
    actions = session.exec(select(AuditEvent.action, AuditEvent.detail)
                           .where(AuditEvent.patient_id == created.patient_id).order_by(AuditEvent.id)).all()
    assert actions == [
        ("chart.create", "source=form"),
        ("chart.duplicate_confirmed", "source=form; confirmed a different person from chart(s) C0000456"),
    ]


def test_a_confirmation_covers_only_the_charts_it_named(session, frozen_clock):
    make_patient(session, chart="C0000456", first="Zoë", last="Nguyễn-Smith", dob=date(1990, 2, 28))
    make_patient(session, chart="C0000457", first="Zoë", last="Nguyễn-Smith", dob=date(1990, 2, 28),
                 email="other@example.com")
    with pytest.raises(ProbableDuplicate) as asked:
        new_patient.create(session=session, form=replace(_form(), different_from=("C0000456",)), actor=ACTOR)
    assert asked.value.chart_numbers == ["C0000456", "C0000457"]
    assert asked.value.message.startswith("Charts C0000456 and C0000457 already have")


def test_a_chart_merged_away_is_not_a_probable_duplicate(session, frozen_clock):
    survivor = make_patient(session, chart="C0000001", first="Ana", last="Ruiz")
    make_patient(session, chart="C0000456", first="Zoë", last="Nguyễn-Smith", dob=date(1990, 2, 28),
                 merged_into_id=survivor.id)
    assert new_patient.create(session=session, form=_form(), actor=ACTOR).chart_number == "C0000777"
