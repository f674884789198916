"""Filing items: who sent them, and the chart's name order kept on the item for the queue."""

from __future__ import annotations

from sqlmodel import select

from portal_app.models import IntakeChange, PortalTask, TaskKind
from portal_app.services import audit, forms, manual_credentials, portal_auth, queue, tasks
from tests.unit.conftest import make_patient


def _chart(session, patient):
    account = manual_credentials.set_manually(session=session, patient_id=patient.id, username=patient.email,
                                    password="violet harbor engine quietly 7", force_change=False,
                                    actor=audit.Actor.system("test"))
    return account, portal_auth.chart_for(session=session, account_id=account.id, patient_id=patient.id)


def test_an_item_sorts_under_its_charts_name_and_follows_a_merged_name_change(session, admin):
    patient = make_patient(session, first="Maria", last="Lopez", enabled=True)
    other = make_patient(session, first="Ann", last="Moss", email="ann@example.com", enabled=True)
    account, chart = _chart(session, patient)
    item = queue.file_item(session=session, kind=TaskKind.MESSAGE, account_id=account.id, chart=chart,
                           subject="Hello")
    session.commit()
    assert (item.patient_sort_key, item.submitted_by) == ("lopez\x1fmaria", "maria.lopez@example.com")
    other_account, other_chart = _chart(session, other)
    queue.file_item(session=session, kind=TaskKind.MESSAGE, account_id=other_account.id, chart=other_chart)
    session.commit()
    by_name = tasks.review_page(session=session, staff_user_id=admin.id, arrange="patient")
    assert [row.patient for row in by_name.rows] == ["Lopez, Maria", "Moss, Ann"]

    # Maria's new surname, sent on the intake form and merged by staff, moves her items too.
    values = forms.intake_values(session=session, patient_id=patient.id)
    task_id = forms.submit_intake(session=session, account_id=account.id, chart=chart,
                                  values={**values, "last_name": "Nunez"})
    change = session.exec(select(IntakeChange).where(IntakeChange.task_id == task_id)).one()
    forms.merge_change(session=session, task_id=task_id, change_id=change.id, actor=audit.Actor.staff(admin.id))
    session.expire_all()
    assert {t.patient_sort_key for t in session.exec(select(PortalTask).where(
        PortalTask.patient_id == patient.id))} == {"nunez\x1fmaria"}
    by_name = tasks.review_page(session=session, staff_user_id=admin.id, arrange="patient")
    assert [row.patient for row in by_name.rows] == ["Moss, Ann", "Nunez, Maria", "Nunez, Maria"]
