import pytest
from sqlmodel import select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    FormRequest,
    IntakeChange,
    Patient,
    PortalAccount,
    PortalTask,
    TaskKind,
)
from portal_app.services import audit, form_requests, forms
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView
from tests.unit.conftest import make_patient


def account_for(session, user_id="maria.lopez@example.com") -> PortalAccount:
    account = PortalAccount(user_id=user_id, status=AccountStatus.ACTIVE, first_name="Maria", last_name="Lopez")
    session.add(account)
    session.commit()
    session.refresh(account)
    return account


def chart_of(patient, access_type="self") -> ChartView:
    return ChartView(patient_id=patient.id, name=f"{patient.first_name} {patient.last_name}", dob="",
                     access_type=access_type, email="", mobile_phone="", home_phone="", address="",
                     areas=("forms", "documents"))


@pytest.fixture
def chart_patient(session):
    return make_patient(session, enabled=True, email="Maria.Lopez@Example.com", mobile_phone="+12025550143",
                        city="Springfield", region="IL", postal_code="62701", allergies="Penicillin")


def submit(session, patient, account, **changed):
    values = forms.intake_values(session=session, patient_id=patient.id)
    values.update(changed)
    return forms.submit_intake(session=session, account_id=account.id, chart=chart_of(patient), values=values)


def changes(session, task_id):
    return forms.intake_changes(session=session, task_id=task_id)


def test_prefill_shows_the_chart_with_readable_phones(session, chart_patient):
    values = forms.intake_values(session=session, patient_id=chart_patient.id)
    assert list(values) == list(forms.INTAKE_FIELDS)
    assert values["first_name"] == "Maria"
    assert values["mobile_phone"] == "(202) 555-0143"
    assert values["region"] == "IL"
    assert values["allergies"] == "Penicillin"


def test_only_changed_fields_are_filed_with_the_chart_value_then(session, chart_patient):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, city="Chicago", mobile_phone="202-555-0199",
                     email="maria.lopez@example.com")  # same email, other case: unchanged
    rows = changes(session, task_id)
    assert [(r.field_name, r.chart_value, r.new_value) for r in rows] == [
        ("mobile_phone", "+12025550143", "+12025550199"), ("city", "Springfield", "Chicago")]
    assert all(r.mergeable and not r.merged and not r.conflict for r in rows)
    task = session.get(PortalTask, task_id)
    assert task.kind == TaskKind.INTAKE_FORM and task.subject == "Intake form"
    assert task.account_id == account.id and task.access_type == AccessType.SELF
    # The chart itself is untouched until staff merge.
    session.refresh(chart_patient)
    assert chart_patient.city == "Springfield"


def test_nothing_changed_and_not_requested_files_nothing(session, chart_patient):
    account = account_for(session)
    assert submit(session, chart_patient, account) is None
    assert submit(session, chart_patient, account, city="  Springfield ") is None
    assert session.exec(select(PortalTask)).all() == []


def test_a_requested_intake_with_nothing_changed_is_a_confirmation_and_closes_the_to_do(
        session, chart_patient, admin):
    """A patient whose chart is right must be able to clear the practice's request."""
    account = account_for(session)
    form_requests.request_forms(session=session, patient_id=chart_patient.id, forms=["intake"],
                                actor=audit.Actor.staff(admin.id))
    session.commit()
    task_id = submit(session, chart_patient, account, city="  Springfield ")
    task = session.get(PortalTask, task_id)
    assert (task.kind, task.subject) == (TaskKind.INTAKE_FORM, "Intake form (no changes)")
    assert forms.intake_changes(session=session, task_id=task_id) == []
    assert form_requests.open_requests(session=session, patient_id=chart_patient.id) == []
    # The next time, with no request open, nothing is filed.
    assert submit(session, chart_patient, account) is None


def test_submitting_closes_the_open_intake_request(session, chart_patient, admin):
    account = account_for(session)
    form_requests.request_forms(session=session, patient_id=chart_patient.id, forms=["intake", "consent"],
                                actor=audit.Actor.staff(admin.id))
    session.commit()
    task_id = submit(session, chart_patient, account, pharmacy="Main St Pharmacy")
    assert [r.form for r in form_requests.open_requests(session=session, patient_id=chart_patient.id)] == ["consent"]
    closed = session.exec(select(FormRequest).where(FormRequest.form == "intake")).one()
    assert closed.task_id == task_id


def test_bad_values_are_reported_per_field_and_nothing_is_filed(session, chart_patient):
    account = account_for(session)
    with pytest.raises(FormInvalid) as caught:
        submit(session, chart_patient, account, email="not an email", first_name="", postal_code="12",
               mobile_phone="12", sex="Robot", city="Chicago")
    assert set(caught.value.errors) == {"email", "first_name", "postal_code", "mobile_phone", "sex"}
    assert "required" in caught.value.errors["first_name"]
    assert session.exec(select(IntakeChange)).all() == []
    assert session.exec(select(PortalTask)).all() == []


