"""One queue item (`/staff/tasks/[task_id]`): header, detail by kind, and the queue actions.

The item id comes only from the page's own URL (set by `load`). Handlers are `staff_action(None)`:
the decorator admits any signed-in user with a current password, and the service checks the
user's access to this item again (full access, or an open forward to them for a limited user);
its refusal is `_failed`. What state holds: small view rows, the body being typed, and at
most one document preview (the checked file route's URL, never the bytes).
"""

from __future__ import annotations

import re
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import appointments, forms, tasks
from portal_app.services.errors import DomainError, Forbidden, FormInvalid, NotFound
from portal_app.services.permissions import Level
from portal_app.services.tasks import ItemView, StaffOption
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import as_id, as_text
from portal_app.state.tasks import sign_in_again

_ITEM_PATH = re.compile(r"/staff/tasks/(\d{1,12})/?$")
STALE = "This item is no longer open here. Reload the page and try again."
SHOWN = object()  # _act's result when a refusal (or a merge conflict) was shown beside its field


class TaskItemState(StaffSessionState):
    """State of /staff/tasks/[task_id]."""

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
    appt_booked: str = ""
    appt_provider: str = ""
    appt_location: str = ""
    decision_note: str = ""
    decision_error: str = ""
    # What staff book when marking it scheduled (the practice's zone), each with its message.
    booked_date: str = ""
    booked_time: str = ""
    booked_provider: str = ""
    booked_location: str = ""
    booked_date_error: str = ""
    booked_time_error: str = ""
    provider_error: str = ""
    location_error: str = ""

    # Mark Reviewed with intake changes not merged: the question asked first.
    unmerged_question: str = ""

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
        self.appt_booked = self.appt_provider = self.appt_location = ""
        self.decision_note = self.decision_error = ""
        self._clear_booking()
        self.unmerged_question = ""
        self.forward_open = False
        self.forward_options = []
        self.forward_to = self.forward_note = self.forward_error = ""
        self._task_id = 0

    def _clear_booking(self) -> None:
        self.booked_date = self.booked_time = self.booked_provider = self.booked_location = ""
        self.booked_date_error = self.booked_time_error = self.provider_error = self.location_error = ""

    def _clear_preview(self) -> None:
        self.preview_id, self.preview_name, self.preview_type, self.preview_url = 0, "", "", ""

    def _messages(self) -> None:
        self.notice = self.error = ""

    def _still_open(self) -> None:
        """An action needs the item this page opened (none after a limited user answered it)."""
        if not self._task_id:
            raise DomainError(STALE)

    # ---- refusals and failures (state/actions.py calls these) -------------------------------

    def _forget(self) -> None:
        self._clear()

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        self._clear()
        return sign_in_again(signed_in)

    def _failed(self, error: DomainError):
        """The service refused: access gone (role changed, forward done) or the item vanished;
        any other refusal is the page's error line."""
        if isinstance(error, (Forbidden, NotFound)):
            self._clear()
            self.load_error = error.message
            return None
        self.error = error.message
        return None

    async def _detail(self, staff: Staff) -> None:
        """Read the item's header and its kind's detail."""
        kind = self.item.kind
        staff_id, task_id = staff.id, self._task_id
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
            self.appt_status_label = view.status_label or view.status.title()
            self.appt_note = view.staff_note
            self.appt_decided = (f"{view.decided_by}, {view.decided_at}" if view.decided_by else view.decided_at)
            self.appt_booked, self.appt_provider, self.appt_location = view.booked, view.provider, view.location

    async def _refresh(self, staff: Staff) -> None:
        self.item = await call(partial(tasks.item_view, staff_user_id=staff.id, task_id=self._task_id))
        await self._detail(staff)

    # ---- load ---------------------------------------------------------------------------

    @staff_action(None)
    async def load(self, staff: Staff):
        """on_load: open the item named by the URL (audited), or say why not (`_failed`).

        Any signed-in user gets this far; the service decides whether the item opens for them
        (full queue access, or an open forward to them).
        """
        self._clear()
        task_id = self._route_task_id()
        if not task_id:
            self.load_error = tasks.GONE
            return
        self.item = await call(partial(tasks.open_item, staff_user_id=staff.id, task_id=task_id,
                               actor=staff.actor))
        self._task_id = task_id
        await self._detail(staff)
        self.loaded = True

    # ---- one action ---------------------------------------------------------------------

    async def _act(self, staff: Staff, service, beside: dict[str, str] | None = None, **kwargs):
        """Run a queue `service` on this item as `staff` (the service checks access to the item).

        Returns the service's result. A refusal for fields named in `beside` (service field ->
        state var; a FormInvalid may name several), or a merge conflict, is shown there and gives
        `SHOWN`; any other refusal goes on to `_failed` (access gone, item gone, or a page error).
        """
        self._messages()
        for var in (beside or {}).values():
            setattr(self, var, "")
        self._still_open()
        try:
            return await call(partial(service, staff_user_id=staff.id, task_id=self._task_id,
                              actor=staff.actor, **kwargs))
        except forms.MergeConflict as exc:
            self.conflict_id, self.conflict_text = kwargs.get("change_id", 0), exc.message
            return SHOWN
        except DomainError as exc:
            errors = exc.errors if isinstance(exc, FormInvalid) else {exc.field: exc.message}
            if not errors or any(field not in (beside or {}) for field in errors):
                raise
            for field, message in errors.items():
                setattr(self, (beside or {})[field], message)
            return SHOWN

    # ---- message --------------------------------------------------------------------------

    @rx.event
    def set_reply_text(self, value: str):
        self.reply_text = as_text(value, 20_000)

    @staff_action(None)
    async def send_reply(self, staff: Staff):
        told = await self._act(staff, tasks.reply, {"body": "reply_error"}, body=self.reply_text)
        if told is SHOWN:
            return
        sent, self.reply_text = self.reply_text, ""
        self.notice = f"Reply sent. {told}"
        await self._after_answer(staff, sent.strip())

    async def _after_answer(self, staff: Staff, post: str = "") -> None:
        """Re-read after answering. A limited user's forward is now done, so the item no longer
        opens for them: the page keeps what it showed (plus their answer), without actions."""
        try:
            await self._refresh(staff)
        except DomainError:
            if post:
                self.posts = [*self.posts, {"id": "new", "author_type": "staff", "author": self.staff_name,
                                            "body": post, "when": "just now"}]
            self.closed = True
            self._task_id = 0
            self.notice += " This item has left your Communication queue."

    # ---- intake form ----------------------------------------------------------------------

    async def _merge(self, staff: Staff, change_id: int, *, overwrite: bool, notice: str) -> None:
        """Merge one change; a chart value changed since submission is shown (conflict), not
        overwritten, unless `overwrite` (the user saw both values)."""
        if await self._act(staff, tasks.merge_change, change_id=change_id, overwrite=overwrite) is not SHOWN:
            self.conflict_id, self.conflict_text = 0, ""
            self.notice = notice
        await self._refresh(staff)

    @staff_action(None)
    async def merge(self, staff: Staff, change_id: int):
        await self._merge(staff, change_id, overwrite=False, notice="Merged into the chart.")

    @staff_action(None)
    async def overwrite(self, staff: Staff, change_id: int):
        """"Use the patient's value anyway" after a conflict was shown."""
        await self._merge(staff, change_id, overwrite=True, notice="The patient's value replaced the chart's value.")

    @rx.event
    def keep_chart_value(self):
        self.conflict_id, self.conflict_text = 0, ""

    @staff_action(None)
    async def merge_everything(self, staff: Staff):
        result = await self._act(staff, tasks.merge_all)
        parts = [f"Merged {result.merged} change{'s' if result.merged != 1 else ''}."]
        if result.conflicts:
            parts.append(f"{result.conflicts} changed in the chart since submission and were left for you "
                         "to decide (Merge on each shows both values).")
        if result.invalid:
            parts.append(f"{result.invalid} could not be merged because the value is no longer valid.")
        self.notice = " ".join(parts)
        await self._refresh(staff)

    # ---- documents ------------------------------------------------------------------------

    @staff_action(None)
    async def preview(self, staff: Staff, document_id: int):
        """Show a document of this item (audited); the browser loads its bytes from the checked
        file route. Another item's document, or one that cannot be previewed: said on the page."""
        row = await self._act(staff, tasks.preview_document, {"document": "error"}, document_id=document_id)
        if row is SHOWN:
            return
        self.preview_id = row.id
        self.preview_name = row.filename
        self.preview_type = row.content_type
        self.preview_url = routes.task_document_file(self._task_id, row.id)

    @rx.event
    def close_preview(self):
        self._clear_preview()

    @staff_action(None)
    async def download(self, staff: Staff, document_id: int):
        content = await self._act(staff, tasks.download_document, {"document": "error"}, document_id=document_id)
        if content is SHOWN:
            return None
        return rx.download(data=content.data, filename=content.filename, mime_type=content.content_type)

    # ---- appointment request --------------------------------------------------------------

    @rx.event
    def set_decision_note(self, value: str):
        self.decision_note = as_text(value, 5000)

    @rx.event
    def set_booked_date(self, value: str):
        self.booked_date = as_text(value, 20)

    @rx.event
    def set_booked_time(self, value: str):
        self.booked_time = as_text(value, 20)

    @rx.event
    def set_booked_provider(self, value: str):
        self.booked_provider = as_text(value, 200)

    @rx.event
    def set_booked_location(self, value: str):
        self.booked_location = as_text(value, 300)

    async def _decide(self, staff: Staff, decision: str, notice: str) -> None:
        beside = {"note": "decision_error", "decision": "decision_error", "booked_date": "booked_date_error",
                  "booked_time": "booked_time_error", "provider": "provider_error", "location": "location_error"}
        booking = appointments.Booking(date=self.booked_date, time=self.booked_time, provider=self.booked_provider,
                                       location=self.booked_location)
        told = await self._act(staff, tasks.decide_appointment, beside, decision=decision,
                               note=self.decision_note, booking=booking if decision == "scheduled" else None)
        if told is SHOWN:
            return
        self.decision_note = ""
        self._clear_booking()
        self.notice = f"{notice} {told}"
        await self._after_answer(staff)

    @staff_action(None)
    async def mark_scheduled(self, staff: Staff):
        await self._decide(staff, "scheduled", "Marked scheduled.")

    @staff_action(None)
    async def decline(self, staff: Staff):
        await self._decide(staff, "declined", "Declined; your message is in the thread.")

    # ---- reviewed, done ------------------------------------------------------------------

    async def _review(self, staff: Staff, *, unmerged_ok: bool) -> None:
        """Mark Reviewed; an intake form with unmerged changes asks first (`unmerged_question`)."""
        self.unmerged_question = ""
        if await self._act(staff, tasks.mark_reviewed, {"unmerged": "unmerged_question"},
                           unmerged_ok=unmerged_ok) is SHOWN:
            return
        self.notice = "Marked reviewed. It now shows under Reviewed."
        await self._refresh(staff)

    @staff_action(None)
    async def mark_reviewed(self, staff: Staff):
        await self._review(staff, unmerged_ok=False)

    @staff_action(None)
    async def mark_reviewed_anyway(self, staff: Staff):
        """The answer "Mark reviewed anyway" (recorded in the item's audit record)."""
        await self._review(staff, unmerged_ok=True)

    @staff_action(None)
    async def unmerged_answered(self, staff: Staff, is_open: bool):
        """The question closed without "Mark reviewed anyway" (Cancel, Escape): the item stays
        pending and that answer is recorded too. After "anyway" the question is already gone."""
        if is_open or not self.unmerged_question:
            return
        self.unmerged_question = ""
        await self._act(staff, tasks.keep_pending)
        self.notice = "Not marked reviewed. Merge the changes, or mark it reviewed when you are ready."

    @staff_action(None)
    async def mark_done(self, staff: Staff):
        await self._act(staff, tasks.mark_done)
        self.notice = "Done. The item left your Communication queue."
        await self._after_answer(staff)

    # ---- forward --------------------------------------------------------------------------

    @staff_action(None)
    async def ask_forward(self, staff: Staff):
        self._messages()
        self.forward_error = ""
        self._still_open()
        self.forward_options = await call(partial(tasks.forward_targets, staff_user_id=staff.id))
        self.forward_to = str(self.forward_options[0].id) if self.forward_options else ""
        self.forward_note = ""
        self.forward_open = True

    @rx.event
    def cancel_forward(self):
        self.forward_open = False
        self.forward_error = ""

    @rx.event
    def set_forward_to(self, value: str):
        self.forward_to = as_text(value, 20)

    @rx.event
    def set_forward_note(self, value: str):
        self.forward_note = as_text(value, 5000)

    @staff_action(None)
    async def send_forward(self, staff: Staff):
        beside = {"to_staff": "forward_error", "note": "forward_error"}
        if await self._act(staff, tasks.forward, beside, to_staff_id=as_id(self.forward_to),
                           note=self.forward_note) is SHOWN:
            return
        label = next((o.label for o in self.forward_options if str(o.id) == self.forward_to), "them")
        self.forward_open = False
        self.forward_note = ""
        self.notice = f"Forwarded to {label}. It is in their Communication queue."
