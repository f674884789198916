"""Merging a duplicate chart into the chart that survives (an HL7 A40 from the EHR).

What the merged chart had moves to the survivor, so the person keeps one chart and one portal
account:

- Connections: each live connection of the merged chart is ended there and made again on the
  survivor through `accounts` (the only place that connects charts), with its access type,
  relationship and areas. An account already connected to the survivor keeps that connection.
- Two `self` accounts (one on each chart): the survivor's is kept. The merged chart's own account
  loses its connection to the merged chart; when it then reaches no chart at all it is disabled
  (sessions ended, links voided), so one person does not keep two ways in. Its history stays for
  the audit log and staff can still find it in User Management.
- Queue items (with the survivor's name sort key), documents, form requests and appointment
  requests are re-pointed to the survivor.
- The merged chart's portal access ends (its open links die, its sessions end), `merged_into_id`
  points at the survivor and `status_note` says "Merged into chart N". When the merged chart had
  portal access and the survivor had not (and is not deceased), access carries over, so the
  account that moved can still sign in.
- Both charts get an audit event; the adoption rows of both are rebuilt in the same transaction.

The caller commits (one transaction with whatever else the message did).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AppointmentRequest,
    FormRequest,
    Patient,
    PortalAccount,
    PortalConnection,
    PortalDocument,
    PortalTask,
    ident,
)
from portal_app.services import accounts, audit, clock, onboarding, sessions, tokens
from portal_app.services.adoption import facts
from portal_app.services.errors import InvalidInput

MERGED_NOTE = "Merged into chart {chart}"


@dataclass(frozen=True)
class Merged:
    connections_moved: int
    connections_ended: int
    accounts_disabled: int
    items_moved: int  # queue items
    documents_moved: int
    form_requests_moved: int
    appointment_requests_moved: int
    access_carried_over: bool

    def summary(self) -> str:
        return (f"connections moved={self.connections_moved}; connections ended={self.connections_ended}; "
                f"accounts disabled={self.accounts_disabled}; queue items moved={self.items_moved}; "
                f"documents moved={self.documents_moved}; form requests moved={self.form_requests_moved}; "
                f"appointment requests moved={self.appointment_requests_moved}; "
                f"access carried over={'yes' if self.access_carried_over else 'no'}")


def end_access(*, session: Session, patient: Patient, actor: audit.Actor, rule: str, note: str = "") -> bool:
    """Turn the chart's portal access off without committing: sessions of its connected accounts
    end, its open links die; audited with the rule that did it. Returns whether access was on.

    Args:
        rule: why, for the audit log ("adt A23", "chart merged").
        note: the chart's new `status_note` for the onboarding list ("" keeps it).
    """
    if note:
        patient.status_note = note[:200]
        session.add(patient)
    if not patient.portal_enabled:
        return False
    ended = onboarding.end_access(session=session, patient=patient)
    audit.record(session=session, actor=actor, action="portal.disable", patient_id=patient.id,
                 detail=f"rule={rule}; sessions ended={ended.sessions}; links voided={ended.links}")
    return True


def _check(surviving: Patient, merged: Patient) -> None:
    if surviving.id == merged.id:
        raise InvalidInput("A chart cannot be merged into itself.", field="chart_number")
    if merged.merged_into_id is not None:
        raise InvalidInput(f"Chart {merged.chart_number} was already merged into another chart.",
                           field="merged")
    if surviving.merged_into_id is not None:
        raise InvalidInput(f"Chart {surviving.chart_number} was merged into another chart; it cannot survive "
                           "a merge.", field="chart_number")


def _disable_if_orphaned(session: Session, account_id: int, actor: audit.Actor, merged: Patient) -> int:
    """Disable the merged chart's own account when it reaches no chart any more. Returns 1 if done."""
    session.flush()
    account = session.get(PortalAccount, account_id)
    if account is None or account.status == AccountStatus.DISABLED:
        return 0
    if accounts.live_connections_of(session=session, account_id=account_id):
        return 0
    old = account.status
    account.status = AccountStatus.DISABLED
    session.add(account)
    ended = sessions.end_all(session=session, portal_account_id=account_id)
    voided = tokens.revoke_live(session=session, account_id=account_id)
    audit.record(session=session, actor=actor, action="account.disable", account_id=account_id,
                 patient_id=merged.id,
                 detail=f"rule=chart merged; status {old.value} -> {AccountStatus.DISABLED.value}; "
                        f"the surviving chart keeps its own account; sessions ended={ended}; links voided={voided}")
    return 1


