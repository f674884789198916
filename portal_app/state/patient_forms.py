"""Portal Forms (`/portal/forms`) and the "Forms to fill in" to-dos on the portal home.

Every handler checks the session and the Forms area of the open chart again. State holds the
open chart's form values (what the patient sees and types) and small view rows only.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import form_requests, forms
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.forms import FormListRow
from portal_app.state.base import PortalSessionState, call
from portal_app.state.inputs import form_text

FORM_NAMES = tuple(form.value for form in form_requests.PortalForm)
NOT_ALLOWED = "Forms are not available for this chart."
NOTHING_CHANGED = ("Nothing changed: every answer is the same as in your chart, so nothing was sent. "
                   "Change a field, or go back if everything is correct.")
FIX_BELOW = "Some answers need attention. Check the messages beside the fields."
SENT = {
    "intake": "Thank you. Your intake form was sent to the practice. Staff check any changes before "
              "they update your chart.",
    "consent": "Thank you. Your signed consent to treatment was sent to the practice.",
    "history": "Thank you. Your health history was sent to the practice.",
}
CONSENT_TEXT = forms.CONSENT_TEXT
INTAKE_LABELS = dict(forms.INTAKE_FIELDS)
HISTORY_LABELS = dict(forms.HISTORY_FIELDS)
_EMPTY_INTAKE = {field: "" for field in forms.INTAKE_FIELDS}
_ERROR_FIELDS = (*forms.INTAKE_FIELDS, *forms.CONSENT_FIELDS, *forms.HISTORY_FIELDS)


def form_href(form: str) -> str:
    return f"{routes.PORTAL_FORMS}?form={form}"


class FormsState(PortalSessionState):
    ready: bool = False
    forms_list: list[FormListRow] = []
    # "" = the list; otherwise the form that is open.
    open_form: str = ""
    intake: dict[str, str] = dict(_EMPTY_INTAKE)
    sex_options: list[str] = list(forms.SEX_CHOICES)
    history: dict[str, str] = {field: "" for field in forms.HISTORY_FIELDS}
    signature: str = ""
    # The open chart's name when a representative fills in its forms (the consent says so).
    signing_for: str = ""
    errors: dict[str, str] = {field: "" for field in _ERROR_FIELDS}
    form_error: str = ""
    info: str = ""
    notice: str = ""
    # Changes each time a form is (re)opened, so its inputs start from the loaded values.
    form_key: int = 0

    def _clear_errors(self) -> None:
        self.errors = {field: "" for field in _ERROR_FIELDS}
        self.form_error = ""
        self.info = ""

    def _forget(self) -> None:
        self.ready = False
        self.forms_list = []
        self.open_form = ""
        self.intake = dict(_EMPTY_INTAKE)
        self.history = {field: "" for field in forms.HISTORY_FIELDS}
        self.signature = ""
        self.signing_for = ""
        self.notice = ""
        self._clear_errors()

    def _refused(self):
        """A handler called without a session or without the Forms area."""
        if not self.account_user_id:
            self._forget()
            return rx.redirect(routes.LOGIN)
        self._forget()
        return rx.toast.error(NOT_ALLOWED)

    async def _open(self, chart, form: str) -> None:
        self._clear_errors()
        self.open_form = form if form in FORM_NAMES else ""
        self.signing_for = chart.name if chart.access_type != "self" else ""
        self.form_key += 1
        if self.open_form == "intake":
            self.intake = await call(partial(forms.intake_values, patient_id=chart.patient_id))
            current = self.intake.get("sex", "")
            self.sex_options = list(forms.SEX_CHOICES) + ([current] if current and
                                                          current not in forms.SEX_CHOICES else [])
        elif self.open_form == "history":
            self.history = {field: "" for field in forms.HISTORY_FIELDS}
        elif self.open_form == "consent":
            self.signature = ""

    async def _list(self, chart) -> None:
        self.forms_list = await call(partial(forms.form_list, patient_id=chart.patient_id))

    @rx.event
    async def load(self):
        """on_load: the Forms area of the open chart; `?form=` opens one form."""
        target, redirect = await self._area_guard(Area.FORMS)
        if redirect is not None:
            self._forget()
            return redirect
        _principal, chart = target
        self.notice = ""
        await self._list(chart)
        await self._open(chart, self.router.url.query_parameters.get("form", ""))
        self.ready = True
        return None

    @rx.event
    async def open(self, form: str):
        """Open one form (links on the list) or go back to the list (form "")."""
        got = await self._area_principal(Area.FORMS, "open_form")
        if got is None:
            return self._refused()
        self.notice = ""
        await self._list(got[1])
        await self._open(got[1], form if isinstance(form, str) else "")
        return None

    async def _after_submit(self, chart, form: str, task_id: int | None) -> None:
        self.notice = SENT[form] if task_id is not None else ""
        self.open_form = ""
        await self._list(chart)

    async def _submit(self, form: str, service, typed: tuple[str, Any], **answers):
        """Check the Forms area, keep what was typed on the form (`typed`: state var, value),
        then file the form; errors go beside their fields."""
        got = await self._area_principal(Area.FORMS, f"submit_{form}")
        if got is None:
            return self._refused()
        principal, chart = got
        setattr(self, *typed)
        self._clear_errors()
        try:
            task_id = await call(partial(service, account_id=principal.account_id, chart=chart, ip=self._ip(), **answers))
        except FormInvalid as exc:
            self.errors = {**self.errors, **exc.errors}
            self.form_error = FIX_BELOW
            return None
        except DomainError as exc:
            self.form_error = exc.message
            return None
        if task_id is None:
            self.info = NOTHING_CHANGED
            return None
        await self._after_submit(chart, form, task_id)
        return None

    @rx.event
    async def submit_intake(self, form_data: dict[str, Any]):
        values = {field: form_text(form_data, field) for field in forms.INTAKE_FIELDS}
        # What the patient typed stays on the form whatever happens next.
        return await self._submit("intake", forms.submit_intake, ("intake", values), values=values)

    @rx.event
    async def submit_consent(self, form_data: dict[str, Any]):
        signature = form_text(form_data, "signature")
        agreed = isinstance(form_data, dict) and form_data.get("agreed") in ("on", "true", True)
        return await self._submit("consent", forms.submit_consent, ("signature", signature), full_name=signature,
                                  agreed=agreed)

    @rx.event
    async def submit_history(self, form_data: dict[str, Any]):
        values = {field: form_text(form_data, field) for field in forms.HISTORY_FIELDS}
        return await self._submit("history", forms.submit_history, ("history", values), values=values)


class FormTodosState(PortalSessionState):
    """The open chart's requested forms, as to-dos on the portal home (Forms area only)."""

    todos: list[dict[str, str]] = []

    @rx.event
    async def load(self):
        """on_load of the home page (after HomeState.load, which redirects when needed)."""
        self.todos = []
        principal = await self._portal_principal()
        if principal is None or principal.must_change_password:
            return None
        chart = self._show_viewing(principal)
        if chart is None or not chart.allows(Area.FORMS.value):
            return None
        rows = await call(partial(form_requests.open_requests, patient_id=chart.patient_id))
        self.todos = [{"label": row.label, "href": form_href(row.form), "requested_on": row.requested_on}
                      for row in rows]
        return None