def test_every_intake_field_has_its_check_and_an_unknown_field_is_refused():
    cleaned = {field: forms.clean_intake_value(field, value) for field, value in {
        "first_name": " Ann ", "middle_name": "B", "last_name": "Lee", "preferred_name": "", "sex": "Female",
        "email": "Ann@Example.org", "mobile_phone": "", "home_phone": "(312) 555-0100",
        "address_line1": "1 Main St", "city": "Chicago", "region": "il", "postal_code": "60601-1234",
        "emergency_contact_name": "Bo Lee", "emergency_contact_phone": "", "pharmacy": "Corner",
        "allergies": "None\r\nreally",
    }.items()}
    assert list(cleaned) == list(forms.INTAKE_FIELDS)
    assert cleaned["first_name"] == "Ann" and cleaned["email"] == "ann@example.org"
    assert cleaned["home_phone"] == "+13125550100" and cleaned["region"] == "IL"
    assert cleaned["allergies"] == "None\nreally"
    with pytest.raises(InvalidInput) as caught:
        forms.clean_intake_value("password_hash", "x")
    assert caught.value.message == "Unknown field."


def test_allergies_keep_their_lines(session, chart_patient):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, allergies="Penicillin\r\nPeanuts")
    assert [r.new_value for r in changes(session, task_id)] == ["Penicillin\nPeanuts"]


def test_representative_submission_is_recorded_as_theirs(session, chart_patient):
    account = account_for(session, user_id="son@example.com")
    values = forms.intake_values(session=session, patient_id=chart_patient.id)
    values["city"] = "Chicago"
    task_id = forms.submit_intake(session=session, account_id=account.id,
                                  chart=chart_of(chart_patient, "representative"), values=values)
    task = session.get(PortalTask, task_id)
    assert task.access_type == AccessType.REPRESENTATIVE and task.submitted_by == "son@example.com"


# ---- merging -------------------------------------------------------------------------------

def test_merge_updates_the_chart_and_derived_columns_and_audits(session, chart_patient, admin, frozen_clock):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, last_name="Garcia", email="m.garcia@example.com")
    actor = audit.Actor.staff(admin.id)
    result = forms.merge_all(session=session, task_id=task_id, actor=actor)
    assert result == forms.MergeResult(merged=2, conflicts=0)
    patient = session.get(Patient, chart_patient.id)
    session.refresh(patient)
    assert patient.last_name == "Garcia"
    assert patient.sort_key == "garcia\x1fmaria"
    assert patient.email == "m.garcia@example.com" and patient.email_lower == "m.garcia@example.com"
    assert all(r.merged for r in changes(session, task_id))
    details = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "intake.merge"))]
    assert details == [f"item={task_id}; field=last_name; 'Lopez' -> 'Garcia'",
                       f"item={task_id}; field=email; 'Maria.Lopez@Example.com' -> 'm.garcia@example.com'"]


def test_merge_sets_updated_at(session, chart_patient, admin, frozen_clock):
    from datetime import timedelta

    from tests.unit.conftest import START

    account = account_for(session)
    task_id = submit(session, chart_patient, account, city="Chicago")
    frozen_clock(START + timedelta(days=2))
    change = changes(session, task_id)[0]
    forms.merge_change(session=session, task_id=task_id, change_id=change.id, actor=audit.Actor.staff(admin.id))
    patient = session.get(Patient, chart_patient.id)
    session.refresh(patient)
    assert patient.city == "Chicago"
    assert patient.updated_at.replace(tzinfo=None) == (START + timedelta(days=2)).replace(tzinfo=None)


def test_conflict_is_raised_until_staff_overwrite(session, chart_patient, admin):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, city="Chicago")
    # Staff changed the city in the chart after the patient sent the form.
    chart_patient.city = "Peoria"
    session.add(chart_patient)
    session.commit()
    row = changes(session, task_id)[0]
    assert row.conflict and row.current_value == "Peoria" and row.chart_value == "Springfield"
    actor = audit.Actor.staff(admin.id)
    with pytest.raises(forms.MergeConflict) as caught:
        forms.merge_change(session=session, task_id=task_id, change_id=row.id, actor=actor)
    assert "Peoria" in caught.value.message and caught.value.field == "city"
    session.refresh(chart_patient)
    assert chart_patient.city == "Peoria"
    forms.merge_change(session=session, task_id=task_id, change_id=row.id, actor=actor, overwrite=True)
    session.refresh(chart_patient)
    assert chart_patient.city == "Chicago"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "intake.merge")).one()
    assert "'Peoria' -> 'Chicago'" in event.detail and "overwrote" in event.detail


def test_chart_already_holding_the_new_value_is_no_conflict(session, chart_patient, admin):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, city="Chicago")
    chart_patient.city = "Chicago"
    session.add(chart_patient)
    session.commit()
    assert not changes(session, task_id)[0].conflict