def _move_connections(session: Session, surviving: Patient, merged: Patient,
                      actor: audit.Actor) -> tuple[int, int, int]:
    """(moved, ended, accounts disabled)."""
    survivor_accounts = set(accounts.connected_account_ids(session=session, patient_id=ident(surviving)))
    survivor_has_self = accounts.self_account(session=session, patient_id=ident(surviving)) is not None
    live = list(session.exec(select(PortalConnection).where(PortalConnection.patient_id == merged.id,
                                                            col(PortalConnection.revoked_at).is_(None))))
    moved = ended = disabled = 0
    for connection in live:
        account = session.get(PortalAccount, connection.account_id)
        keep = (account is not None and connection.account_id not in survivor_accounts
                and not (connection.access_type == AccessType.SELF and survivor_has_self))
        if keep and account is not None:
            # Connect on the survivor first, so the account never reaches no chart in between.
            accounts.connect_chart(session=session, account=account, patient=surviving,
                                   requested_by=connection.requested_by or "chart merge",
                                   access=connection.access_type, permissions=connection.permissions,
                                   relationship=connection.relationship, staff_id=connection.connected_by_staff_id,
                                   field="chart_number")
            survivor_accounts.add(connection.account_id)
            moved += 1
        else:
            ended += 1
        accounts.disconnect(session=session, connection=connection, patient=merged)
        audit.record(session=session, actor=actor, action="connection.merge", patient_id=merged.id,
                     account_id=connection.account_id,
                     detail=f"access={connection.access_type.value}; "
                            + (f"moved to chart {surviving.chart_number}" if keep else
                               f"ended: chart {surviving.chart_number} already has "
                               + ("its own account" if connection.access_type == AccessType.SELF
                                  and survivor_has_self else "this account")))
        if not keep and connection.access_type == AccessType.SELF:
            disabled += _disable_if_orphaned(session, connection.account_id, actor, merged)
    return moved, ended, disabled


def _move_rows(session: Session, surviving: Patient, merged: Patient) -> tuple[int, int, int, int]:
    """Re-point the merged chart's queue items, documents, form requests and appointment requests."""
    survivor_id, merged_id = ident(surviving), ident(merged)
    counts = []
    for table, values in ((PortalTask, {"patient_id": survivor_id, "patient_sort_key": surviving.sort_key}),
                          (PortalDocument, {"patient_id": survivor_id}),
                          (FormRequest, {"patient_id": survivor_id}),
                          (AppointmentRequest, {"patient_id": survivor_id})):
        rows = list(session.exec(select(table).where(col(table.patient_id) == merged_id)))
        for row in rows:
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)
        counts.append(len(rows))
    return counts[0], counts[1], counts[2], counts[3]


def merge(*, session: Session, surviving: Patient, merged: Patient, actor: audit.Actor, source: str) -> Merged:
    """Merge `merged` into `surviving` (the caller commits; see the module's docstring).

    Raises:
        InvalidInput: the same chart twice, or either chart already merged away.
    """
    _check(surviving, merged)
    carried = merged.portal_enabled and not surviving.portal_enabled and not surviving.deceased
    if carried:
        surviving.portal_enabled = True
        surviving.updated_at = clock.now()
        session.add(surviving)
        session.flush()
        audit.record(session=session, actor=actor, action="portal.enable", patient_id=surviving.id,
                     detail=f"rule=chart merged; chart {merged.chart_number} had portal access")
    moved, ended, disabled = _move_connections(session, surviving, merged, actor)
    items, documents, forms, appointments = _move_rows(session, surviving, merged)
    # Charts merged earlier into the merged chart now point at the survivor (no chains).
    session.exec(update(Patient).where(col(Patient.merged_into_id) == merged.id)
                 .values(merged_into_id=surviving.id))
    end_access(session=session, patient=merged, actor=actor, rule="chart merged",
               note=MERGED_NOTE.format(chart=surviving.chart_number))
    merged.merged_into_id = surviving.id
    merged.updated_at = clock.now()
    session.add(merged)
    accounts.refresh_account_state(session=session, patient=merged)
    accounts.refresh_account_state(session=session, patient=surviving)
    result = Merged(moved, ended, disabled, items, documents, forms, appointments, carried)
    audit.record(session=session, actor=actor, action="chart.merge", patient_id=merged.id,
                 detail=f"source={source}; merged into chart {surviving.chart_number}; {result.summary()}")
    audit.record(session=session, actor=actor, action="chart.merge", patient_id=surviving.id,
                 detail=f"source={source}; chart {merged.chart_number} merged into this chart; {result.summary()}")
    session.flush()
    facts.refresh(session, [ident(surviving), ident(merged)])
    return result
