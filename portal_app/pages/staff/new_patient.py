"""/staff/onboarding/new-patient: the "New patient" form (UI only), and its button on the
onboarding page.

The inputs are uncontrolled and the form is never reset after an error, so everything typed
stays where it was while the messages appear beside their fields.
"""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import field_error, form_alert, invalid_flag
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, no_permission_or_loading
from portal_app.components.styles import (
    CHECK_ROW,
    CONTROL,
    FIELD,
    HINT,
    INPUT,
    LABEL,
    LINK,
    PANEL,
    TEXT_SOFT,
)
from portal_app.services.new_patient import SEX_CHOICES
from portal_app.services.patient_records import FIELDS, REQUIRED_FOR_NEW
from portal_app.services.permissions import Level, Permission
from portal_app.state.new_patient import CONFIRM_FIELD, NewPatientState, field_id

S = NewPatientState
TITLE = "New patient"
DATE_HINT = "MM/DD/YYYY"
# Shown beside the consent boxes: nothing is ticked for the patient.
CONSENT_HINT = ("Tick only what the patient agreed to. Unticked, no portal email or text message is sent "
                "to the chart's own address or mobile.")
GROUP = {**PANEL, "max_width": "54em"}
LEGEND = {"font_weight": "700", "padding": "0 0.3em"}
ROW = {"display": "flex", "flex_wrap": "wrap", "gap": "0 1.2em"}


def _error_of(key: str) -> rx.Var:
    return getattr(S, f"{key}_error")


def _label(key: str) -> rx.Component:
    text = f"{FIELDS[key]} (required)" if key in REQUIRED_FOR_NEW else FIELDS[key]
    return rx.el.label(text, html_for=field_id(key), style=LABEL)


def _described(key: str, hint: str) -> str:
    control = field_id(key)
    return f"{control}-error {control}-hint" if hint else f"{control}-error"


def _text(key: str, *, hint: str = "", width: str = "18em", **props) -> rx.Component:
    control = field_id(key)
    return rx.el.div(
        _label(key),
        rx.el.input(id=control, name=control, type=props.pop("input_type", "text"), auto_complete="off",
                    aria_describedby=_described(key, hint), aria_invalid=invalid_flag(_error_of(key)),
                    aria_required="true" if key in REQUIRED_FOR_NEW else "false", style=INPUT, **props),
        rx.el.p(hint, id=f"{control}-hint", style=HINT) if hint else rx.fragment(),
        field_error(control, _error_of(key)),
        style={**FIELD, "width": width, "max_width": "100%"},
    )


def _sex() -> rx.Component:
    control = field_id("sex")
    return rx.el.div(
        _label("sex"),
        rx.el.select(rx.el.option("Not recorded", value=""),
                     *[rx.el.option(choice, value=choice) for choice in SEX_CHOICES],
                     id=control, name=control, default_value="", aria_describedby=f"{control}-error",
                     aria_invalid=invalid_flag(S.sex_error), style={**CONTROL, "min_width": "12em"}),
        field_error(control, S.sex_error),
        style={**FIELD, "width": "14em"},
    )


def _consent_box(key: str, label: str) -> rx.Component:
    control = field_id(key)
    return rx.el.div(
        rx.el.input(type="checkbox", id=control, name=control, default_checked=False,
                    aria_describedby="new-patient-consent-hint",
                    style={"width": "1.1em", "height": "1.1em"}),
        rx.el.label(label, html_for=control),
        style={**CHECK_ROW, "margin_bottom": "0.4em"},
    )


def _group(legend: str, *children: rx.Component) -> rx.Component:
    return rx.el.fieldset(rx.el.legend(legend, style=LEGEND), rx.el.div(*children, style=ROW), style=GROUP)


def _duplicate_question() -> rx.Component:
    """After a probable duplicate: the other chart(s) named, and a box to confirm."""
    return rx.cond(
        S.duplicate_charts != "",
        rx.el.div(
            field_error("new-patient-duplicate", S.duplicate_error),
            rx.el.div(
                rx.el.input(type="checkbox", id=CONFIRM_FIELD, name=CONFIRM_FIELD, default_checked=False,
                            aria_describedby="new-patient-duplicate-error",
                            style={"width": "1.1em", "height": "1.1em"}),
                rx.el.label("This is a different person from chart ", S.duplicate_charts, html_for=CONFIRM_FIELD),
                style={**CHECK_ROW, "margin_top": "0.5em"},
            ),
            style={**GROUP, "border_color": "#b3261e"},
        ),
    )


def _form() -> rx.Component:
    return rx.el.form(
        _group("Chart", _text("chart_number", width="22em", hint="The practice's chart number (MRN) for the patient.")),
        _group("Name", _text("first_name"), _text("middle_name"), _text("last_name"), _text("preferred_name")),
        _group("Birth and sex", _text("dob", width="15em", hint=DATE_HINT), _sex()),
        _group(
            "Contact",
            _text("email", width="22em", input_type="email"),
            _text("mobile_phone", width="13em", input_type="tel"),
            _text("home_phone", width="13em", input_type="tel"),
            rx.el.div(
                _consent_box("allow_email", "Allow email"),
                _consent_box("allow_sms", "Allow text messages"),
                rx.el.p(CONSENT_HINT, id="new-patient-consent-hint", style=HINT),
                style={"width": "100%", "margin_bottom": "0.6em"},
            ),
        ),
        _group("Address", _text("address", width="30em"), _text("city"), _text("state", width="10em"),
               _text("postal_code", width="10em")),
        _group("Visits", _text("last_visit", width="15em", hint=DATE_HINT)),
        _duplicate_question(),
        form_alert(S.form_error),
        rx.el.div(
            rx.button("Save patient", type="submit", size="3"),
            rx.el.a("Cancel", href=routes.ONBOARDING, style=LINK),
            style={"display": "flex", "align_items": "center", "gap": "1.2em"},
        ),
        on_submit=S.save,
        reset_on_submit=False,
        # The browser's own checks would speak before ours (and not beside the field).
        no_validate=True,
        aria_label="New patient",
        style={"max_width": "54em"},
    )


def new_patient_page() -> rx.Component:
    return staff_page(
        TITLE,
        S.allowed,
        rx.el.p("Add a chart by hand when the practice has no export to import. Chart number, first name, "
                "last name and date of birth are required; everything else can be added later.",
                style={"max_width": "54em", "margin_bottom": "1em", "color": TEXT_SOFT}),
        _form(),
        before=rx.cond(S.staff_access_contacts != "", no_permission_or_loading(S.loaded),
                       loading_or_failed(S.form_error)),
    )


def new_patient_button(staff_levels: rx.Var) -> rx.Component:
    """The onboarding page's "New patient" button, for staff who may add charts (Write on Patient
    Portal Administration; the form's handlers check it again on every event)."""
    may_add = staff_levels[Permission.PORTAL_ADMIN.value].to(int) >= int(Level.WRITE)
    return rx.cond(may_add, rx.el.div(rx.button("New patient", on_click=rx.redirect(routes.NEW_PATIENT)),
                                      style={"margin_bottom": "1em"}))


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(new_patient_page, route=routes.NEW_PATIENT, title=TITLE, on_load=S.load)
