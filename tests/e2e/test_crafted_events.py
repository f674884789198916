"""The outside probe's crafted events, kept as a regression test (issue 11).

A raw websocket client (tests/wsclient.py) connects as a made-up tab and calls every event
handler of every state by name, with arguments shaped like the real ones (another chart's id,
form fields): with no session, with a patient's live session cookie, and with the live session
of a staff user whose role grants nothing. Nothing in
the database may change but the audit of the refusals, what the public forms do for anyone
(Create Account sends a code to the address typed in it) and the probing patient's own account
(anyone may start two-step enrolment for themself); no frame may carry the other chart's
name, date of birth or email, and no handler may answer with a traceback.
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
import time
import typing
from datetime import date

import reflex as rx
from sqlalchemy import text
from sqlmodel import SQLModel, select

import portal_app.portal_app  # noqa: F401  (registers every page and so every state)
from portal_app import db
from portal_app.models import PortalAccount, Role
from portal_app.services import portal_auth, staff_auth
from portal_app.session_cookies import PATIENT_COOKIE, STAFF_COOKIE
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import PASSPHRASE, create_patient, give_account, unique_tag
from tests.wsclient import ReflexSocket, event, hydrate_event

# Rows these may change while the probe runs: refusals are audited, the patient's session is
# touched by each event, and the delivery worker settles earlier tests' messages (new ones are
# counted below).
CHANGING = {"auditevent", "authsession", "outboxmessage"}
# Reflex's own handlers (hydration, client storage): not ours to probe.
# The address every crafted form carries.
PROBE_ADDRESS = "probe@example.net"
REFLEX_OWN = {"hydrate", "hydrate_and_load", "update_vars_internal", "on_load_internal", "set_is_hydrated"}

Rows = dict[str, dict[str, str]]  # table -> first column's value -> a digest of the row


def _all_states(cls: type[rx.State]) -> typing.Iterator[type[rx.State]]:
    for sub in sorted(cls.get_substates(), key=lambda c: c.__name__):
        yield sub
        yield from _all_states(sub)


def _value(name: str, annotation: object, chart_id: int) -> object:
    """An argument as a crafted client would send it."""
    hint = str(annotation)
    if "int" in hint or name.endswith("_id"):
        return chart_id
    if "bool" in hint:
        return True
    if "dict" in hint or name == "form_data":
        return {"password": PASSPHRASE, "confirm": PASSPHRASE, "user_id": PROBE_ADDRESS, "code": "123456",
                "email": PROBE_ADDRESS, "note": "probe", "patient_id": chart_id}
    if "list" in hint:
        return [chart_id]
    return str(chart_id)


def _setvar_target(cls: type[rx.State]) -> str:
    """What a crafted `setvar` names: a var with a setter if the state has one, else any var."""
    public = [name for name in cls.base_vars if not name.startswith("_")]
    with_setter = [name for name in public if f"set_{name}" in cls.event_handlers]
    return (with_setter or public or ["router"])[0]


def crafted_events(chart_id: int) -> list[dict]:
    """One call of every handler of every state (sign-outs last, so the session lives throughout)."""
    calls = []
    for cls in _all_states(rx.State):
        for name, handler in cls.event_handlers.items():
            if name.startswith("_") or name in REFLEX_OWN:
                continue
            parameters = list(inspect.signature(handler.fn).parameters.values())[1:]
            payload = {p.name: _value(p.name, p.annotation, chart_id) for p in parameters
                       if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            if name == "setvar":
                payload = {"var_name": _setvar_target(cls), "value": str(chart_id)}
            calls.append(event(f"{cls.get_full_name()}.{name}", payload, path=f"/staff/patients/{chart_id}"))
    return sorted(calls, key=lambda call: "sign_out" in call["name"])


def snapshot(app_server: AppServer) -> tuple[Rows, int]:
    """Every table's rows (but CHANGING) by first column, and how many outbox messages exist
    (but those to the probe's own address)."""
    tables: Rows = {}
    with db.session_scope(app_server.db_url) as session:
        for table in sorted(SQLModel.metadata.tables):
            if table in CHANGING:
                continue
            rows = session.execute(text(f'SELECT * FROM "{table}"')).all()
            tables[table] = {repr(row[0]): hashlib.sha256(repr(tuple(row)).encode()).hexdigest() for row in rows}
        messages = session.execute(text("SELECT count(*) FROM outboxmessage WHERE to_address != :probe"),
                                   {"probe": PROBE_ADDRESS}).scalar_one()
    return tables, messages


def changed_rows(before: Rows, after: Rows) -> dict[str, set[str]]:
    """table -> the keys of rows added, removed or changed."""
    changed = {}
    for table, rows in after.items():
        old = before.get(table, {})
        keys = {key for key in rows.keys() | old.keys() if rows.get(key) != old.get(key)}
        if keys:
            changed[table] = keys
    return changed


def unexpected(changed: dict[str, set[str]], allowed: dict[str, set[str]]) -> dict[str, set[str]]:
    left = {table: keys - allowed.get(table, set()) for table, keys in changed.items()}
    return {table: keys for table, keys in left.items() if keys}


def public_rows(app_server: AppServer) -> dict[str, set[str]]:
    """What the public forms may make for anyone: a code sent to the address typed in Create
    Account, tied to no chart and no account."""
    return _ids(app_server, {"onetimesecret": "SELECT id FROM onetimesecret WHERE destination = :probe "
                                              "AND patient_id IS NULL AND account_id IS NULL"})


def staff_rows(app_server: AppServer, staff_user_id: int) -> dict[str, set[str]]:
    """The rows that belong to the probing staff user (their own two-step enrolment)."""
    return _ids(app_server, {
        "secondfactor": "SELECT id FROM secondfactor WHERE staff_user_id = :staff",
        "recoverycode": "SELECT r.id FROM recoverycode r JOIN secondfactor f ON f.id = r.factor_id "
                        "WHERE f.staff_user_id = :staff",
    }, staff=staff_user_id)


def own_rows(app_server: AppServer, account_id: int, patient_id: int) -> dict[str, set[str]]:
    """The rows that belong to the probing patient's own account (its two-step enrolment)."""
    return _ids(app_server, {
        "secondfactor": "SELECT id FROM secondfactor WHERE portal_account_id = :account",
        "recoverycode": "SELECT r.id FROM recoverycode r JOIN secondfactor f ON f.id = r.factor_id "
                        "WHERE f.portal_account_id = :account",
        "onetimesecret": "SELECT id FROM onetimesecret WHERE account_id = :account OR patient_id = :patient",
    }, account=account_id, patient=patient_id)


def _ids(app_server: AppServer, queries: dict[str, str], **values: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with db.session_scope(app_server.db_url) as session:
        for table, sql in queries.items():
            ids = session.execute(text(sql), {"probe": PROBE_ADDRESS, **values}).scalars().all()
            found[table] = {repr(value) for value in ids}
    return found


def staff_without_permissions(app_server: AppServer) -> tuple[int, str]:
    """A staff user whose only role grants nothing, signed in; (their id, the session id)."""
    username, password = f"probe{unique_tag().lower()}", "quartz meadow lantern 47 ripple"
    with db.session_scope(app_server.db_url) as session:
        role = f"Nothing granted {unique_tag()}"
        session.add(Role(name=role))
        session.commit()
        user = staff_auth.create_staff(session=session, username=username, full_name="Probe Nobody",
                                       password=password, role=role)
        return user.id, staff_auth.sign_in(session=session, username=username, password=password)


def _merged(*allowances: dict[str, set[str]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for allowance in allowances:
        for table, keys in allowance.items():
            merged[table] = merged.get(table, set()) | keys
    return merged


def probe(app_server: AppServer, events: list[dict], cookies: dict[str, str]) -> str:
    """Send every event at once (the server runs one tab's events in order), then read until
    the socket has been quiet for a while; every frame, as one string."""
    with ReflexSocket(app_server.base_url, f"probe-{secrets.token_hex(8)}", cookies=cookies, timeout=15) as sock:
        sock.send(hydrate_event("/"))
        sock.collect(until_final=1, timeout=10)
        for item in events:
            sock.send(item)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and sock.collect(until_final=len(events), timeout=8):
            pass
        return sock.text()


def test_every_handler_refuses_a_crafted_call_without_the_right_session(app_server: AppServer) -> None:
    target = create_patient(app_server, first_name="Philippa", last_name=f"Probe{unique_tag()}",
                            dob=date(1957, 2, 19), portal_enabled=True)
    other = create_patient(app_server, first_name="Quentin", last_name=f"Caller{unique_tag()}", portal_enabled=True)
    user_id = give_account(app_server, other)
    with db.session_scope(app_server.db_url) as session:
        account_id = session.exec(select(PortalAccount.id).where(PortalAccount.user_id == user_id)).one()
        patient_sid = portal_auth.sign_in(session=session, user_id=user_id, password=PASSPHRASE)
    staff_id, staff_sid = staff_without_permissions(app_server)
    assert patient_sid and account_id and staff_sid
    events = crafted_events(target.id)
    assert len(events) > 150  # every page's handlers, not a few

    before, sent_before = snapshot(app_server)
    unsigned = probe(app_server, events, cookies={})
    middle, sent_middle = snapshot(app_server)
    as_patient = probe(app_server, events, cookies={PATIENT_COOKIE: patient_sid})
    after, sent_after = snapshot(app_server)
    as_staff = probe(app_server, events, cookies={STAFF_COOKIE: staff_sid})
    last, sent_last = snapshot(app_server)

    public = public_rows(app_server)
    assert unexpected(changed_rows(before, middle), public) == {}  # no session: the public forms alone
    own = own_rows(app_server, account_id, other.id)
    assert unexpected(changed_rows(middle, after), _merged(public, own)) == {}
    assert unexpected(changed_rows(after, last), _merged(public, staff_rows(app_server, staff_id))) == {}
    assert sent_last == sent_after == sent_middle == sent_before  # nothing sent
    secrets_of_target = [target.last_name, target.email, target.dob.strftime("%m/%d/%Y"), "1957-02-19"]
    assert [word for word in secrets_of_target if word in unsigned] == []
    assert [word for word in secrets_of_target if word in as_patient] == []
    assert [word for word in secrets_of_target if word in as_staff] == []
    assert "Traceback" not in unsigned + as_patient + as_staff
