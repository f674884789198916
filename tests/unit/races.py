"""Simulated races: another request's row appears between a service's check and its insert.

The rival row is written on the same connection just before ours (a mapper event), so it is
there when the unique index judges our insert, exactly as if another request had committed it
a moment earlier, and no second connection has to wait on SQLite's write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, insert

from portal_app.models import AccountStatus, PortalAccount, PortalConnection
from portal_app.services import clock


@contextmanager
def _before_write(model, write_rival, when: str = "before_insert") -> Iterator[list]:
    seen: list = []

    def listener(_mapper, connection, target) -> None:
        if not seen:  # one rival is enough: the first insert of the kind meets it
            seen.append(target)
            write_rival(connection, target)

    event.listen(model, when, listener)
    try:
        yield seen
    finally:
        event.remove(model, when, listener)


@contextmanager
def rival_account(*, renaming: bool = False) -> Iterator[list]:
    """Another account with the same user ID is created just before this one is written (or,
    `renaming`, just before an account is given that user ID)."""
    def write(connection, target: PortalAccount) -> None:
        connection.execute(insert(PortalAccount).values(
            user_id=target.user_id, status=AccountStatus.PENDING, first_name="", last_name="",
            must_change_password=False, failed_logins=0, created_at=clock.now()))
    with _before_write(PortalAccount, write, "before_update" if renaming else "before_insert") as seen:
        yield seen


@contextmanager
def rival_connection() -> Iterator[list]:
    """The same account is connected to the same chart just before this connection."""
    def write(connection, target: PortalConnection) -> None:
        connection.execute(insert(PortalConnection).values(
            account_id=target.account_id, patient_id=target.patient_id, access_type=target.access_type,
            relationship="", permissions=target.permissions, requested_by="the other request",
            connected_at=clock.now()))
    with _before_write(PortalConnection, write) as seen:
        yield seen
