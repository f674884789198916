"""Portal user management: every portal account, its status, and what staff may do to it.

The list pages on the server by keyset over the unique `user_id`, like the onboarding list:
only the visible page is read, and the cursor is the first or last user ID of the page.
Searches and filters are written so that an index can serve them (the indexes on PortalAccount in models.py).

Staff actions (disable, enable, force a password change, send a reset link, unlock) each
audit the old and new values and answer with the account's fresh list row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.db import select_columns
from portal_app.models import (
    AccessType,
    AccountStatus,
    Patient,
    PortalAccount,
    PortalConnection,
    ident,
)
from portal_app.services import accounts, audit, clock, sessions, settings, tokens
from portal_app.services.choices import Choice
from portal_app.services.errors import InvalidInput, NotFound, PortalUnavailable

PAGE_SIZE = 50
MAX_SEARCH = 100
_SEP = "\x1f"
_HIGH = "\uffff"

# What the list's queries want from the database beyond the unique index on user_id. The
# queries are correct without them; these keep the rare filters and name searches from
# walking the whole table. (For the lead's migration; nothing creates them from here.)
class AccountFilter(Choice):
    ALL = "all", "All accounts"
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"
    LOCKED = "locked", "Locked (too many wrong passwords)"
    MUST_CHANGE = "must_change", "Must change password"


FILTER_LABELS = AccountFilter.labels()


@dataclass(frozen=True)
class ChartLink:
    """A connected chart, as what, and its Portal Account Setup page (to change permissions)."""

    label: str
    href: str


@dataclass(frozen=True)
class AccountRow:
    """One line of the list, as state holds it (no hash, no secret, no table row)."""

    id: int
    user_id: str
    name: str
    charts: list[ChartLink]
    status: str
    status_label: str
    disabled: bool
    locked: bool
    locked_label: str
    must_change: bool
    has_password: bool
    last_sign_in: str


@dataclass(frozen=True)
class Page:
    rows: list[AccountRow]
    first: str | None  # user_id of the first row (the "before" cursor)
    last: str | None   # user_id of the last row (the "after" cursor)
    has_next: bool
    has_prev: bool


@dataclass(frozen=True)
class ActionResult:
    """What an action did: the fresh row, and a sentence for staff."""

    row: AccountRow
    message: str
    ok: bool = True


def parse_filter(value: str) -> AccountFilter:
    """A filter value from the browser; anything unknown means "all"."""
    try:
        return AccountFilter(value)
    except ValueError:
        return AccountFilter.ALL


def _unindexed(column):
    """`column` in a form no index can serve (see onboarding._unindexed)."""
    return func.coalesce(column, column)


def _phone_prefix(text: str) -> str | None:
    """A typed phone number (whole or its start) as the start of an E.164 user ID."""
    if not re.fullmatch(r"\+?[\d\s().\-]{3,32}", text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3:
        return None
    if text.startswith("+") or (len(digits) == 11 and digits.startswith("1")):
        return "+" + digits
    return "+1" + digits


def _name_parts(text: str) -> tuple[str, str]:
    """("last", "first") from "Last, First", "First Last" or "Last" (lower-cased)."""
    if "," in text:
        last, _, first = text.partition(",")
    else:
        parts = text.split(" ")
        last, first = (parts[-1], " ".join(parts[:-1])) if len(parts) > 1 else (text, "")
    return last.strip().lower(), first.strip().lower()


def _prefix(column, prefix: str):
    return and_(column >= prefix, column < prefix + _HIGH)


MIN_NAME_SEARCH = 3


def _search_terms(text: str):
    """The WHERE clause for a search, or None for no search. Each OR term has its own index:
    user_id (unique), lower(last_name), and a connected chart's name (sort_key)
    or chart number, reached through the connection's (patient_id, account_id) index."""
    text = " ".join((text or "").replace("\x00", "").split())[:MAX_SEARCH]
    if not text:
        return None
    if "@" in text:
        return _prefix(col(PortalAccount.user_id), text.lower())
    phone = _phone_prefix(text)
    if phone is not None:
        return _prefix(col(PortalAccount.user_id), phone)
    if len(text) < MIN_NAME_SEARCH:
        # One or two letters match a large share of every name: only the user ID (one ordered
        # index range) answers them; names and charts are searched from three letters.
        return _prefix(col(PortalAccount.user_id), text.lower())
    last, first = _name_parts(text)
    own_name = _prefix(func.lower(PortalAccount.last_name), last)
    if first:
        own_name = and_(own_name, _prefix(func.lower(PortalAccount.first_name), first))
    chart_key = last + (_SEP + first if first else "")
    live = col(PortalConnection.revoked_at).is_(None)
    by_chart_name = (select(PortalConnection.account_id)
                     .join(Patient, col(PortalConnection.patient_id) == Patient.id)
                     .where(_prefix(col(Patient.sort_key), chart_key), live))
    terms = [_prefix(col(PortalAccount.user_id), text.lower()), own_name,
             col(PortalAccount.id).in_(by_chart_name)]
    if re.fullmatch(r"[A-Za-z]{0,3}\d[\w-]*", text):
        by_chart_number = (select(PortalConnection.account_id)
                           .join(Patient, col(PortalConnection.patient_id) == Patient.id)
                           .where(Patient.chart_number == text.upper(), live))
        terms.append(col(PortalAccount.id).in_(by_chart_number))
    return or_(*terms)


