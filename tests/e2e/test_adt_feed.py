"""The HL7 ADT feed as staff meet it: charts the EHR registers over MLLP appear on the onboarding
list with their accented names, and a chart the EHR merged away reads "Merged into chart N" and
its red rectangle refuses with the reason."""

from __future__ import annotations

import socket
from datetime import date

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import Patient
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import RED_RGB, SeededPatient, find_in_onboarding, portal_enabled, staff_sign_in, unique_tag
from tests.unit.test_adt_listener import Running, msa, send


def _a04(chart: str, last: str, first: str, control: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|EPIC|RIVERSIDE|PORTAL|RIVERSIDE|20261120093000||ADT^A04^ADT_A01|{control}|P|2.5.1",
        "EVN|A04|20261120093000",
        f"PID|1||{chart}^^^RIVERSIDE^MR||{last}^{first}^^^^^L||19840307|F|||12 Orchard Lane^^Fairview^TN^37062||"
        "^PRN^PH^^1^615^5550142",
    ]) + "\r"


def _seeded(app_server: AppServer, chart: str) -> SeededPatient:
    with db.session_scope(app_server.db_url) as session:
        row = session.exec(select(Patient).where(Patient.chart_number == chart)).one()
        return SeededPatient(id=row.id, first_name=row.first_name, last_name=row.last_name, email=row.email,
                             dob=row.dob, chart_number=row.chart_number)


def test_charts_from_the_adt_feed_are_listed_and_a_merged_chart_says_where_it_went(
        app_server: AppServer, page: Page) -> None:
    tag = unique_tag()
    survivor_chart, duplicate_chart = f"E{tag}1", f"E{tag}2"
    listener = Running(app_server.db_url, idle_timeout=30)
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
            assert msa(send(sock, _a04(survivor_chart, f"Nguyễn-Smith{tag}", "Zoë", f"{tag}-1"))) == ("AA", f"{tag}-1")
            assert msa(send(sock, _a04(duplicate_chart, f"Nguyen{tag}", "Zoe", f"{tag}-2"))) == ("AA", f"{tag}-2")
            with db.session_scope(app_server.db_url) as session:  # staff had turned the duplicate's access on
                duplicate = session.exec(select(Patient).where(Patient.chart_number == duplicate_chart)).one()
                duplicate.portal_enabled = True
                session.add(duplicate)
                session.commit()
            merge = _a04(survivor_chart, f"Nguyễn-Smith{tag}", "Zoë", f"{tag}-3").replace("ADT^A04", "ADT^A40")
            assert msa(send(sock, merge + f"MRG|{duplicate_chart}^^^RIVERSIDE^MR\r")) == ("AA", f"{tag}-3")
    finally:
        listener.stop()
    survivor, merged = _seeded(app_server, survivor_chart), _seeded(app_server, duplicate_chart)
    assert survivor.dob == date(1984, 3, 7)
    # The merged chart's access carried over to the survivor (its account, had it one, moved there).
    assert portal_enabled(app_server, merged) is False and portal_enabled(app_server, survivor) is True

    staff_sign_in(page)
    expect(find_in_onboarding(page, survivor)).to_be_visible()
    row = find_in_onboarding(page, merged)
    expect(row).to_contain_text(f"Merged into chart {survivor_chart}")
    red = row.get_by_role("button", name=f"Enable portal access for {merged.list_name}")
    expect(red).to_have_css("background-color", RED_RGB)
    red.click()
    expect(page.get_by_text(f"This chart was merged into chart {survivor_chart}; portal access stays off.")
           ).to_be_visible()
    assert portal_enabled(app_server, merged) is False
