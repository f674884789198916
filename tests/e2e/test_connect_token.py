"""Chart > Patient Portal > Connect Patient: create and connect with a read-back token (the
patient then signs in with it and must choose a new password), and a connection-key letter."""

from __future__ import annotations

import re
import zlib
from datetime import date
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import AccessType, OutboxMessage, PortalConnection
from portal_app.services import audit, connect
from tests.e2e.conftest import AppServer
from tests.e2e.helpers import (
    OTHER_PASSPHRASE,
    account_of,
    audit_events,
    create_patient,
    expect_portal_home,
    give_account,
    messages_to,
    open_connect_wizard,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations

_TOKEN = re.compile(r"portal token is (\d{4,8})\.")
_KEY = re.compile(rb"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}")


def _token_sent_to(app_server: AppServer, address: str) -> str:
    def find() -> str:
        found = [m for m in messages_to(app_server, address) if m.kind == "connect_token"]
        return _TOKEN.search(found[-1].body_text).group(1) if found else ""

    return wait_until(find, what=f"a token message to {address}")


def _wrong(token: str) -> str:
    return f"{(int(token) + 1) % 10 ** len(token):0{len(token)}d}"


def test_create_and_connect_then_sign_in_with_the_token(app_server: AppServer, page: Page,
                                                        new_context) -> None:
    patient = create_patient(app_server, first_name="Beatriz", last_name=f"Quillon-{unique_tag()}",
                             portal_enabled=True)
    staff_sign_in(page)
    dialog = open_connect_wizard(page, patient, "Mother - Jane Doe")

    create = dialog.get_by_role("region", name="Create and Connect Account")
    expect(create.get_by_role("radio", name="Email Address")).to_be_checked()
    address = create.get_by_label("Email address (user ID)")
    expect(address).to_have_value(patient.email)
    create.get_by_role("button", name="Send Token").click()
    expect(create.get_by_text(re.compile(rf"Token sent to {re.escape(patient.email)} \(expires "))
           ).to_be_visible()
    token = _token_sent_to(app_server, patient.email)

    # A wrong token is refused next to the field; the right one connects.
    token_field = create.get_by_label("Token", exact=True)
    assert len(token) == 6  # the default length
    token_field.fill(_wrong(token))
    create.get_by_role("button", name="Connect Patient").click()
    expect(token_field).to_have_accessible_description(re.compile("That token is not right. 4 tries left."))
    token_field.fill(token)
    create.get_by_role("button", name="Connect Patient").click()
    expect(create.get_by_text(f"Patient connected. A new portal account was created with user ID "
                              f"{patient.email}")).to_be_visible()
    account = account_of(app_server, patient.email)
    assert account is not None and account.must_change_password
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("definition").filter(has_text=patient.email).first).to_be_visible()

    welcome = [m for m in messages_to(app_server, patient.email) if m.kind == "connect_welcome"]
    assert len(welcome) == 1 and token not in welcome[0].body_text
    assert f"{app_server.base_url}/login" in welcome[0].body_text
    for action in ("token.issue", "token.sent", "token.redeem", "account.create", "chart.connect"):
        events = [e for e in audit_events(app_server, action=action) if e.patient_id == patient.id]
        assert events, action
        assert all(token not in e.detail for e in events)

    # The patient signs in with the token as the temporary password and must change it.
    patient_page = new_context().new_page()
    patient_sign_in(patient_page, patient.email, token)
    expect(patient_page).to_have_url(re.compile(r"/portal/password/?$"))
    expect(patient_page.get_by_label("Current password")).to_have_count(0)  # typed to sign in just now
    patient_page.get_by_label("New password", exact=True).fill(OTHER_PASSPHRASE)
    patient_page.get_by_label("Confirm new password").fill(OTHER_PASSPHRASE)
    patient_page.get_by_role("button", name="Change password").click()
    expect_portal_home(patient_page, patient)


def test_a_token_password_dies_after_five_wrong_sign_ins(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Dagny", last_name=f"Tokenfail-{unique_tag()}",
                             portal_enabled=True)
    with db.session_scope(app_server.db_url) as session:
        actor = audit.Actor.system("e2e test")
        connect.send_connect_token(session=session, patient_id=patient.id, channel="email",
                                   address=patient.email, requested_by="Self", actor=actor)
        token = _token_sent_to(app_server, patient.email)
        connect.connect_with_token(session=session, patient_id=patient.id, channel="email",
                                   address=patient.email, token=token, actor=actor)
    alert = page.get_by_role("alert")
    for _ in range(5):
        patient_sign_in(page, patient.email, _wrong(token))
        expect(alert).to_contain_text("That user ID and password do not match")
    # The right token no longer signs in; the answer says what to do (and is the one every failure gets).
    patient_sign_in(page, patient.email, token)
    expect(alert).to_contain_text("stops working after 5 wrong tries. Then use Forgot password or call the "
                                  "practice at (555) 010-0100.")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    assert any("temporary password void" in e.detail for e in audit_events(app_server, action="portal.sign_in_failed"))


