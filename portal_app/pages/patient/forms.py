"""Portal Forms (`/portal/forms`): the list, the intake form, consent and health history. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import field_error, form_alert, form_notice, invalid_flag, submit_button, text_field
from portal_app.components.layout import portal_page
from portal_app.components.styles import HINT, INPUT, LABEL, PAGE_LINK, PANEL, TEXT_SOFT
from portal_app.state.patient_forms import CONSENT_TEXT, HISTORY_LABELS, INTAKE_LABELS, FormsState

# Autofill purposes (WCAG 1.3.5) for the fields that have one.
AUTOCOMPLETE = {
    "first_name": "given-name", "middle_name": "additional-name", "last_name": "family-name",
    "preferred_name": "nickname", "sex": "sex", "email": "email", "mobile_phone": "tel",
    "home_phone": "tel", "address_line1": "street-address", "city": "address-level2",
    "region": "address-level1", "postal_code": "postal-code",
}
GROUPS = (
    ("About you", ("first_name", "middle_name", "last_name", "preferred_name", "sex")),
    ("Contact details", ("email", "mobile_phone", "home_phone", "address_line1", "city", "region",
                         "postal_code")),
    ("Emergency contact", ("emergency_contact_name", "emergency_contact_phone")),
    ("Pharmacy and allergies", ("pharmacy", "allergies")),
)
MAX_LENGTH = {"first_name": 100, "middle_name": 100, "last_name": 100, "preferred_name": 100, "email": 254,
              "mobile_phone": 32, "home_phone": 32, "emergency_contact_phone": 32, "address_line1": 200,
              "city": 100, "region": 50, "postal_code": 20, "emergency_contact_name": 200, "pharmacy": 300}


def _textarea(label: str, field_id: str, name: str, default, error, hint: str = "",
              max_length: int = 2000) -> rx.Component:
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.textarea(id=field_id, name=name, default_value=default, rows=4, max_length=max_length,
                       aria_describedby=f"{field_id}-error {field_id}-hint", aria_invalid=invalid_flag(error),
                       style=INPUT),
        rx.el.p(hint, id=f"{field_id}-hint", style=HINT) if hint else rx.fragment(),
        field_error(field_id, error),
        style={"margin_bottom": "1em", "max_width": "36em"},
    )


def _intake_field(field: str) -> rx.Component:
    field_id = f"intake-{field}"
    label = INTAKE_LABELS[field]
    error = FormsState.errors[field]
    if field == "sex":
        return rx.el.div(
            rx.el.label(label, html_for=field_id, style=LABEL),
            rx.el.select(
                rx.el.option("Not given", value=""),
                rx.foreach(FormsState.sex_options, lambda option: rx.el.option(option, value=option)),
                id=field_id, name=field, default_value=FormsState.intake[field], auto_complete="sex",
                aria_describedby=f"{field_id}-error", aria_invalid=invalid_flag(error), style=INPUT,
            ),
            field_error(field_id, error),
            style={"margin_bottom": "1em", "max_width": "28em"},
        )
    if field == "allergies":
        return _textarea(label, field_id, field, FormsState.intake[field], error,
                         hint="List each allergy and what happens, or write \"None known\".")
    hints = {"mobile_phone": "A number that can receive text messages.",
             "region": "Two letters, like IL.", "postal_code": "5 digits, like 62701."}
    input_type = {"email": "email", "mobile_phone": "tel", "home_phone": "tel",
                  "emergency_contact_phone": "tel"}.get(field, "text")
    extra = {"auto_complete": AUTOCOMPLETE[field]} if field in AUTOCOMPLETE else {}
    return text_field(label, field_id, name=field, input_type=input_type, error=error,
                      hint=hints.get(field, ""), default_value=FormsState.intake[field],
                      max_length=MAX_LENGTH[field], aria_invalid=invalid_flag(error), **extra)


def _fieldset(legend: str, fields: tuple[str, ...]) -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(legend, style={"font_weight": "700", "font_size": "1.1em", "padding": "0 0.3em"}),
        *[_intake_field(field) for field in fields],
        style={**PANEL, "margin_bottom": "1.2em"},
    )


def _messages() -> rx.Component:
    return rx.fragment(
        form_alert(FormsState.form_error),
        rx.cond(FormsState.info != "",
                rx.callout(FormsState.info, icon="info", color_scheme="blue", role="status",
                           margin_bottom="1em", high_contrast=True)),
    )


def _back() -> rx.Component:
    # A link only: the page's on_load opens what the URL says. (An on_click open as well ran a
    # second open after the first, which could empty fields the patient had started to fill.)
    return rx.el.p(rx.link("Back to forms", href=routes.PORTAL_FORMS, style=PAGE_LINK),
                   style={"margin_top": "1.5em"})


def _form_section(title: str, intro: rx.Component, fields: list[rx.Component], on_submit,
                  submit: rx.Component | None = None) -> rx.Component:
    """One portal form: heading, what it is, messages, the fields and "Submit form", and the
    way back to the list. The form is re-keyed when (re)opened so it starts from the loaded values."""
    return rx.el.section(
        rx.heading(title, as_="h2", size="5", margin_bottom="0.5em"),
        intro,
        _messages(),
        rx.el.form(
            *fields,
            submit if submit is not None else submit_button("Submit form"),
            on_submit=on_submit,
            aria_label=title,
            key=FormsState.form_key,
        ),
        _back(),
        aria_label=title,
    )


def _intake_form() -> rx.Component:
    return _form_section(
        "Intake form",
        rx.el.p("These answers come from your chart. Change anything that is wrong or missing; the "
                "practice checks the changes before they update your chart.", style={"margin_bottom": "1em"}),
        [_fieldset(legend, fields) for legend, fields in GROUPS],
        FormsState.submit_intake,
    )


def _consent_form() -> rx.Component:
    return _form_section(
        "Consent to treatment",
        rx.el.div(rx.el.p(CONSENT_TEXT),
                  style={**PANEL, "background": "#fafafa", "max_width": "40em"}),
        [
            rx.cond(FormsState.signing_for != "",
                    rx.el.p("You are signing for ", rx.el.strong(FormsState.signing_for),
                            " as their authorized representative.", style={"margin_bottom": "0.8em"})),
            text_field("Your full name (signature)", "consent-signature", name="signature",
                       default_value=FormsState.signature, error=FormsState.errors["signature"],
                       auto_complete="name", max_length=200,
                       hint="Type your full name to sign. A representative types their own name.",
                       aria_invalid=invalid_flag(FormsState.errors["signature"])),
            rx.el.div(
                rx.el.input(type="checkbox", id="consent-agreed", name="agreed",
                            aria_describedby="consent-agreed-error",
                            aria_invalid=invalid_flag(FormsState.errors["agreed"]),
                            style={"width": "1.2em", "height": "1.2em", "margin_right": "0.5em"}),
                rx.el.label("I agree", html_for="consent-agreed", style={"font_weight": "600"}),
                style={"display": "flex", "align_items": "center"},
            ),
            field_error("consent-agreed", FormsState.errors["agreed"]),
        ],
        FormsState.submit_consent,
        submit=rx.box(submit_button("Submit form"), margin_top="1em"),
    )


def _history_form() -> rx.Component:
    hints = {"conditions": "Illnesses you have or have had.",
             "medications": "Name, dose and how often.",
             "surgeries": "What and when.",
             "family_history": "Illnesses of parents, brothers and sisters."}
    return _form_section(
        "Health history",
        rx.fragment(),
        [_textarea(label, f"history-{field}", field, FormsState.history[field], FormsState.errors[field],
                   hint=hints[field]) for field, label in HISTORY_LABELS.items()],
        FormsState.submit_history,
    )


def _list_row(row) -> rx.Component:
    return rx.el.li(
        rx.link(row.label, href=f"{routes.PORTAL_FORMS}?form=" + row.form.to(str), style=PAGE_LINK),
        rx.cond(row.requested,
                rx.el.span(" Requested by the practice on ", row.requested_on,
                           style={"margin_left": "0.6em", "color": "#7a3e00", "font_weight": "600"})),
        rx.cond(row.awaiting_review,
                rx.el.span(" Sent ", row.sent_on, ", awaiting review by the practice",
                           class_name="awaiting-review", style={"margin_left": "0.6em", "color": TEXT_SOFT})),
        style={"margin_bottom": "0.6em"},
    )


def _list() -> rx.Component:
    return rx.el.section(
        rx.heading("Your forms", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.ul(rx.foreach(FormsState.forms_list, _list_row), style={"padding_left": "1.2em"}),
        aria_label="Your forms",
    )


def forms_page() -> rx.Component:
    return portal_page(
        "Forms",
        FormsState.ready,
        form_notice(FormsState.notice),
        rx.match(FormsState.open_form,
                 ("intake", _intake_form()),
                 ("consent", _consent_form()),
                 ("history", _history_form()),
                 _list()),
    )


def add_pages(app: rx.App) -> None:
    app.add_page(forms_page, route=routes.PORTAL_FORMS, title="Forms | Patient Portal", on_load=FormsState.load)

