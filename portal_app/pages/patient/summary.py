"""Portal Health summary (`/portal/summary`): the open chart, read-only. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.layout import portal_page
from portal_app.components.styles import PAGE_LINK, TEXT_SOFT
from portal_app.state.patient_summary import SummaryState


def _item(term: str, value) -> rx.Component:
    return rx.fragment(
        rx.el.dt(term, style={"font_weight": "600", "margin_top": "0.6em"}),
        rx.el.dd(rx.cond(value != "", value, "Not on file"), style={"margin_left": "0", "white_space": "pre-wrap"}),
    )


def _section(title: str, *items) -> rx.Component:
    return rx.el.section(
        rx.heading(title, as_="h2", size="4"),
        rx.el.dl(*items),
        aria_label=title,
        style={"margin_bottom": "1.5em"},
    )


def summary_page() -> rx.Component:
    s = SummaryState.summary
    return portal_page(
        "Health summary",
        SummaryState.ready,
        _section("About the patient", _item("Name", s.name), _item("Date of birth", s.dob),
                 _item("Sex", s.sex)),
        _section("Contact details", _item("Email", s.email), _item("Mobile phone", s.mobile_phone),
                 _item("Home phone", s.home_phone), _item("Address", s.address)),
        _section("Care details", _item("Emergency contact", s.emergency_contact),
                 _item("Pharmacy", s.pharmacy), _item("Allergies", s.allergies)),
        rx.el.p("Something wrong? ",
                rx.cond(SummaryState.viewing_areas.contains("forms"),
                        rx.fragment("Fill in the ",
                                    rx.link("intake form", href=f"{routes.PORTAL_FORMS}?form=intake",
                                            style=PAGE_LINK),
                                    " or call the practice."),
                        "Call the practice."),
                style={"color": TEXT_SOFT}),
    )


def add_pages(app: rx.App) -> None:
    app.add_page(summary_page, route=routes.PORTAL_SUMMARY, title="Health summary | Patient Portal",
                 on_load=SummaryState.load)