def test_merge_all_skips_conflicts(session, chart_patient, admin):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, city="Chicago", pharmacy="Main St Pharmacy")
    chart_patient.city = "Peoria"
    session.add(chart_patient)
    session.commit()
    result = forms.merge_all(session=session, task_id=task_id, actor=audit.Actor.staff(admin.id))
    assert (result.merged, result.conflicts) == (1, 1)
    session.refresh(chart_patient)
    assert chart_patient.city == "Peoria" and chart_patient.pharmacy == "Main St Pharmacy"
    rows = {r.field_name: r for r in changes(session, task_id)}
    assert rows["pharmacy"].merged and not rows["city"].merged and rows["city"].conflict


def test_merged_value_is_validated_again(session, chart_patient, admin):
    account = account_for(session)
    task_id = submit(session, chart_patient, account, email="new@example.com")
    change = session.exec(select(IntakeChange)).one()
    change.new_value = "broken"  # as if stored by an older version
    session.add(change)
    session.commit()
    with pytest.raises(InvalidInput) as caught:
        forms.merge_change(session=session, task_id=task_id, change_id=change.id, actor=audit.Actor.staff(admin.id))
    assert caught.value.field == "email"
    session.refresh(chart_patient)
    assert chart_patient.email == "Maria.Lopez@Example.com"


def test_merge_twice_and_change_of_another_item_are_refused(session, chart_patient, admin):
    account = account_for(session)
    first = submit(session, chart_patient, account, city="Chicago")
    second = submit(session, chart_patient, account, pharmacy="Corner Drugs")
    actor = audit.Actor.staff(admin.id)
    change = changes(session, first)[0]
    with pytest.raises(NotFound):
        forms.merge_change(session=session, task_id=second, change_id=change.id, actor=actor)
    forms.merge_change(session=session, task_id=first, change_id=change.id, actor=actor)
    with pytest.raises(InvalidInput):
        forms.merge_change(session=session, task_id=first, change_id=change.id, actor=actor)


# ---- consent and history -------------------------------------------------------------------

def test_consent_needs_a_name_and_agreement_and_is_never_merged(session, chart_patient, admin):
    account = account_for(session)
    chart = chart_of(chart_patient)
    with pytest.raises(FormInvalid) as caught:
        forms.submit_consent(session=session, account_id=account.id, chart=chart, full_name=" ", agreed=False)
    assert set(caught.value.errors) == {"signature", "agreed"}
    form_requests.request_forms(session=session, patient_id=chart_patient.id, forms=["consent"],
                                actor=audit.Actor.staff(admin.id))
    session.commit()
    task_id = forms.submit_consent(session=session, account_id=account.id, chart=chart, full_name="Maria Lopez",
                                   agreed=True)
    assert session.get(PortalTask, task_id).subject == "Consent to treatment"
    rows = changes(session, task_id)
    assert [(r.form, r.field_name, r.mergeable) for r in rows] == [("consent", "signature", False),
                                                                   ("consent", "agreed", False)]
    assert rows[0].new_value == "Maria Lopez"
    assert form_requests.open_requests(session=session, patient_id=chart_patient.id) == []
    assert forms.merge_all(session=session, task_id=task_id, actor=audit.Actor.staff(admin.id)).merged == 0
    with pytest.raises(InvalidInput):
        forms.merge_change(session=session, task_id=task_id, change_id=rows[0].id, actor=audit.Actor.staff(admin.id))


def test_history_files_its_answers(session, chart_patient):
    account = account_for(session)
    chart = chart_of(chart_patient)
    with pytest.raises(FormInvalid):
        forms.submit_history(session=session, account_id=account.id, chart=chart, values={})
    with pytest.raises(FormInvalid) as caught:
        forms.submit_history(session=session, account_id=account.id, chart=chart,
                             values={"conditions": "x" * 2001, "medications": "Aspirin"})
    assert set(caught.value.errors) == {"conditions"}
    task_id = forms.submit_history(session=session, account_id=account.id, chart=chart,
                                   values={"conditions": "Asthma", "medications": "", "family_history": "Diabetes"})
    rows = changes(session, task_id)
    assert [(r.form, r.label, r.new_value, r.mergeable) for r in rows] == [
        ("history", "Conditions", "Asthma", False), ("history", "Family history", "Diabetes", False)]


def test_a_sent_form_awaits_review_until_the_practice_marks_it_reviewed(session, chart_patient, admin):
    from portal_app.services import tasks

    account = account_for(session)
    row = {r.form: r for r in forms.form_list(session=session, patient_id=chart_patient.id)}["intake"]
    assert not row.awaiting_review and row.sent_on == ""
    task_id = submit(session, chart_patient, account, city="Shelbyville")
    row = {r.form: r for r in forms.form_list(session=session, patient_id=chart_patient.id)}["intake"]
    assert row.awaiting_review and row.sent_on != ""
    assert not {r.form: r for r in forms.form_list(session=session, patient_id=chart_patient.id)}["consent"] \
        .awaiting_review
    tasks.mark_reviewed(session=session, staff_user_id=admin.id, task_id=task_id,
                        actor=audit.Actor.staff(admin.id), unmerged_ok=True)
    row = {r.form: r for r in forms.form_list(session=session, patient_id=chart_patient.id)}["intake"]
    assert not row.awaiting_review
