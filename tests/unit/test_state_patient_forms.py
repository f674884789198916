"""Portal Forms handlers and the home to-dos, run directly against the per-test database."""

from __future__ import annotations

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, IntakeChange, PortalConnection, PortalTask
from portal_app.services import audit, form_requests
from portal_app.state.patient_forms import NOTHING_CHANGED, SENT, FormsState, FormTodosState
from portal_app.state.patient_login import LoginState
from tests.unit.state_support import tab_signs_in
from tests.unit.test_state_patient import PASSWORD, make_account, redirect_path, run, state_at


async def signed_in(session, cls, path: str, *, areas: str | None = None, request: tuple[str, ...] = ()):
    """Maria signed in (self), optionally with only `areas` granted and forms requested; returns
    (patient, root, the `cls` state after its load)."""
    patient, account = make_account(session)
    if areas is not None:
        connection = session.exec(select(PortalConnection)).one()
        connection.permissions = areas
        session.add(connection)
        session.commit()
    if request:
        form_requests.request_forms(session=session, patient_id=patient.id, forms=list(request),
                                    actor=audit.Actor.system("test"))
        session.commit()
    root, login = await state_at(path, LoginState)
    await tab_signs_in(session, login, login.sign_in(
        {"user_id": "maria.lopez@example.com", "password": PASSWORD}))
    state = await root.get_state(cls)
    return patient, root, state


def form_data(state: FormsState, **changed) -> dict[str, str]:
    return {**state.intake, **changed}


async def test_the_list_marks_requested_forms_and_the_intake_form_is_prefilled(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=intake",
                                           request=("intake",))
    assert await run(state.load()) is None
    assert state.ready and state.open_form == "intake"
    assert [(row.label, row.requested) for row in state.forms_list] == [
        ("Intake form", True), ("Consent to treatment", False), ("Health history", False)]
    assert state.intake["first_name"] == "Maria" and state.intake["email"] == "maria.lopez@example.com"


async def test_submitting_two_changes_files_them_and_the_to_do_disappears(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=intake",
                                           request=("intake",))
    todos = await root.get_state(FormTodosState)
    await run(todos.load())
    assert todos.todos == [{"label": "Intake form", "href": "/portal/forms?form=intake",
                            "requested_on": todos.todos[0]["requested_on"]}]
    await run(state.load())
    await run(state.submit_intake(form_data(state, city="Chicago", pharmacy="Corner Drugs")))
    assert state.notice == SENT["intake"] and state.open_form == "" and state.form_error == ""
    changes = session.exec(select(IntakeChange)).all()
    assert [(c.field_name, c.new_value) for c in changes] == [("city", "Chicago"), ("pharmacy", "Corner Drugs")]
    assert [row.requested for row in state.forms_list] == [False, False, False]
    await run(todos.load())
    assert todos.todos == []


async def test_nothing_changed_says_so_and_files_nothing(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=intake")
    await run(state.load())
    await run(state.submit_intake(form_data(state)))
    assert state.info == NOTHING_CHANGED and state.open_form == "intake" and state.notice == ""
    assert session.exec(select(PortalTask)).all() == []


async def test_a_requested_intake_sent_unchanged_clears_the_to_do(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=intake",
                                           request=("intake",))
    await run(state.load())
    await run(state.submit_intake(form_data(state)))
    assert state.notice == SENT["intake"] and state.info == "" and state.open_form == ""
    assert session.exec(select(PortalTask)).one().subject == "Intake form (no changes)"
    todos = await root.get_state(FormTodosState)
    await run(todos.load())
    assert todos.todos == []


async def test_bad_input_is_shown_beside_the_field_and_nothing_typed_is_lost(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=intake")
    await run(state.load())
    await run(state.submit_intake(form_data(state, email="maria@", city="Chicago", postal_code="1")))
    assert state.errors["email"] and state.errors["postal_code"] and state.errors["city"] == ""
    assert state.form_error and state.open_form == "intake"
    assert state.intake["city"] == "Chicago" and state.intake["email"] == "maria@"
    assert session.exec(select(PortalTask)).all() == []


async def test_consent_and_history_close_their_requests(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=consent",
                                           request=("consent", "history"))
    await run(state.load())
    await run(state.submit_consent({"signature": "Maria Lopez"}))
    assert state.errors["agreed"] and state.signature == "Maria Lopez"
    await run(state.submit_consent({"signature": "Maria Lopez", "agreed": "on"}))
    assert state.notice == SENT["consent"]
    await run(state.open("history"))
    await run(state.submit_history({"conditions": "Asthma"}))
    assert state.notice == SENT["history"]
    assert form_requests.open_requests(session=session, patient_id=patient.id) == []
    assert [t.subject for t in session.exec(select(PortalTask))] == ["Consent to treatment", "Health history"]


async def test_a_representative_signs_the_consent_for_the_child_and_it_is_recorded_as_theirs(session):
    from datetime import date

    from portal_app.models import AccessType
    from tests.unit.conftest import make_patient

    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=consent")
    await run(state.load())
    assert state.signing_for == ""  # her own chart
    child = make_patient(session, first="Lucia", last="Lopez", email="", enabled=True, dob=date(2015, 6, 1))
    account_id = session.exec(select(PortalConnection)).one().account_id
    session.add(PortalConnection(account_id=account_id, patient_id=child.id, permissions="forms",
                                 access_type=AccessType.REPRESENTATIVE, relationship="parent"))
    session.commit()
    await run(state.switch_chart(str(child.id)))
    await run(state.load())
    assert state.viewing_name == "Lucia Lopez" and state.signing_for == "Lucia Lopez"
    await run(state.submit_consent({"signature": "Maria Lopez", "agreed": "on"}))
    task = session.exec(select(PortalTask)).one()
    assert (task.patient_id, task.account_id, task.access_type) == (child.id, account_id, AccessType.REPRESENTATIVE)


async def test_without_the_forms_area_handlers_do_nothing_and_are_audited(session):
    patient, root, state = await signed_in(session, FormsState, f"{routes.PORTAL_FORMS}?form=intake",
                                           areas="messages", request=("intake",))
    target = await run(state.load())
    assert redirect_path(target[0]) == routes.PORTAL_HOME and not state.ready
    result = await run(state.submit_intake({"city": "Chicago"}))
    assert "error" in str(result)
    assert session.exec(select(PortalTask)).all() == []
    refusals = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "portal.area_refused"))]
    assert refusals == ["area=forms; handler=open", "area=forms; handler=submit_intake"]
    # No Forms area: no to-dos on the home page either.
    todos = await root.get_state(FormTodosState)
    await run(todos.load())
    assert todos.todos == []


async def test_signed_out_handler_goes_to_sign_in(session):
    root, state = await state_at(routes.PORTAL_FORMS, FormsState)
    assert redirect_path(await run(state.submit_intake({"city": "x"}))) == routes.LOGIN
    todos = await root.get_state(FormTodosState)
    await run(todos.load())
    assert todos.todos == []
