"""HL7 v2 ADT messages: every event, every refusal (ACK code and text), one transaction each."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import hl7
import pytest
from sqlmodel import col, select

from portal_app.models import AccessType, AuditEvent, AuthSession, Patient, SessionKind
from portal_app.services import accounts, adt, sessions
from tests.unit.conftest import make_patient

SAMPLES = Path("/work/shared/import-samples")
PID_FULL = ("PID|1||MRN-204^^^RIVERSIDE^MR||Nguyễn-Smith^Zoë^Anh^^^^L||19900228|F|||"
            "12 Rue de l'Église^Apt 3^Austin^TX^78701^USA^H||"
            "^PRN^PH^^1^512^5550142~^PRN^CP^^1^512^5550199~^NET^Internet^zoe.nguyen@example.com" + "|" * 17 + "N")
PV1_VISIT = "PV1|1|O" + "|" * 42 + "20261119083000"  # PV1-44 admit date-time


def msg(event: str = "A04", *segments: str, control: str = "CTL0001", kind: str = "ADT") -> str:
    """A message with an MSH and EVN, then `segments` (PID_FULL when none), CR-separated."""
    head = [f"MSH|^~\\&|EPIC|RIVERSIDE|PORTAL|RIVERSIDE|20261120093000||{kind}^{event}^ADT_A01|{control}|P|2.5.1",
            f"EVN|{event}|20261120093000"]
    return "\r".join(head + list(segments or (PID_FULL,))) + "\r"


def handle(session, text: str) -> adt.Handled:
    return adt.handle(session=session, text=text)


def ack_of(handled: adt.Handled) -> hl7.Message:
    return hl7.parse(handled.ack)


def msa(handled: adt.Handled) -> tuple[str, str, str]:
    segment = ack_of(handled).segment("MSA")
    return tuple(str(segment(n)) if n < len(segment) else "" for n in (1, 2, 3))  # type: ignore[return-value]


def chart(session, number: str = "MRN-204") -> Patient | None:
    session.expire_all()
    return session.exec(select(Patient).where(Patient.chart_number == number)).first()


def refused_nothing_changed(session, handled: adt.Handled, code: str, words: str) -> None:
    assert handled.code == "AE" and handled.error_code == code, handled
    assert msa(handled)[0] == "AE" and words in msa(handled)[2]
    err = ack_of(handled).segment("ERR")
    assert str(err(3)).startswith(code) and words in str(err(8))


# ---- events ---------------------------------------------------------------------------------


def test_a04_registers_a_chart_with_every_pid_field_and_answers_aa_echoing_the_control_id(session, frozen_clock):
    handled = handle(session, msg("A04", PID_FULL, PV1_VISIT))
    assert handled.code == "AA" and msa(handled)[:2] == ("AA", "CTL0001")
    assert PID_FULL.split("|")[30] == "N" and PV1_VISIT.split("|")[44].startswith("2026")
    ack = ack_of(handled).segment("MSH")
    assert str(ack(9)) == "ACK^A04^ACK" and str(ack(5)) == "EPIC"  # back to the sender
    patient = chart(session)
    assert (patient.last_name, patient.first_name, patient.middle_name) == ("Nguyễn-Smith", "Zoë", "Anh")
    assert (patient.dob, patient.sex) == (date(1990, 2, 28), "Female")
    assert (patient.address_line1, patient.city, patient.region, patient.postal_code) == (
        "12 Rue de l'Église, Apt 3", "Austin", "TX", "78701")
    assert (patient.home_phone, patient.mobile_phone) == ("+15125550142", "+15125550199")
    assert patient.email == "zoe.nguyen@example.com" and patient.deceased is False
    assert patient.last_visit_on == date(2026, 11, 19)


def test_every_message_is_audited_with_its_control_id_event_and_outcome_never_its_content(session, frozen_clock):
    handle(session, msg("A04", control="REG-1"))
    handle(session, msg("A08", PID_FULL.replace("19900228", "19900231"), control="UPD-2"))
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "adt.message")
                          .order_by(col(AuditEvent.id))).all()
    assert [e.detail.split("; ")[:3] for e in events] == [
        ["control_id=REG-1", "event=A04", "outcome=AA"], ["control_id=UPD-2", "event=A08", "outcome=AE"]]
    assert events[0].patient_id == chart(session).id and events[1].patient_id is None
    assert not any("PID|" in e.detail or "zoe.nguyen" in e.detail for e in events)
    created = session.exec(select(AuditEvent).where(AuditEvent.action == "chart.create")).one()
    assert "source=adt A04" in created.detail


def test_a28_registers_and_a04_for_a_known_chart_updates_it(session, frozen_clock):
    assert handle(session, msg("A28")).code == "AA"
    handled = handle(session, msg("A04", PID_FULL.replace("^512^5550142", "^512^5550143")))
    assert handled.code == "AA" and "updated (Home phone)" in handled.text
    assert chart(session).home_phone == "+15125550143"
    assert len(session.exec(select(Patient)).all()) == 1


@pytest.mark.parametrize("event", ["A08", "A31"])
def test_a08_and_a31_update_keep_what_is_not_sent_and_clear_what_the_hl7_null_empties(session, frozen_clock, event):
    handle(session, msg("A04"))
    pid = 'PID|1||MRN-204^^^RIVERSIDE^MR||Nguyễn-Smith^Zoë^""^^^^L||19900228|F||||||||||||||||||||||N'
    handled = handle(session, msg(event, pid))
    assert handled.code == "AA" and "Middle name" in handled.text
    patient = chart(session)
    assert patient.middle_name == ""  # "" = the EHR says empty
    assert patient.email == "zoe.nguyen@example.com" and patient.city == "Austin"  # not sent = kept
    again = handle(session, msg(event, pid))
    assert again.code == "AA" and again.text.startswith("unchanged")


def test_a08_with_pid30_y_and_a_death_date_marks_the_chart_deceased(session, frozen_clock):
    handle(session, msg("A04"))
    pid = PID_FULL[: PID_FULL.rindex("||N")] + "|20261118|Y"
    handled = handle(session, msg("A08", pid))
    assert handled.code == "AA", handled
    patient = chart(session)
    assert patient.deceased is True and patient.deceased_on == date(2026, 11, 18)


def test_a_deceased_a08_ends_portal_access_sessions_and_representatives_connections(session, frozen_clock):
    patient = make_patient(session, first="Zoë", last="Nguyễn-Smith", chart="MRN-204", enabled=True)
    own = accounts.create_account(session=session, user_id="zoe@example.com")
    carer = accounts.create_account(session=session, user_id="carer@example.com")
    session.flush()
    accounts.connect_chart(session=session, account=own, patient=patient, requested_by="desk")
    accounts.connect_chart(session=session, account=carer, patient=patient, requested_by="desk",
                           access=AccessType.REPRESENTATIVE, relationship="caregiver")
    sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=own.id)
    session.commit()
    handled = handle(session, msg("A08", PID_FULL[: PID_FULL.rindex("||N")] + "|20261118|Y"))
    assert handled.code == "AA" and "Deceased: portal access off" in handled.text
    patient = chart(session)
    assert patient.deceased is True and patient.portal_enabled is False and patient.status_note == "Deceased"
    assert session.exec(select(AuthSession).where(col(AuthSession.revoked_at).is_(None))).all() == []
    assert accounts.connected_account_ids(session=session, patient_id=patient.id) == [own.id]
    rule = session.exec(select(AuditEvent).where(AuditEvent.action == "rule.deceased")).one()
    assert rule.actor_label == "ADT feed"


def test_a40_merges_the_mrg1_chart_into_the_pid3_chart(session, frozen_clock):
    survivor = make_patient(session, first="Zoë", last="Nguyễn-Smith", chart="MRN-204", enabled=True)
    duplicate = make_patient(session, first="Zoe", last="Nguyen Smith", chart="MRN-999", enabled=True)
    account = accounts.create_account(session=session, user_id="zoe@example.com")
    session.flush()
    accounts.connect_chart(session=session, account=account, patient=duplicate, requested_by="desk")
    session.commit()
    handled = handle(session, msg("A40", PID_FULL, "MRG|MRN-999^^^RIVERSIDE^MR", control="MRG-7"))
    assert handled.code == "AA" and msa(handled)[1] == "MRG-7"
    merged = chart(session, "MRN-999")
    assert merged.merged_into_id == survivor.id and merged.portal_enabled is False
    assert merged.status_note == "Merged into chart MRN-204"
    assert accounts.self_account(session=session, patient_id=survivor.id).id == account.id
    # The same A40 sent again (its ACK was lost) is answered AA and changes nothing.
    assert handle(session, msg("A40", PID_FULL, "MRG|MRN-999", control="MRG-7")).code == "AA"


@pytest.mark.parametrize("event", ["A23", "A29"])
def test_a23_and_a29_turn_portal_access_off_end_sessions_and_audit_the_rule(session, frozen_clock, event):
    patient = make_patient(session, chart="MRN-204", enabled=True)
    account = accounts.create_account(session=session, user_id="maria@example.com")
    session.flush()
    accounts.connect_chart(session=session, account=account, patient=patient, requested_by="desk")
    sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id)
    session.commit()
    handled = handle(session, msg(event, "PID|1||MRN-204"))
    assert handled.code == "AA" and handled.text == "portal access turned off"
    patient = chart(session)
    assert patient.portal_enabled is False and f"({event})" in patient.status_note
    assert session.exec(select(AuthSession).where(col(AuthSession.revoked_at).is_(None))).all() == []
    off = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.disable")).one()
    assert off.detail.startswith(f"rule=adt {event}")


def test_the_mr_typed_identifier_is_the_chart_number_else_the_first(session, frozen_clock):
    handle(session, msg("A04", PID_FULL.replace("MRN-204^^^RIVERSIDE^MR", "9999999999^^^NHS^NH~MRN-204^^^RIV^MR")))
    handle(session, msg("A04", PID_FULL.replace("MRN-204^^^RIVERSIDE^MR", "40800000^^^MRENTR^MEDREC~99^^^NHS^NH")))
    assert {p.chart_number for p in session.exec(select(Patient))} == {"MRN-204", "40800000"}


def test_lf_separated_segments_are_read_and_a_date_time_birth_date_is_a_date(session, frozen_clock):
    text = msg("A04", PID_FULL.replace("19900228", "199002280300")).replace("\r", "\n")
    assert handle(session, text).code == "AA"
    assert chart(session).dob == date(1990, 2, 28)


def test_missing_fields_are_left_alone_on_a_new_chart(session, frozen_clock):
    handled = handle(session, msg("A04", "PID|1||O-Brien-7||O'Brien-Walsh^Siobhán||20010704"))
    assert handled.code == "AA"
    patient = chart(session, "O-Brien-7")
    assert (patient.first_name, patient.last_name, patient.email, patient.sex) == ("Siobhán", "O'Brien-Walsh", "", "")


# ---- refusals: AE with the reason, and nothing changes --------------------------------------


def test_an_unknown_event_is_refused(session, frozen_clock):
    handled = handle(session, msg("A03"))
    refused_nothing_changed(session, handled, "201", "Event A03 is not one we handle")
    assert chart(session) is None


def test_a_message_that_is_not_adt_is_refused(session, frozen_clock):
    refused_nothing_changed(session, handle(session, msg("R01", kind="ORU")), "200", "not ADT")


def test_missing_pid3_is_refused(session, frozen_clock):
    handled = handle(session, msg("A04", PID_FULL.replace("MRN-204^^^RIVERSIDE^MR", "")))
    refused_nothing_changed(session, handled, "101", "PID-3 patient identifier is missing")
    assert str(ack_of(handled).segment("ERR")(2)) == "PID^1^3"


def test_an_impossible_birth_date_is_refused_and_the_known_chart_keeps_its_name(session, frozen_clock):
    handle(session, msg("A04"))
    pid = PID_FULL.replace("Nguyễn-Smith^Zoë", "Nguyen^Zoe").replace("19900228", "19900230")
    handled = handle(session, msg("A08", pid))
    refused_nothing_changed(session, handled, "102", "PID-7 date of birth 19900230 is not a date")
    assert chart(session).last_name == "Nguyễn-Smith"


def test_a_refused_value_refuses_the_whole_message(session, frozen_clock):
    handle(session, msg("A04"))
    pid = PID_FULL.replace("Nguyễn-Smith^Zoë", "Nguyen^Zoe").replace("zoe.nguyen@example.com", "not-an-email")
    handled = handle(session, msg("A08", pid))
    assert handled.code == "AE" and handled.where == "PID^1^13"
    assert msa(handled)[2].startswith("PID-13: That email address is not valid")
    assert chart(session).last_name == "Nguyễn-Smith"
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "chart.update")).all()) == 0


@pytest.mark.parametrize("event", ["A08", "A31", "A23", "A29"])
def test_an_unknown_chart_is_refused_for_events_that_change_a_known_chart(session, frozen_clock, event):
    refused_nothing_changed(session, handle(session, msg(event)), "204", "Chart MRN-204 is not known here")
    assert chart(session) is None


def test_a40_refusals_unknown_merged_chart_no_mrg_and_the_survivor_is_not_touched(session, frozen_clock):
    make_patient(session, first="Zoë", last="Other", chart="MRN-204")
    handled = handle(session, msg("A40", PID_FULL, "MRG|MRN-404"))
    refused_nothing_changed(session, handled, "204", "Chart MRN-404 is not known here")
    assert chart(session).last_name == "Other"  # the PID's name was not applied either
    refused_nothing_changed(session, handle(session, msg("A40", PID_FULL)), "100", "needs an MRG segment")
    refused_nothing_changed(session, handle(session, msg("A40", PID_FULL, "MRG|MRN-204")), "102", "same chart")


def test_a_new_chart_without_a_name_is_refused(session, frozen_clock):
    handled = handle(session, msg("A04", "PID|1||MRN-777||||19800101"))
    refused_nothing_changed(session, handled, "101", "A new chart needs First name, Last name")


@pytest.mark.parametrize("pid,code,words", [
    (PID_FULL.replace("|F|", "|1|"), "103", "PID-8 sex 1"),
    (PID_FULL[: PID_FULL.rindex("||N")] + "||X", "103", "PID-30 deceased indicator X"),
    (PID_FULL[: PID_FULL.rindex("||N")] + "|2026-11-18|Y", "102", "PID-29 date of death"),
])
def test_codes_and_dates_we_cannot_read_are_refused(session, frozen_clock, pid, code, words):
    refused_nothing_changed(session, handle(session, msg("A04", pid)), code, words)


def test_no_msh_wrong_separators_and_garbage_get_an_ae_never_an_exception(session, frozen_clock):
    no_msh = handle(session, "EVN|A08|20261120\rPID|1||MRN-204\r")
    refused_nothing_changed(session, no_msh, "100", "does not start with an MSH segment")
    assert msa(no_msh)[1] == ""
    wrong = handle(session, msg("A04").replace("|", "#"))
    refused_nothing_changed(session, wrong, "102", "standard HL7 separators")
    assert msa(wrong)[1] == "CTL0001"  # still echoed
    for junk in ("", "\x00\x01\x02binary", "MSH|^~\\&|only a header"):
        assert handle(session, junk).code == "AE"
    assert chart(session) is None


def test_reasons_are_escaped_in_the_ack():
    text = "Field a|b, c^d & e~f is not \\ allowed."
    ack = hl7.parse(adt.build_ack(None, code="AE", control_id="C1", text=text, error_code="207", where="PID"))
    assert ack.extract_field("MSA", 1, 2) == "C1" and ack.extract_field("MSA", 1, 3) == text
    assert ack.extract_field("ERR", 1, 8) == text and len(ack) == 3


# ---- the real public samples, read in place -------------------------------------------------


def _sample(name: str) -> str:
    return (SAMPLES / name).read_bytes().decode("utf-8")


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the shared import samples are not on this machine")
def test_the_public_sample_messages_get_the_acks_they_should(session, frozen_clock):
    expected = [("adt_01_a04_register.hl7", "AA"), ("adt_02_a08_update.hl7", "AA"),
                ("adt_03_a03_discharge_deceased.hl7", "AE"), ("adt_92_impossible_dob_DERIVED.hl7", "AE"),
                ("adt_04_a08_deceased_DERIVED.hl7", "AA"), ("adt_05_a04_duplicate_chart_DERIVED.hl7", "AA"),
                ("adt_06_a40_merge.hl7", "AA"), ("adt_07_a04_vinah_other_sender.hl7", "AE"),
                ("adt_90_no_msh_DERIVED.hl7", "AE"), ("adt_91_missing_pid3_DERIVED.hl7", "AE")]
    for name, code in expected:
        handled = handle(session, _sample(name))
        assert handled.code == code, (name, handled.text)
    first = chart(session, "40800000")
    assert first.deceased is True and first.merged_into_id == chart(session, "40800001").id
    assert (first.last_name, first.dob) == ("ORANG", date(1989, 9, 9))
    assert chart(session, "40800001").dob == date(1999, 9, 9)  # the A40's PID-7 is a date-time


def test_an_error_here_is_an_ae_207_and_the_log_keeps_patient_data_out(session, frozen_clock, monkeypatch, caplog):
    quoted = "UPDATE patient SET last_name='Nguyễn-Smith' failed"  # what a database error may say

    def broken(**_kwargs):
        raise RuntimeError(quoted)

    monkeypatch.setattr(adt.patient_records, "upsert", broken)
    handled = handle(session, msg("A04", control="BUG-1"))
    assert (handled.code, handled.error_code, msa(handled)[1]) == ("AE", "207", "BUG-1")
    assert "send it again" in handled.text
    assert "RuntimeError" in caplog.text and "Nguyễn" not in caplog.text
    assert chart(session) is None


def test_the_adoption_rows_kept_through_a_feed_equal_a_full_rebuild(session, frozen_clock):
    """A04 (new chart), A08 (new name), A40 (merge), A23 (access off), a refused A08: the rows kept
    at each commit, by the quick paths for new and renamed charts, equal a rebuild from scratch."""
    from sqlalchemy import delete

    from portal_app.models import ChartAdoption
    from portal_app.services.adoption import facts

    other = make_patient(session, chart="MRN-999")
    assert handle(session, msg("A04", control="F1")).code == "AA"
    assert handle(session, msg("A08", PID_FULL.replace("Nguyễn-Smith", "Nguyen"), control="F2")).code == "AA"
    assert handle(session, msg("A08", PID_FULL.replace("MRN-204", "MRN-404"), control="F3")).code == "AE"
    assert handle(session, msg("A40", PID_FULL, "MRG|MRN-999^^^RIVERSIDE^MR", control="F4")).code == "AA"
    assert handle(session, msg("A23", PID_FULL, control="F5")).code == "AA"

    def kept() -> dict[int, dict]:
        session.expire_all()
        return {r.patient_id: dict(r._mapping) for r in session.execute(select(ChartAdoption.__table__))}

    before = kept()
    assert set(before) == {other.id, chart(session).id}
    session.execute(delete(ChartAdoption))
    facts.rebuild_all(session)
    assert kept() == before