def _filtered(query, *, search: str, status: AccountFilter):
    # Accounts deleted in Portal Account Setup stay only for the audit log.
    query = query.where(col(PortalAccount.deleted_at).is_(None))
    terms = _search_terms(search)
    if terms is not None:
        query = query.where(terms)
    # With a search, the search's indexes pick the rows and the filter only sifts them:
    # an indexable filter would tempt SQLite into walking every account of that status.
    searching = terms is not None
    state = _unindexed(PortalAccount.status) if searching else col(PortalAccount.status)
    must = _unindexed(PortalAccount.must_change_password) if searching else col(PortalAccount.must_change_password)
    locked = _unindexed(PortalAccount.locked_until) if searching else col(PortalAccount.locked_until)
    if status == AccountFilter.ENABLED:
        # Most accounts are enabled: walking user_id order and skipping the few disabled is cheap.
        query = query.where(_unindexed(PortalAccount.status) != AccountStatus.DISABLED)
    elif status == AccountFilter.DISABLED:
        query = query.where(state == AccountStatus.DISABLED)
    elif status == AccountFilter.LOCKED:
        query = query.where(locked > clock.now())
    elif status == AccountFilter.MUST_CHANGE:
        query = query.where(must.is_(True))
    return query


_COLUMNS = (PortalAccount.id, PortalAccount.user_id, PortalAccount.first_name, PortalAccount.last_name,
            PortalAccount.status, PortalAccount.must_change_password, PortalAccount.locked_until,
            PortalAccount.last_sign_in_at,
            col(PortalAccount.password_hash).is_not(None).label("has_password"))


def _charts_of(session: Session, account_ids: list[int]) -> dict[int, list[tuple]]:
    """Live connections of these accounts with their chart's name: {account_id: [...]}."""
    if not account_ids:
        return {}
    query = (select_columns(PortalConnection.account_id, PortalConnection.access_type,
                            PortalConnection.relationship, Patient.first_name, Patient.last_name,
                            Patient.chart_number, Patient.id)
             .join(Patient, col(PortalConnection.patient_id) == Patient.id)
             .where(col(PortalConnection.account_id).in_(account_ids),
                    col(PortalConnection.revoked_at).is_(None))
             .order_by(col(PortalConnection.account_id), col(PortalConnection.id)))
    found: dict[int, list[tuple]] = {}
    for account_id, *chart in session.exec(query):
        found.setdefault(account_id, []).append(tuple(chart))
    return found


def _chart_link(access: AccessType, relationship: str, first: str, last: str, chart: str,
                patient_id: int) -> ChartLink:
    role = accounts.ACCESS_LABELS[access]
    if access == AccessType.REPRESENTATIVE and relationship:
        role += f" ({relationship})"
    return ChartLink(label=f"{last}, {first} ({chart}): {role}", href=routes.portal_accounts(patient_id))


def _row(values, charts: list[tuple], zone: tzinfo) -> AccountRow:
    (account_id, user_id, first, last, status, must_change, locked_until, last_sign_in,
     has_password) = values
    name = f"{last}, {first}".strip(", ") if (first or last) else ""
    if not name:
        own = next((c for c in charts if c[0] == AccessType.SELF), None)
        name = f"{own[3]}, {own[2]}" if own else ""
    now = clock.now()
    locked = locked_until is not None and clock.aware(locked_until) > now
    return AccountRow(
        id=account_id, user_id=user_id, name=name,
        charts=[_chart_link(*c) for c in charts],
        status=status.value, status_label=accounts.STATUS_LABELS.get(status, status.value),
        disabled=status == AccountStatus.DISABLED, locked=locked,
        locked_label=f"Locked until {clock.stamp(locked_until, zone)}" if locked else "",
        must_change=bool(must_change), has_password=bool(has_password),
        last_sign_in=clock.stamp(last_sign_in, zone, empty="Never"),
    )


