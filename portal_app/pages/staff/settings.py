"""Portal settings page (UI only): OpenEMR's global portal switch and the practice's details."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import editable_fieldset, text_field
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, update_access_needed, view_only_notice
from portal_app.components.styles import HINT
from portal_app.pages.staff.settings_two_step import two_step_switch
from portal_app.services.temporary_passwords import risk_hint
from portal_app.state.settings import SettingsState

# The token length's risk in plain words, with the numbers the sign-in rules give.
TOKEN_LENGTH_HINT = risk_hint()


def _field(label: str, name: str, *, hint: str = "", **props) -> rx.Component:
    return text_field(label, name, name=name, error=SettingsState.errors.get(name, ""),
                      default_value=getattr(SettingsState, name), hint=hint, **props)


def _switch() -> rx.Component:
    return rx.el.div(
        rx.el.div(
            rx.el.input(type="checkbox", role="switch", id="portal_active", name="portal_active",
                        default_checked=SettingsState.portal_active,
                        aria_describedby="portal_active-hint",
                        style={"width": "1.2em", "height": "1.2em"}),
            rx.el.label("Patient portal active", html_for="portal_active",
                        style={"font_weight": "600"}),
            style={"display": "flex", "align_items": "center", "gap": "0.5em"},
        ),
        rx.el.p("When off, patient pages say the portal is unavailable and no portal message "
                "is sent.", id="portal_active-hint",
                style=HINT),
        style={"margin_bottom": "1.2em"},
    )


def _sms_countries_field() -> rx.Component:
    return _field("Countries allowed for text messages", "sms_countries", max_length=200, auto_complete="off",
                  hint="Two-letter country codes separated by commas (default US). Create Account and Forgot "
                       "password text only numbers of these countries; any other number is asked for an email "
                       "address instead. This keeps strangers from running up the practice's text bill with "
                       "numbers abroad.")


def _form() -> rx.Component:
    return rx.form(
        editable_fieldset(
            SettingsState.can_edit,
            rx.el.legend("Portal settings", class_name="visually-hidden",
                         style={"position": "absolute", "left": "-999px"}),
            _switch(),
            _field("Practice name", "practice_name", max_length=200),
            _field("Practice phone", "practice_phone", max_length=40,
                   hint="Shown to patients on expired links and in messages."),
            _field("Portal base URL", "portal_base_url", max_length=300, input_type="url",
                   hint="Every link in a message is built from this address, e.g. "
                        "https://portal.example.org."),
            _field("Sender address", "sender_address", max_length=254, input_type="email",
                   hint="The From address of portal email."),
            _field("Time zone", "time_zone", max_length=64, auto_complete="off",
                   hint="The practice's time zone, e.g. America/Chicago or America/New_York; "
                        "every time patients and staff read is shown in it."),
            _field("Invitation link lifetime (hours)", "invitation_hours", input_mode="numeric",
                   max_length=6, hint="1 to 336 hours (default 72)."),
            _field("Reset link lifetime (minutes)", "reset_minutes", input_mode="numeric",
                   max_length=6, hint="5 to 1440 minutes (default 60)."),
            _field("Token length (digits)", "token_length", input_mode="numeric", max_length=6,
                   hint=TOKEN_LENGTH_HINT),
            _field("Connect token lifetime (days)", "connect_token_days", input_mode="numeric",
                   max_length=6, hint="How long the token works as a temporary password: "
                                      "1 to 14 days (default 3)."),
            _field("Connection key lifetime, email or text (days)", "key_days",
                   input_mode="numeric", max_length=6, hint="1 to 14 days (default 3)."),
            _field("Connection key lifetime, letter (days)", "letter_key_days",
                   input_mode="numeric", max_length=6, hint="1 to 60 days (default 21)."),
            _field("Verification link lifetime (minutes)", "verification_minutes",
                   input_mode="numeric", max_length=6,
                   hint="The link that confirms a new account's email or phone: 5 to 1440 "
                        "minutes (default 30)."),
            _field("Turn portal access off after this many months without a visit (0 = never)",
                   "inactive_months", input_mode="numeric", max_length=6,
                   hint="0 to 120 months (default 0: never). Checked when you save and every day "
                        "(python -m portal_app access-rules), using the last visit date from the EHR. "
                        "A later visit does not turn access back on by itself: staff decide, and a "
                        "chart they turn back on stays on until that many months pass again."),
            _field("FHIR identifier system for chart numbers (blank = the MR identifier)",
                   "fhir_chart_system", max_length=300, auto_complete="off",
                   hint="Which Patient.identifier holds your chart number in a FHIR import, e.g. "
                        "https://ehr.example.org/mrn. Leave blank to use the identifier typed MR "
                        "(medical record number)."),
            _sms_countries_field(),
            error=SettingsState.form_error,
            notice=SettingsState.notice,
            submit="Save settings",
        ),
        on_submit=SettingsState.save,
        reset_on_submit=False,
        # A new key after a save re-mounts the inputs with the saved (normalized) values.
        key=SettingsState.form_version,
        no_validate=True,
    )


def settings_page() -> rx.Component:
    return staff_page(
        "Portal Settings",
        SettingsState.loaded,
        view_only_notice(SettingsState.can_edit, update_access_needed("these settings", "Portal Settings")),
        _form(),
        two_step_switch(),
        before=loading_or_failed(SettingsState.form_error),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(settings_page, route=routes.PORTAL_SETTINGS, title="Portal Settings",
                 on_load=SettingsState.load)
