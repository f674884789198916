"""Portal Forms (`/portal/forms`) and the "Forms to fill in" to-dos on the portal home.

Every handler is a `portal_action(Area.FORMS)`: the session and the Forms area of the open
chart are checked again. State holds the
open chart's form values (what the patient sees and types) and small view rows only.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services import form_requests, forms
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.forms import FormListRow
from portal_app.state.actions import Patient, portal_action, portal_page_load
from portal_app.state.base import PortalSessionState, call
from portal_app.state.inputs import form_checked, form_text
from portal_app.state.patient_area import AreaRefusals

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


class FormsState(AreaRefusals, PortalSessionState):
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

    REFUSED: ClassVar[str] = NOT_ALLOWED

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

    def _failed(self, error: DomainError):
        """A refused form: each field's message beside it, or one above the form."""
        if isinstance(error, FormInvalid):
            self.errors = {**self.errors, **error.errors}
            self.form_error = FIX_BELOW
        else:
            self.form_error = error.message

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

    @portal_page_load(Area.FORMS)
    async def load(self, me: Patient):
        """on_load: the Forms area of the open chart; `?form=` opens one form."""
        self.notice = ""
        await self._list(me.chart)
        await self._open(me.chart, self.router.url.query_parameters.get("form", ""))
        self.ready = True
        return None

    @portal_action(Area.FORMS, audit_as="open_form")
    async def open(self, me: Patient, form: str):
        """Open one form (links on the list) or go back to the list (form "")."""
        self.notice = ""
        await self._list(me.chart)
        await self._open(me.chart, form)

    async def _submit(self, me: Patient, form: str, service, **answers) -> None:
        """File the form; errors go beside their fields (`_failed`)."""
        self._clear_errors()
        task_id = await call(partial(service, account_id=me.account_id, chart=me.chart, ip=self._ip(), **answers))
        if task_id is None:
            self.info = NOTHING_CHANGED
            return
        self.notice = SENT[form]
        self.open_form = ""
        await self._list(me.chart)

    # What the patient typed stays on the form whatever happens next (set before the service runs).

    @portal_action(Area.FORMS)
    async def submit_intake(self, me: Patient, form_data: dict[str, Any]):
        values = {field: form_text(form_data, field) for field in forms.INTAKE_FIELDS}
        self.intake = values
        await self._submit(me, "intake", forms.submit_intake, values=values)

    @portal_action(Area.FORMS)
    async def submit_consent(self, me: Patient, form_data: dict[str, Any]):
        signature = form_text(form_data, "signature")
        self.signature = signature
        await self._submit(me, "consent", forms.submit_consent, full_name=signature,
                           agreed=form_checked(form_data, "agreed"))

    @portal_action(Area.FORMS)
    async def submit_history(self, me: Patient, form_data: dict[str, Any]):
        values = {field: form_text(form_data, field) for field in forms.HISTORY_FIELDS}
        self.history = values
        await self._submit(me, "history", forms.submit_history, values=values)


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
