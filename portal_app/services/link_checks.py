"""The usernames an invitation link's holder tries, counted against the link.

"That username is already in use" tells whoever holds a live invitation link that someone has a
portal account here: asked without limit, the set-up page answers "is this person a patient
here?" for any list of addresses. So each link may give that answer TAKEN_ANSWERS_PER_LINK
times (a patient trying two or three names never gets near it); after that every username
other than the address the invitation went to gets one neutral answer, and the holder calls
the practice (which can send a new invitation). The moment a link reaches the limit is audited
once; the count is the link row's `user_id_checks`.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from portal_app.models import OneTimeSecret
from portal_app.services import accounts, audit
from portal_app.services.errors import InvalidInput

TAKEN_ANSWERS_PER_LINK = 10
USER_ID_IN_USE = "That username is already in use. Choose another."
CHECKS_STOPPED = ("This link cannot check any more usernames. Use the email address your invitation was "
                  "sent to, or call the practice at {phone} for help.")


def _stopped(row: OneTimeSecret, phone: str) -> InvalidInput:
    return InvalidInput(CHECKS_STOPPED.format(phone=phone), field="user_id")


def check_free(*, session: Session, row: OneTimeSecret, user_id: str, phone: str, ip: str = "") -> None:
    """Refuse a username already in use, counting the answer against the invitation link `row`.

    The link's own address is neither counted nor stopped: its holder knows it already.

    Args:
        user_id: normalized.
        phone: the practice's phone, for the neutral answer.

    Raises:
        InvalidInput: field "user_id": USER_ID_IN_USE, or CHECKS_STOPPED once the link has given
            TAKEN_ANSWERS_PER_LINK answers "in use" (whether or not this one is taken). A counted
            answer is committed before it is raised.
    """
    own = user_id == row.destination
    if not own and row.user_id_checks >= TAKEN_ANSWERS_PER_LINK:
        raise _stopped(row, phone)
    if accounts.account_by_user_id(session=session, user_id=user_id) is None:
        return
    if own:
        raise InvalidInput(USER_ID_IN_USE, field="user_id")
    # One UPDATE counts it, so simultaneous tries cannot all pass a stale count.
    session.exec(update(OneTimeSecret).where(col(OneTimeSecret.id) == row.id)
                 .values(user_id_checks=col(OneTimeSecret.user_id_checks) + 1))
    session.refresh(row)
    if row.user_id_checks == TAKEN_ANSWERS_PER_LINK:
        audit.record(session=session, actor=audit.Actor.anonymous("invitation link", ip),
                     action="link.user_id_checks_stopped", patient_id=row.patient_id,
                     detail=f"invitation link #{row.id}: {TAKEN_ANSWERS_PER_LINK} usernames already in use "
                            "were tried; other usernames are refused on this link from now on")
    session.commit()
    if row.user_id_checks > TAKEN_ANSWERS_PER_LINK:
        raise _stopped(row, phone)
    raise InvalidInput(USER_ID_IN_USE, field="user_id")