def list_page(*, session: Session, search: str = "", status: AccountFilter = AccountFilter.ALL,
              after: str | None = None, before: str | None = None,
              limit: int = PAGE_SIZE) -> Page:
    """One page of accounts in user ID order, after or before a user ID."""
    query = _filtered(select_columns(*_COLUMNS), search=search, status=status)
    # Locks last minutes, so few accounts are locked at once: find them through the
    # locked_until index and sort them, rather than walk every account in user ID order.
    user_id = (_unindexed(PortalAccount.user_id) if status == AccountFilter.LOCKED
               else col(PortalAccount.user_id))
    if before is not None:
        query = query.where(user_id < before).order_by(user_id.desc())
    else:
        if after is not None:
            query = query.where(user_id > after)
        query = query.order_by(user_id)
    found = list(session.exec(query.limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    if before is not None:
        found.reverse()
    charts = _charts_of(session, [values[0] for values in found])
    zone = settings.zone(session=session)
    rows = [_row(values, charts.get(values[0], []), zone) for values in found]
    return Page(rows=rows, first=rows[0].user_id if rows else None,
                last=rows[-1].user_id if rows else None,
                has_next=more if before is None else True,
                has_prev=(after is not None) if before is None else more)


def account_row(*, session: Session, account_id: int) -> AccountRow:
    """One list row, fresh from the database.

    Raises:
        NotFound: no such account.
    """
    values = session.exec(select_columns(*_COLUMNS).where(
        PortalAccount.id == account_id, col(PortalAccount.deleted_at).is_(None))).first()
    if values is None:
        raise NotFound("That portal account no longer exists.")
    return _row(values, _charts_of(session, [account_id]).get(account_id, []), settings.zone(session=session))


# ---- actions ------------------------------------------------------------------------


def _account(session: Session, account_id: int) -> PortalAccount:
    account = session.get(PortalAccount, account_id) if isinstance(account_id, int) else None
    # A deleted account (Portal Account Setup) stays only for the audit log: no action revives it.
    if account is None or account.deleted_at is not None:
        raise NotFound("That portal account no longer exists.")
    return account


def _finish(session: Session, account: PortalAccount, message: str, ok: bool = True) -> ActionResult:
    session.commit()
    return ActionResult(row=account_row(session=session, account_id=ident(account)), message=message, ok=ok)


def disable(*, session: Session, account_id: int, actor: audit.Actor) -> ActionResult:
    """Disable the account: it cannot sign in, every session ends, outstanding links die.

    Already disabled: nothing changes, nothing is logged.
    """
    account = _account(session, account_id)
    if account.status == AccountStatus.DISABLED:
        return _finish(session, account, f"{account.user_id} is already disabled.")
    old = account.status
    account.status = AccountStatus.DISABLED
    session.add(account)
    ended = sessions.end_all(session=session, portal_account_id=account.id)
    voided = tokens.revoke_live(session=session, account_id=account.id)
    accounts.refresh_charts_of(session=session, account_id=ident(account))
    audit.record(session=session, actor=actor, action="account.disable", account_id=account.id,
                 detail=f"status {old.value} -> {AccountStatus.DISABLED.value}; "
                        f"sessions ended={ended}; links voided={voided}")
    return _finish(session, account, f"{account.user_id} is disabled; it has been signed out everywhere.")


def enable(*, session: Session, account_id: int, actor: audit.Actor) -> ActionResult:
    """Enable a disabled account: active again, or pending when it never had a password."""
    account = _account(session, account_id)
    if account.status != AccountStatus.DISABLED:
        return _finish(session, account, f"{account.user_id} is already enabled.")
    new = AccountStatus.ACTIVE if account.password_hash else AccountStatus.PENDING
    account.status = new
    session.add(account)
    accounts.refresh_charts_of(session=session, account_id=ident(account))
    audit.record(session=session, actor=actor, action="account.enable", account_id=account.id,
                 detail=f"status {AccountStatus.DISABLED.value} -> {new.value}")
    return _finish(session, account, f"{account.user_id} is enabled.")


def force_password_change(*, session: Session, account_id: int, actor: audit.Actor) -> ActionResult:
    """At its next sign-in (and on the next page of a live session) the account must choose
    a new password."""
    account = _account(session, account_id)
    if not account.password_hash:
        raise InvalidInput(f"{account.user_id} has no password yet: send a reset link instead.")
    if account.must_change_password:
        return _finish(session, account, f"{account.user_id} already must change its password.")
    account.must_change_password = True
    session.add(account)
    audit.record(session=session, actor=actor, action="account.force_password_change",
                 account_id=account.id, detail="must_change_password False -> True")
    return _finish(session, account,
                   f"{account.user_id} must choose a new password at the next sign-in.")


def unlock(*, session: Session, account_id: int, actor: audit.Actor) -> ActionResult:
    """Clear a lockout after too many wrong passwords, and the count of wrong tries."""
    account = _account(session, account_id)
    if account.locked_until is None and account.failed_logins == 0:
        return _finish(session, account, f"{account.user_id} is not locked.")
    detail = (f"locked_until {clock.stamp(account.locked_until, empty='none')} -> none; "
              f"failed_logins {account.failed_logins} -> 0")
    account.locked_until = None
    account.failed_logins = 0
    session.add(account)
    audit.record(session=session, actor=actor, action="account.unlock", account_id=account.id,
                 detail=detail)
    return _finish(session, account, f"{account.user_id} is unlocked.")


def _reset_chart(session: Session, account_id: int) -> tuple[Patient | None, bool]:
    """The chart a reset link is tied to, and whether it is the account's own: its own, else
    the first it acts for (the link only works while that chart has portal access)."""
    query = (select(Patient, PortalConnection.access_type)
             .join(PortalConnection, col(PortalConnection.patient_id) == Patient.id)
             .where(PortalConnection.account_id == account_id,
                    col(PortalConnection.revoked_at).is_(None), col(Patient.portal_enabled).is_(True))
             .order_by(col(PortalConnection.id)))
    found = list(session.exec(query))
    own = next((patient for patient, access in found if access == AccessType.SELF), None)
    if own is not None:
        return own, True
    return (found[0][0] if found else None), False


def _destination(account: PortalAccount, chart: Patient, own: bool) -> tuple[str, str]:
    """(channel, address): the email or mobile number the user ID is; for a plain username,
    the email on the account's own chart (when the patient allows email)."""
    if "@" in account.user_id:
        return "email", account.user_id
    if re.fullmatch(r"\+\d{8,15}", account.user_id):
        return "sms", account.user_id
    if own and chart.email and chart.allow_email:
        return "email", chart.email
    raise InvalidInput(f"{account.user_id} is neither an email address nor a phone number, and its "
                       "chart has no email that may be used. Set a password in Portal Account Setup.")


def send_reset_link(*, session: Session, account_id: int, actor: audit.Actor) -> ActionResult:
    """Send a password-reset link to the account's user ID: by email, or by text message.

    The same link as the chart's reset email (`invitations.redeem_reset` takes it). A second
    click within a minute answers with the link just sent instead of sending another.

    Raises:
        PortalUnavailable: the portal is switched off.
        InvalidInput: the account is disabled, or no chart of it has portal access.
    """
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    account = _account(session, account_id)
    if account.status == AccountStatus.DISABLED:
        raise InvalidInput(f"{account.user_id} is disabled. Enable it before sending a reset link.")
    chart, own = _reset_chart(session, ident(account))
    if chart is None:
        raise InvalidInput(f"No chart connected to {account.user_id} has portal access enabled, "
                           "so a reset link would not work.")
    channel, to = _destination(account, chart, own)
    by = "text message" if channel == "sms" else "email"
    if accounts.link_just_sent(session=session, account_id=ident(account)):
        return _finish(session, account, f"A reset link was just sent to {to} by {by}.")
    sent = accounts.send_password_link(session=session, account=account, patient=chart, to=to, channel=channel,
                                       first_name=account.first_name or chart.first_name, setup=False,
                                       actor=actor)
    message, secret = sent.message, sent.secret
    audit.record(session=session, actor=actor, action="reset.send", patient_id=chart.id,
                 account_id=account.id,
                 detail=f"by {by} to {to}; message #{message.id} {message.status.value}; link #{secret.id}")
    if message.status.value == "failed":
        return _finish(session, account, f"The reset link to {to} could not be sent; it is in the "
                                         "outbox to retry.", ok=False)
    return _finish(session, account, f"Reset link sent to {to} by {by}.")
