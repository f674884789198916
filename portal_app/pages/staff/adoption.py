"""/staff/adoption: the adoption funnel, weekly trends, and who is stuck where (UI only)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.components.filters import filter_bar, option_filter
from portal_app.components.forms import form_alert, form_notice
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, update_access_needed, view_only_notice
from portal_app.components.paging import pager
from portal_app.components.styles import (
    CAPTION,
    CELL,
    ERROR_COLOR,
    FOCUS_RING,
    FOCUSABLE_LINK,
    HEAD,
    HINT,
    LABEL,
    LINK_COLOR,
    MUTED,
    OK_COLOR,
    PANEL,
    SELECT,
    VISUALLY_HIDDEN,
)
from portal_app.components.table import data_table
from portal_app.services.adoption.board import FunnelStep
from portal_app.state.adoption import (
    BREAKDOWN_OPTIONS,
    CHANNEL_OPTIONS,
    PERIOD_OPTIONS,
    STEP_OPTIONS,
    STUCK_FOR_OPTIONS,
    SeriesView,
    StuckLine,
)
from portal_app.state.adoption import AdoptionState as S

TITLE = "Portal Adoption"
CHART_BOX = {"flex": "1 1 28em", "min_width": "18em", "height": "300px"}
ROW_GAP = {"display": "flex", "flex_wrap": "wrap", "gap": "0.6em", "align_items": "center"}
NUMBER = {**CELL, "text_align": "right", "font_variant_numeric": "tabular-nums"}


def _section(heading: str, section_id: str, *children: rx.Component) -> rx.Component:
    return rx.el.section(
        rx.heading(heading, as_="h2", size="5", id=section_id, margin_bottom="0.6em"),
        *children,
        aria_labelledby=section_id,
        style={**PANEL, "margin_bottom": "1.5em"},
    )


def _chart(chart: rx.Component) -> rx.Component:
    """A chart for the eye; the table beside or below it carries the same numbers for everyone."""
    return rx.el.div(chart, aria_hidden="true", style=CHART_BOX)


# ---- the funnel ------------------------------------------------------------------------------


def _funnel_chart() -> rx.Component:
    return _chart(rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", horizontal=False),
        rx.recharts.x_axis(type_="number", allow_decimals=False),
        rx.recharts.y_axis(data_key="label", type_="category", width=170),
        rx.recharts.graphing_tooltip(),
        rx.recharts.bar(data_key="count", name="Patients", fill=LINK_COLOR, is_animation_active=False),
        data=S.funnel_steps.to(list[dict[str, Any]]), layout="vertical", custom_attrs={"accessibilityLayer": False},
    ))


def _funnel_row(step: rx.Var[FunnelStep]) -> rx.Component:
    return rx.el.tr(
        rx.el.th(step.label, scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(step.count, style=NUMBER),
        rx.el.td(step.percent_of_charts, style=NUMBER),
        rx.el.td(step.percent_of_previous, style=NUMBER),
        key=step.stage,
    )


def _funnel() -> rx.Component:
    table = data_table(("Stage", "Patients", "% of charts", "% of previous step"), S.funnel_steps, _funnel_row,
                       caption=("Portal adoption funnel: ", S.funnel_label, ". As of ", S.funnel_as_of, "."),
                       caption_style=CAPTION, style={"min_width": "28em"})
    return _section(
        "Funnel", "adoption-funnel",
        filter_bar(option_filter("Period", "adoption-period", PERIOD_OPTIONS, S.period, S.set_period)),
        rx.el.div(_funnel_chart(), rx.el.div(table, style={"flex": "1 1 28em"}),
                  style={"display": "flex", "flex_wrap": "wrap", "gap": "1.5em", "align_items": "flex-start"}),
        rx.el.div(
            rx.button("Download funnel (CSV)", on_click=S.download_funnel_csv, variant="outline"),
            rx.button("Download funnel (PDF)", on_click=S.download_funnel_pdf, variant="outline"),
            style={**ROW_GAP, "margin_top": "1em"},
        ),
    )


# ---- the trends ------------------------------------------------------------------------------


def _series_line(series: rx.Var[SeriesView]) -> rx.Component:
    return rx.recharts.line(data_key=series.key, name=series.label, stroke=series.colour, type_="linear",
                            dot=False, stroke_width=2, is_animation_active=False)


def _trend_table(title: str, weeks: rx.Var) -> rx.Component:
    """The weekly numbers of a chart as a table, behind a disclosure (opened by keyboard too)."""
    def week_row(week: rx.Var) -> rx.Component:
        return rx.el.tr(rx.el.th(week["week"], scope="row", style=CELL),
                        rx.foreach(S.series, lambda series: rx.el.td(week[series.key], style=NUMBER)))

    return rx.el.details(
        rx.el.summary(f"{title}: the numbers as a table",
                      style={"cursor": "pointer", "color": LINK_COLOR, "_focus_visible": FOCUS_RING}),
        rx.el.div(rx.el.table(
            rx.el.caption(f"{title}, oldest week first", style=CAPTION),
            rx.el.thead(rx.el.tr(rx.el.th("Week of", scope="col", style=HEAD),
                                 rx.foreach(S.series, lambda series: rx.el.th(series.label, scope="col",
                                                                              style=HEAD)))),
            rx.el.tbody(rx.foreach(weeks, week_row)),
            style={"border_collapse": "collapse"},
        ), style={"overflow_x": "auto", "max_height": "24em", "overflow_y": "auto"}),
        style={"margin_top": "0.4em"},
    )


def _trend(title: str, weeks: rx.Var) -> rx.Component:
    return rx.el.figure(
        rx.el.figcaption(title, style={"font_weight": "600", "margin_bottom": "0.3em"}),
        _chart(rx.recharts.line_chart(
            rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
            rx.recharts.x_axis(data_key="week"),
            rx.recharts.y_axis(allow_decimals=False),
            rx.recharts.graphing_tooltip(),
            rx.recharts.legend(),
            rx.foreach(S.series, _series_line),
            data=weeks, custom_attrs={"accessibilityLayer": False},
        )),
        _trend_table(title, weeks),
        style={"flex": "1 1 30em", "min_width": "18em", "margin": "0"},
    )


def _trends() -> rx.Component:
    return _section(
        "Trends", "adoption-trends",
        rx.el.p("The last 26 weeks, by the week each account was made or first signed in.", style=HINT),
        filter_bar(option_filter("Break down", "adoption-breakdown", BREAKDOWN_OPTIONS, S.breakdown,
                                 S.set_breakdown)),
        rx.el.div(_trend("New accounts per week", S.new_accounts),
                  _trend("First sign-ins per week", S.first_sign_ins),
                  style={"display": "flex", "flex_wrap": "wrap", "gap": "1.5em"}),
    )


# ---- why stuck -------------------------------------------------------------------------------


def _stuck_filters() -> rx.Component:
    return filter_bar(
        rx.el.div(
            rx.el.label("Reason", html_for="adoption-reason", style=LABEL),
            rx.el.select(rx.foreach(S.reason_options, lambda o: rx.el.option(o[1], value=o[0])),
                         id="adoption-reason", value=S.reason, on_change=S.set_reason, style=SELECT),
        ),
        option_filter("Stuck for", "adoption-stuck-for", STUCK_FOR_OPTIONS, S.stuck_for, S.set_stuck_for),
        option_filter("Channel", "adoption-channel", CHANNEL_OPTIONS, S.channel, S.set_channel),
    )


def _checkbox(control_id, label, checked, on_change, key, *, label_style: dict = VISUALLY_HIDDEN) -> rx.Component:
    # Uncontrolled (default_checked) so the tick shows on click; the key redraws it when the
    # server changes the selection.
    return rx.el.span(
        rx.el.input(type="checkbox", id=control_id, default_checked=checked, on_change=on_change, key=key,
                    style={"width": "1.2em", "height": "1.2em", "cursor": "pointer", "_focus_visible": FOCUS_RING}),
        rx.el.label(label, html_for=control_id, style=label_style),
        style={"display": "inline-flex", "align_items": "center", "gap": "0.4em"},
    )


def _other_steps(row: rx.Var[StuckLine]) -> rx.Component:
    return rx.cond(
        row.steps.length() > 1,
        rx.menu.root(
            rx.menu.trigger(rx.button("Other steps", size="1", variant="outline",
                                      aria_label="Other next steps for " + row.name)),
            rx.menu.content(rx.foreach(
                row.step_labels,
                lambda label, i: rx.cond(i > 0, rx.menu.item(label, on_click=S.run_step(row.id, row.steps[i]))),
            )),
        ),
    )


def _next_step(row: rx.Var[StuckLine]) -> rx.Component:
    return rx.el.div(
        rx.cond(row.steps.length() > 0,
                rx.el.div(rx.button(row.step_labels[0], size="1", on_click=S.run_step(row.id, row.steps[0]),
                                    disabled=~S.can_run_steps),
                          rx.cond(S.can_run_steps, _other_steps(row)), style=ROW_GAP),
                rx.el.span("No step available", style={"color": MUTED})),
        rx.el.p(row.message, role="status",
                style={"margin": "0.3em 0 0", "font_size": "0.9em", "max_width": "22em",
                       "color": rx.cond(row.ok, OK_COLOR, ERROR_COLOR)}),
    )


def _stuck_row(row: rx.Var[StuckLine]) -> rx.Component:
    return rx.el.tr(
        rx.el.td(_checkbox(f"adopt-select-{row.id}", row.name, S.selected_ids.contains(row.id),
                           lambda checked: S.toggle_selected(row.id, checked),
                           key=f"{row.id}-{S.selection_epoch}"), style=CELL),
        rx.el.th(rx.el.a(row.name, href=routes.patient_chart(row.id), style=FOCUSABLE_LINK),
                 scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(row.chart_number, style=CELL),
        rx.el.td(row.dob, style=CELL),
        rx.el.td(rx.el.strong(row.reason_label), rx.el.br(),
                 rx.el.span(row.explanation, style={"color": MUTED, "font_size": "0.9em"}),
                 style={**CELL, "max_width": "20em"}),
        rx.el.td(row.channel_label, style=CELL),
        rx.el.td(row.since, style={**CELL, "white_space": "nowrap"}),
        rx.el.td(row.days, style=NUMBER),
        rx.el.td(_next_step(row), style=CELL),
        key=row.id,
    )


def _bulk_bar() -> rx.Component:
    return rx.cond(S.can_run_steps, rx.el.div(
        _checkbox("adopt-select-page", "Select all on this page", S.page_all_selected, S.toggle_page,
                  key=f"page-{S.selection_epoch}-{S.page_all_selected}", label_style={"margin_right": "0.6em"}),
        rx.el.span(S.selected_count, " selected", aria_live="polite", style={"font_weight": "600"}),
        rx.el.label("Step for the selected patients", html_for="adoption-bulk-step", style=VISUALLY_HIDDEN),
        rx.el.select(*[rx.el.option(text, value=value) for value, text in STEP_OPTIONS],
                     id="adoption-bulk-step", value=S.bulk_step, on_change=S.set_bulk_step, style=SELECT),
        rx.button(rx.cond(S.bulk_running, rx.spinner(size="1"), rx.fragment()), "Run for selected",
                  on_click=S.run_selected, disabled=(S.selected_count == 0) | S.bulk_running,
                  aria_busy=rx.cond(S.bulk_running, "true", "false")),
        rx.el.p(S.bulk_message, role="status", style={"margin": "0", "width": "100%", "font_weight": "600"}),
        style={**ROW_GAP, "margin_bottom": "0.8em"},
    ))


def _stuck() -> rx.Component:
    status = rx.el.span("Page ", S.page_number, aria_live="polite", style={"margin": "0 1em"})
    return _section(
        "Why stuck", "adoption-stuck",
        _stuck_filters(),
        view_only_notice(S.can_run_steps, update_access_needed("who is stuck and why", "Patient Portal "
                                                                "Administration to run next steps")),
        _bulk_bar(),
        data_table(("Select", "Patient", "Chart #", "DOB", "Why stuck", "Channel", "Since", "Days", "Next step"),
                   S.rows, _stuck_row, style={"min_width": "70em"},
                   caption="Patients whose portal set-up stalled, with the reason the records show."),
        rx.cond(S.loaded & (S.rows.length() == 0),
                rx.el.p("Nobody is stuck for this reason, time and channel.", role="status")),
        pager(("Previous page", S.prev_page, ~S.has_prev), ("Next page", S.next_page, ~S.has_next), status,
              aria_label="Pages of stuck patients", style={"margin": "1em 0"}),
        rx.el.div(rx.button("Download stuck list (CSV)", on_click=S.download_stuck_csv, variant="outline"),
                  rx.button("Refresh", on_click=S.refresh, variant="outline"), style=ROW_GAP),
    )


def adoption_page() -> rx.Component:
    return staff_page(
        TITLE,
        S.allowed,
        rx.el.p("Who was offered the portal, how far they got, and what would get them moving.",
                style={"max_width": "52em", "margin_bottom": "1em"}),
        form_alert(S.error),
        form_notice(S.notice),
        _funnel(),
        _trends(),
        _stuck(),
        before=loading_or_failed(S.error),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(adoption_page, route=routes.ADOPTION, title=TITLE, on_load=S.load_page)