def _pdf_text(data: bytes) -> bytes:
    """The PDF's content streams, inflated (fpdf2 compresses them with FlateDecode)."""
    parts = [data]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_connection_key_letter_downloads_with_the_key(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Ignatius", last_name=f"Pellow-{unique_tag()}",
                             portal_enabled=True)
    staff_sign_in(page)
    dialog = open_connect_wizard(page, patient, "The patient, by phone")

    section = dialog.get_by_role("region", name="Generate Connection Key")
    letter = section.get_by_role("radio", name="Letter")
    letter.click()
    expect(letter).to_be_checked()
    expect(section.get_by_text("12 Orchard Lane, Fairview, TN 37062")).to_be_visible()
    with page.expect_download() as download_info:
        section.get_by_role("button", name="Print").click()
    download = download_info.value
    assert download.suggested_filename == f"connection-key-{patient.chart_number}.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF")

    shown = section.get_by_text("Connection key (shown once):")
    expect(shown).to_have_text(re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$"))
    key = shown.inner_text().rsplit(" ", 1)[-1]
    assert key.encode() in _KEY.findall(_pdf_text(data))
    assert audit_events(app_server, action="key.printed")
    # Downloaded at once: the outbox keeps the letter's record, not its PDF (issue 11, item 5).
    with db.session_scope(app_server.db_url) as session:
        kept = session.exec(select(OutboxMessage.attachment, OutboxMessage.pending_secrets).where(
            OutboxMessage.patient_id == patient.id, OutboxMessage.channel == "letter")).all()
    assert kept == [(None, "")]

    # Closing the dialog forgets the key: opening it again does not show it.
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text(key)).to_have_count(0)
    # The chart's list shows the printed key as pending, without its value, and needs no reload.
    expect(page.get_by_role("button", name="Void Connection key by Letter")).to_be_visible()


def test_an_address_of_another_patients_account_asks_staff_before_any_token(app_server: AppServer,
                                                                             page: Page) -> None:
    tag = unique_tag()
    mother = create_patient(app_server, first_name="Annika", last_name=f"Holm-{tag}", portal_enabled=True)
    mothers_id = give_account(app_server, mother)  # her own account, her own chart
    son = create_patient(app_server, first_name="Lukas", last_name=f"Holm-{tag}", dob=date(2016, 5, 5),
                         email=f"lukas.{tag.lower()}@example.net", portal_enabled=True)
    staff_sign_in(page)
    dialog = open_connect_wizard(page, son, "Mother - Annika Holm")
    create = dialog.get_by_role("region", name="Create and Connect Account")
    create.get_by_label("Email address (user ID)").fill(mothers_id)
    create.get_by_role("button", name="Send Token").click()

    warning = create.get_by_role("alert").filter(has_text="already belongs to another patient's own portal account")
    expect(warning).to_be_visible()
    assert not [m for m in messages_to(app_server, mothers_id) if m.kind == "connect_token"]
    expect(create.get_by_role("button", name="It is this patient's own account")).to_have_count(0)
    assert _violations(page) == []
    create.get_by_role("button", name="Connect as authorized representative").click()
    expect(create.get_by_label("Relationship to the patient")).to_have_accessible_description(
        "Choose the representative's relationship to the patient.")
    create.get_by_label("Relationship to the patient").select_option("parent")
    create.get_by_role("button", name="Connect as authorized representative").click()
    expect(create.get_by_text("This address will be connected as the patient's authorized representative.")
           ).to_be_visible()
    create.get_by_role("button", name="Send Token").click()
    token = _token_sent_to(app_server, mothers_id)
    create.get_by_label("Token", exact=True).fill(token)
    create.get_by_role("button", name="Connect Patient").click()
    expect(create.get_by_text(f"Connected the existing portal account {mothers_id} as this patient's "
                              "authorized representative (parent)")).to_be_visible()
    account = account_of(app_server, mothers_id)
    with db.session_scope(app_server.db_url) as session:
        connection = session.exec(select(PortalConnection).where(PortalConnection.patient_id == son.id)).one()
        assert connection.account_id == account.id and connection.access_type == AccessType.REPRESENTATIVE


def test_a_wrong_address_is_cleared_for_correction(app_server: AppServer, page: Page) -> None:
    tag = unique_tag()
    other = create_patient(app_server, first_name="Greta", last_name=f"Moss-{tag}", portal_enabled=True)
    others_id = give_account(app_server, other)
    patient = create_patient(app_server, first_name="Ilse", last_name=f"Brand-{tag}", portal_enabled=True)
    staff_sign_in(page)
    dialog = open_connect_wizard(page, patient, "The patient")
    create = dialog.get_by_role("region", name="Create and Connect Account")
    address = create.get_by_label("Email address (user ID)")
    address.fill(others_id)
    create.get_by_role("button", name="Send Token").click()
    expect(create.get_by_text("already belongs to another patient's own portal account")).to_be_visible()
    create.get_by_role("button", name="Wrong address").click()
    expect(address).to_have_accessible_description("Correct the address, then send a token to it.")
    address.fill(patient.email)
    create.get_by_role("button", name="Send Token").click()
    expect(create.get_by_text(re.compile(rf"Token sent to {re.escape(patient.email)}"))).to_be_visible()
