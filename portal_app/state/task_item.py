"""One queue item (`/staff/tasks/[task_id]`): header, detail by kind, and the queue actions.

The item id comes only from the page's own URL (set by `load`); every handler asks the
service, which checks the user's access to this item again (full access, or an open forward
to them for a limited user). What state holds: small view rows, the body being typed, and at
most one document preview (the checked file route's URL, never the bytes).
"""

from __future__ import annotations

import re
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import audit, forms, tasks
from portal_app.services.errors import DomainError, Forbidden, NotFound
from portal_app.services.tasks import ItemView, StaffOption
from portal_app.state.base import StaffSessionState, call

_ITEM_PATH = re.compile(r"/staff/tasks/(\d{1,12})/?$")
STALE = "This item is no longer open here. Reload the page and try again."
SHOWN = object()  # _act's result when the refusal was shown beside its field


def _id_of(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class TaskItemState(StaffSessionState):
    item: ItemView = ItemView()
    loaded: bool = False
    load_error: str = ""
    # A limited user answered a forwarded item: shown, but it no longer opens for them.
    closed: bool = False
    notice: str = ""
    error: str = ""

    # Message
    posts: list[dict[str, str]] = []
    reply_text: str = ""
    reply_error: str = ""

    # Intake form
    changes: list[dict[str, str]] = []
    conflict_id: int = 0
    conflict_text: str = ""

    # Document share
    documents: list[dict[str, str]] = []
    preview_id: int = 0
    preview_name: str = ""
    preview_type: str = ""
    preview_url: str = ""

    # Appointment request
    appt_reason: str = ""
    appt_preferred: list[str] = []
    appt_status: str = ""
    appt_status_label: str = ""
    appt_note: str = ""
    appt_decided: str = ""
    decision_note: str = ""
    decision_error: str = ""

    # Forward
    forward_open: bool = False
    forward_options: list[StaffOption] = []
    forward_to: str = ""
    forward_note: str = ""
    forward_error: str = ""

    _task_id: int = 0

    # ---- derived ------------------------------------------------------------------------

    @rx.var
    def unmerged_count(self) -> int:
        return sum(1 for c in self.changes if c.get("mergeable") == "1" and c.get("merged") != "1")

    @rx.var
    def has_mergeable(self) -> bool:
        return any(c.get("mergeable") == "1" for c in self.changes)

    @rx.var
    def up_to_date(self) -> bool:
        """"All information is up to date": every chart change merged, or the patient sent the
        intake form with nothing changed (consent and history answers are for reading only)."""
        if self.item.kind != "intake_form" or self.unmerged_count:
            return False
        return self.has_mergeable or not self.changes

    # ---- helpers ------------------------------------------------------------------------

    def _route_task_id(self) -> int:
        match = _ITEM_PATH.search(self.router.url.path or "")
        return int(match.group(1)) if match else 0

    def _clear(self) -> None:
        self.item = ItemView()
        self.loaded = False
        self.closed = False
        self.load_error = self.notice = self.error = ""
        self.posts, self.changes, self.documents = [], [], []
        self.reply_text = self.reply_error = ""
        self.conflict_id, self.conflict_text = 0, ""
        self._clear_preview()
        self.appt_reason = self.appt_status = self.appt_status_label = self.appt_note = self.appt_decided = ""
        self.appt_preferred = []
        self.decision_note = self.decision_error = ""
        self.forward_open = False
        self.forward_options = []
        self.forward_to = self.forward_note = self.forward_error = ""
        self._task_id = 0

    def _clear_preview(self) -> None:
        self.preview_id, self.preview_name, self.preview_type, self.preview_url = 0, "", "", ""

    def _messages(self) -> None:
        self.notice = self.error = ""

    async def _who(self):
        """(principal, None) for a live session on an open item; else (None, an answer)."""
        principal = await self._principal()
        if principal is None:
            self._clear()
            return None, rx.redirect(routes.STAFF_LOGIN)
        if principal.must_change_password:
            self._clear()
            return None, rx.redirect(routes.STAFF_PASSWORD)
        if not self._task_id:
            self.error = STALE
            return None, None
        return principal, None

    def _actor(self, principal) -> audit.Actor:
        return audit.Actor.staff(principal.id, self._ip())

    def _lost(self, exc: DomainError):
        """The service refused: access gone (role changed, forward done) or the item vanished."""
        if isinstance(exc, (Forbidden, NotFound)):
            self._clear()
            self.load_error = exc.message
            return None
        self.error = exc.message
        return None

    async def _detail(self, principal) -> None:
        """Read the item's header and its kind's detail."""
        kind = self.item.kind
        staff_id, task_id = principal.id, self._task_id
        if kind == "message":
            posts = await call(partial(tasks.item_posts, staff_user_id=staff_id, task_id=task_id))
            self.posts = [{"id": str(p.id), "author_type": p.author_type, "author": p.author_label,
                           "body": p.body, "when": p.when} for p in posts]
        elif kind == "intake_form":
            rows = await call(partial(tasks.item_changes, staff_user_id=staff_id, task_id=task_id))
            self.changes = [{"id": str(c.id), "label": c.label, "chart_value": c.chart_value,
                             "current": c.current_value, "new": c.new_value,
                             "merged": "1" if c.merged else "", "conflict": "1" if c.conflict else "",
                             "mergeable": "1" if c.mergeable else ""} for c in rows]
        elif kind == "document_share":
            rows = await call(partial(tasks.item_documents, staff_user_id=staff_id, task_id=task_id))
            self.documents = [{"id": str(d.id), "filename": d.filename, "content_type": d.content_type,
                               "size": d.size_label, "note": d.note, "when": d.when} for d in rows]
        elif kind == "appointment_request":
            view = await call(partial(tasks.item_appointment, staff_user_id=staff_id, task_id=task_id))
            self.appt_reason = view.reason
            self.appt_preferred = list(view.preferred)
            self.appt_status = view.status
            self.appt_status_label = getattr(view, "status_label", "") or view.status.title()
            self.appt_note = view.staff_note
            self.appt_decided = (f"{view.decided_by}, {view.decided_at}" if view.decided_by else view.decided_at)

    async def _refresh(self, principal) -> None:
        self.item = await call(partial(tasks.item_view, staff_user_id=principal.id, task_id=self._task_id))
        await self._detail(principal)

    # ---- load ---------------------------------------------------------------------------

    @rx.event
    async def load(self):
        """on_load: open the item named by the URL (audited), or say why not."""
        self._clear()
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.STAFF_LOGIN)
        if principal.must_change_password:
            return rx.redirect(routes.STAFF_PASSWORD)
        task_id = self._route_task_id()
        if not task_id:
            self.load_error = tasks.GONE
            return None
        try:
            self.item = await call(partial(tasks.open_item, staff_user_id=principal.id, task_id=task_id,
                                   actor=self._actor(principal)))
            self._task_id = task_id
            await self._detail(principal)
        except DomainError as exc:
            self._clear()
            self.load_error = exc.message
            return None
        self.loaded = True
        return None

    # ---- one action ---------------------------------------------------------------------

    async def _act(self, service, beside: dict[str, str] | None = None, **kwargs):
        """Run a queue `service` on this item as the signed-in user (the service checks access).

        Returns (principal, result, answer); principal None means: return `answer`. A refusal
        for a field named in `beside` (service field -> state var) is shown there and gives
        result `SHOWN`; any other refusal is `_lost` (access gone, item gone, or a page error).
        """
        self._messages()
        for var in (beside or {}).values():
            setattr(self, var, "")
        principal, answer = await self._who()
        if principal is None:
            return None, None, answer
        try:
            result = await call(partial(service, staff_user_id=principal.id, task_id=self._task_id,
                                actor=self._actor(principal), **kwargs))
        except forms.MergeConflict as exc:
            self.conflict_id, self.conflict_text = kwargs.get("change_id", 0), exc.message
            return principal, SHOWN, None
        except DomainError as exc:
            if beside and exc.field in beside:
                setattr(self, beside[exc.field], exc.message)
                return principal, SHOWN, None
            return None, None, self._lost(exc)
        return principal, result, None

    # ---- message --------------------------------------------------------------------------

    @rx.event
    def set_reply_text(self, value: str):
        self.reply_text = str(value or "")[:20_000]

    @rx.event
    async def send_reply(self):
        principal, result, answer = await self._act(tasks.reply, {"body": "reply_error"}, body=self.reply_text)
        if principal is None or result is SHOWN:
            return answer
        sent, self.reply_text = self.reply_text, ""
        self.notice = "Reply sent. The patient was told a new message is waiting in the portal."
        return await self._after_answer(principal, sent.strip())

    async def _after_answer(self, principal, post: str = ""):
        """Re-read after answering. A limited user's forward is now done, so the item no longer
        opens for them: the page keeps what it showed (plus their answer), without actions."""
        try:
            await self._refresh(principal)
        except DomainError:
            if post:
                self.posts = [*self.posts, {"id": "new", "author_type": "staff", "author": self.staff_name,
                                            "body": post, "when": "just now"}]
            self.closed = True
            self._task_id = 0
            self.notice += " This item has left your Communication queue."
        return None

    # ---- intake form ----------------------------------------------------------------------

    async def _merge(self, change_id, *, overwrite: bool, notice: str):
        """Merge one change; a chart value changed since submission is shown (conflict), not
        overwritten, unless `overwrite` (the user saw both values)."""
        principal, result, answer = await self._act(tasks.merge_change, change_id=_id_of(change_id),
                                                    overwrite=overwrite)
        if principal is None:
            return answer
        if result is not SHOWN:
            self.conflict_id, self.conflict_text = 0, ""
            self.notice = notice
        await self._refresh(principal)
        return None

    @rx.event
    async def merge(self, change_id):
        return await self._merge(change_id, overwrite=False, notice="Merged into the chart.")

    @rx.event
    async def overwrite(self, change_id):
        """"Use the patient's value anyway" after a conflict was shown."""
        return await self._merge(change_id, overwrite=True,
                                 notice="The patient's value replaced the chart's value.")

    @rx.event
    def keep_chart_value(self):
        self.conflict_id, self.conflict_text = 0, ""

    @rx.event
    async def merge_everything(self):
        principal, result, answer = await self._act(tasks.merge_all)
        if principal is None:
            return answer
        parts = [f"Merged {result.merged} change{'s' if result.merged != 1 else ''}."]
        if result.conflicts:
            parts.append(f"{result.conflicts} changed in the chart since submission and were left for you "
                         "to decide (Merge on each shows both values).")
        if result.invalid:
            parts.append(f"{result.invalid} could not be merged because the value is no longer valid.")
        self.notice = " ".join(parts)
        await self._refresh(principal)
        return None

    # ---- documents ------------------------------------------------------------------------

    @rx.event
    async def preview(self, document_id):
        """Show a document of this item (audited); the browser loads its bytes from the checked
        file route. Another item's document, or one that cannot be previewed: said on the page."""
        _, row, answer = await self._act(tasks.preview_document, {"document": "error"},
                                         document_id=_id_of(document_id))
        if row is None or row is SHOWN:
            return answer
        self.preview_id = row.id
        self.preview_name = row.filename
        self.preview_type = row.content_type
        self.preview_url = routes.task_document_file(self._task_id, row.id)
        return None

    @rx.event
    def close_preview(self):
        self._clear_preview()

    @rx.event
    async def download(self, document_id):
        _, content, answer = await self._act(tasks.download_document, {"document": "error"},
                                             document_id=_id_of(document_id))
        if content is None or content is SHOWN:
            return answer
        return rx.download(data=content.data, filename=content.filename, mime_type=content.content_type)

    # ---- appointment request --------------------------------------------------------------

    @rx.event
    def set_decision_note(self, value: str):
        self.decision_note = str(value or "")[:5000]

    async def _decide(self, decision: str, notice: str):
        principal, result, answer = await self._act(tasks.decide_appointment,
                                                    {"note": "decision_error", "decision": "decision_error"},
                                                    decision=decision, note=self.decision_note)
        if principal is None or result is SHOWN:
            return answer
        self.decision_note = ""
        self.notice = notice
        return await self._after_answer(principal)

    @rx.event
    async def mark_scheduled(self):
        return await self._decide("scheduled", "Marked scheduled; the patient was notified.")

    @rx.event
    async def decline(self):
        return await self._decide("declined", "Declined; the patient was notified with your message.")

    # ---- reviewed, done ------------------------------------------------------------------

    @rx.event
    async def mark_reviewed(self):
        principal, _, answer = await self._act(tasks.mark_reviewed)
        if principal is None:
            return answer
        self.notice = "Marked reviewed. It now shows under Reviewed."
        await self._refresh(principal)
        return None

    @rx.event
    async def mark_done(self):
        principal, _, answer = await self._act(tasks.mark_done)
        if principal is None:
            return answer
        self.notice = "Done. The item left your Communication queue."
        return await self._after_answer(principal)

    # ---- forward --------------------------------------------------------------------------

    @rx.event
    async def ask_forward(self):
        self._messages()
        self.forward_error = ""
        principal, answer = await self._who()
        if principal is None:
            return answer
        try:
            self.forward_options = await call(partial(tasks.forward_targets, staff_user_id=principal.id))
        except DomainError as exc:
            return self._lost(exc)
        self.forward_to = str(self.forward_options[0].id) if self.forward_options else ""
        self.forward_note = ""
        self.forward_open = True
        return None

    @rx.event
    def cancel_forward(self):
        self.forward_open = False
        self.forward_error = ""

    @rx.event
    def set_forward_to(self, value: str):
        self.forward_to = str(value or "")[:20]

    @rx.event
    def set_forward_note(self, value: str):
        self.forward_note = str(value or "")[:5000]

    @rx.event
    async def send_forward(self):
        principal, result, answer = await self._act(tasks.forward, {"to_staff": "forward_error",
                                                                    "note": "forward_error"},
                                                    to_staff_id=_id_of(self.forward_to), note=self.forward_note)
        if principal is None or result is SHOWN:
            return answer
        label = next((o.label for o in self.forward_options if str(o.id) == self.forward_to), "them")
        self.forward_open = False
        self.forward_note = ""
        self.notice = f"Forwarded to {label}. It is in their Communication queue."
        return None
