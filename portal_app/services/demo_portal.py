"""Demo portal activity on top of the demo patients: accounts, a family, and a filled queue.

Everything goes through the same services patients and staff use, so the demo shows real
items (a message thread, an intake form with changes, a shared PDF, an appointment request).
Accounts are created without a password: staff give one out from Portal Account Setup.
"""

from __future__ import annotations

from datetime import timedelta

from fpdf import FPDF
from sqlmodel import Session, col, select

from portal_app.models import AccessType, Patient, PortalAccount, ident
from portal_app.services import (
    accounts,
    appointments,
    areas,
    audit,
    clock,
    documents,
    form_requests,
    forms,
    messages,
    portal_auth,
)

DEMO_ACTOR = audit.Actor.system("demo data")


def _lab_letter_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.cell(0, 10, "Outside lab results (demo document)")
    return bytes(pdf.output())


def _connect(session: Session, account: PortalAccount, patient: Patient, access: AccessType,
             permissions: str, relationship: str = "") -> None:
    patient.portal_enabled = True
    session.add(patient)
    accounts.connect_chart(session=session, account=account, patient=patient, access=access,
                           permissions=permissions, relationship=relationship, requested_by="demo data")


def _account(session: Session, user_id: str, first: str, last: str) -> PortalAccount:
    return accounts.create_account(session=session, user_id=user_id, first_name=first, last_name=last)


def _demo_user_id(patient: Patient) -> str:
    return f"demo.{patient.first_name}.{patient.last_name}@example.org".lower()


def _people(session: Session) -> tuple[list[Patient], list[tuple[Patient, str]]] | None:
    """Four adults and the family's two children (with the parent's relationship to each)
    among the first demo charts, or None when there are too few.

    Adults hold their own accounts; the family's children are minors where the demo has some.
    """
    patients = list(session.exec(select(Patient).order_by(col(Patient.id)).limit(200)))
    adult_before = clock.now().date() - timedelta(days=18 * 365 + 5)
    adults = [p for p in patients if p.dob <= adult_before]
    minors = sorted((p for p in patients if p.dob > adult_before), key=lambda p: p.dob, reverse=True)
    if len(adults) < 4 or len(patients) < 6:
        return None
    children = (minors + adults[4:])[:2]
    return adults[:4], [(p, "parent" if p.dob > adult_before else "caregiver") for p in children]


def _file_queue(session: Session, accounts_and_charts: dict[str, tuple[PortalAccount, Patient]]) -> int:
    """One item of each kind in the queue, sent through the patients' own services."""
    def chart(name: str) -> tuple[int, portal_auth.ChartView]:
        account, patient = accounts_and_charts[name]
        view = portal_auth.chart_for(session=session, account_id=ident(account), patient_id=ident(patient))
        if view is None:  # each was connected just before, to an enabled chart
            raise RuntimeError(f"demo data: the {name} chart is not reachable from its account")
        return ident(account), view

    own_id, own_chart = chart("own")
    messages.start_thread(session=session, account_id=own_id, chart=own_chart,
                          subject="Question about my prescription",
                          body="Can the refill be sent to the pharmacy on Main Street instead?")
    filed = 1
    second_id, second_chart = chart("second")
    values = forms.intake_values(session=session, patient_id=second_chart.patient_id)
    values.update(city="Lakeside", pharmacy="Main Street Pharmacy")
    filed += forms.submit_intake(session=session, account_id=second_id, chart=second_chart,
                                 values=values) is not None
    documents.upload(session=session, account_id=second_id, chart=second_chart,
                     filename="outside-lab-results.pdf", data=_lab_letter_pdf(),
                     note="Results from the lab near my work.")
    filed += 1
    soon = clock.now().date() + timedelta(days=7)
    family_id, child_b_chart = chart("child_b")
    appointments.request_appointment(session=session, account_id=family_id, chart=child_b_chart,
                                     preferred=[(soon.isoformat(), "morning"),
                                                ((soon + timedelta(days=1)).isoformat(), "any")],
                                     reason="School sports physical.")
    filed += 1
    family_id, child_a_chart = chart("child_a")
    messages.start_thread(session=session, account_id=family_id, chart=child_a_chart,
                          subject="Vaccination record", body="Could you share the updated vaccination record?")
    return filed + 1


def generate(*, session: Session) -> int:
    """Add the demo activity to the first demo patients; returns the number of queue items filed.

    Does nothing (returns 0) when portal accounts exist or there are too few adult patients.
    """
    if session.exec(select(PortalAccount)).first() is not None:
        return 0
    people = _people(session)
    if people is None:
        return 0
    (adult, other, parent, invited), ((child_a, relation_a), (child_b, relation_b)) = people
    own, second, family = (_account(session, _demo_user_id(p), p.first_name, p.last_name)
                           for p in (adult, other, parent))
    _connect(session, own, adult, AccessType.SELF, areas.ALL_AREAS)
    _connect(session, second, other, AccessType.SELF, areas.ALL_AREAS)
    _connect(session, family, parent, AccessType.SELF, areas.ALL_AREAS)
    _connect(session, family, child_a, AccessType.REPRESENTATIVE, "messages,appointments,forms", relation_a)
    _connect(session, family, child_b, AccessType.REPRESENTATIVE, "appointments", relation_b)
    form_requests.request_forms(session=session, patient_id=ident(invited), forms=["intake", "consent"],
                                actor=DEMO_ACTOR)
    form_requests.request_forms(session=session, patient_id=ident(child_a), forms=["history"], actor=DEMO_ACTOR)
    session.commit()
    return _file_queue(session, {"own": (own, adult), "second": (second, other),
                                 "child_a": (family, child_a), "child_b": (family, child_b)})
