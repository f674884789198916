"""The patient pages' header names the practice (state/practice_header.py)."""

from __future__ import annotations

from portal_app.services import settings
from portal_app.state.practice_header import PracticeHeaderState
from tests.unit.state_support import state_for


async def test_the_header_shows_the_practices_name(session):
    row = settings.get(session=session)
    row.practice_name = "Lakeside Clinic"
    session.add(row)
    session.commit()
    _, state = await state_for(PracticeHeaderState, path="/login")
    await state.load()
    assert state.practice_name == "Lakeside Clinic"
