"""The onboarding list and the chart, called directly: a deceased or merged chart's note is on its
row, and a click that would turn its access on is refused with the reason (and audited)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, Patient
from portal_app.services.onboarding import DECEASED_STAYS_OFF
from portal_app.state.chart import ChartState
from portal_app.state.onboarding import OnboardingState
from tests.unit.conftest import make_patient
from tests.unit.state_support import set_cookies, sign_in_admin, state_for


async def _state(sid: str) -> OnboardingState:
    root = rx.State(_reflex_internal_init=True)
    state = await root.get_state(OnboardingState)
    set_cookies(state, staff=sid)
    return state


def _is_error_toast(result) -> bool:
    return "error" in str(result)


async def test_the_red_rectangle_of_a_deceased_chart_refuses_and_the_row_keeps_its_note(session, admin):
    patient = make_patient(session, chart="R100", deceased=True, status_note="Deceased")
    state = await _state(sign_in_admin(session))
    await state.load_page()
    assert [(row.id, row.status_note) for row in state.rows] == [(patient.id, "Deceased")]

    result = await state.toggle_access(patient.id)

    assert _is_error_toast(result) and DECEASED_STAYS_OFF in str(result)
    assert state.rows[0].enabled is False and state.rows[0].status_note == "Deceased"
    session.expire_all()
    assert session.get(Patient, patient.id).portal_enabled is False
    refused = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.enable.refused")).all()
    assert [(e.patient_id, e.detail, e.staff_user_id) for e in refused] == [(patient.id, "rule=deceased", admin.id)]


async def test_the_chart_switch_of_a_merged_chart_refuses_beside_the_switch(session, admin):
    survivor = make_patient(session, first="Ann", chart="R200")
    merged = make_patient(session, first="Anne", chart="R201", merged_into_id=survivor.id,
                          status_note="Merged into chart R200")
    _, state = await state_for(ChartState, session_id=sign_in_admin(session), path=routes.patient_chart(merged.id))
    await state.load()
    assert state.chart.status_note == "Merged into chart R200"

    await state.enable_access()

    assert "merged into chart R200" in state.access_error and state.access_notice == ""
    session.expire_all()
    assert session.get(Patient, merged.id).portal_enabled is False
