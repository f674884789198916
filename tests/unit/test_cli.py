"""The command line against a temporary database: init, create-staff, demo, outbox."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from portal_app import cli, db
from portal_app.models import AccessType, IntakeChange, PortalAccount, PortalConnection, PortalTask, StaffUser
from portal_app.services import audit, demo, invitations, onboarding, settings, staff_auth
from tests.unit.conftest import make_patient
from tests.unit.two_step import staff_sign_in


@pytest.fixture
def cli_db(new_database, monkeypatch):
    """An empty database (file) that the CLI finds through REFLEX_DB_URL."""
    url = new_database("cli.db")
    monkeypatch.setenv("REFLEX_DB_URL", url)
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    yield url
    db.engine(url).dispose()
    db._engines.pop(url, None)


def _password_lines(text):
    return re.findall(r"^\s+password: (\S+)$", text, flags=re.M)


def test_init_migrates_loads_demo_and_creates_the_admin_once(cli_db, capsys):
    assert cli.main(["init", "--demo-patients", "25"]) == 0
    out = capsys.readouterr().out
    [password] = _password_lines(out)
    assert "Loaded 25 demo patients." in out and "username: admin" in out
    assert "choose a new password at first sign-in" in out

    assert cli.main(["init", "--demo-patients", "25"]) == 0
    again = capsys.readouterr().out
    assert _password_lines(again) == [] and "Loaded" not in again and password not in again

    with db.session_scope(cli_db) as session:
        assert demo.patient_count(session=session) == 25
        [admin] = session.exec(select(StaffUser)).all()
        assert admin.must_change_password and password not in admin.password_hash
        sid = staff_sign_in(session, "admin", password)
        assert staff_auth.principal_for(session=session, session_id=sid).must_change_password


def test_init_fills_the_demo_queue_through_the_real_services(cli_db, capsys):
    assert cli.main(["init", "--demo-patients", "25"]) == 0
    assert "Added demo portal accounts, a family, and 5 items" in capsys.readouterr().out
    with db.session_scope(cli_db) as session:
        kinds = sorted(task.kind.value for task in session.exec(select(PortalTask)))
        assert kinds == ["appointment_request", "document_share", "intake_form", "message", "message"]
        representatives = session.exec(select(PortalConnection).where(
            PortalConnection.access_type == AccessType.REPRESENTATIVE)).all()
        assert sorted(c.permissions for c in representatives) == ["appointments", "messages,appointments,forms"]
        assert len(session.exec(select(IntakeChange)).all()) == 2


def test_init_without_demo_activity_leaves_the_portal_empty(cli_db, capsys):
    assert cli.main(["init", "--demo-patients", "25", "--no-demo-activity"]) == 0
    with db.session_scope(cli_db) as session:
        assert session.exec(select(PortalTask)).all() == [] and session.exec(select(PortalAccount)).all() == []


def test_init_sets_the_base_url(cli_db, capsys):
    cli.main(["init", "--demo-patients", "0", "--base-url", "https://portal.example.org/"])
    capsys.readouterr()
    with db.session_scope(cli_db) as session:
        assert settings.get(session=session).portal_base_url == "https://portal.example.org"
        assert demo.patient_count(session=session) == 0


def test_init_starts_a_new_database_from_portal_base_url(cli_db, capsys, monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "http://localhost:8123/")
    cli.main(["init", "--demo-patients", "0"])
    with db.session_scope(cli_db) as session:
        config = settings.get(session=session)
        assert config.portal_base_url == "http://localhost:8123"
        config.portal_base_url = "https://portal.example.org"  # staff changed it later
        session.add(config)
        session.commit()
    monkeypatch.setenv("PORTAL_BASE_URL", "http://localhost:9999")
    cli.main(["init", "--demo-patients", "0"])
    capsys.readouterr()
    with db.session_scope(cli_db) as session:
        assert settings.get(session=session).portal_base_url == "https://portal.example.org"


def test_a_new_database_takes_portal_base_url_but_never_overrides_staff_settings(cli_db, capsys, monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "https://first.example.org/")
    cli.main(["init", "--demo-patients", "0"])
    with db.session_scope(cli_db) as session:
        config = settings.get(session=session)
        assert config.portal_base_url == "https://first.example.org"
        config.portal_base_url = "https://chosen-by-staff.example.org"
        session.add(config)
        session.commit()
    monkeypatch.setenv("PORTAL_BASE_URL", "https://other.example.org")
    cli.main(["init", "--demo-patients", "0"])
    with db.session_scope(cli_db) as session:
        assert settings.get(session=session).portal_base_url == "https://chosen-by-staff.example.org"
    capsys.readouterr()


def test_create_staff(cli_db, capsys):
    cli.main(["init", "--demo-patients", "0"])
    capsys.readouterr()
    assert cli.main(["create-staff", "--username", "Desk", "--name", "Dee Desk", "--role", "Front Desk",
                     "--password", "velvet harbor compass 58 ridge"]) == 0
    assert "Created staff user desk (Front Desk)." in capsys.readouterr().out
    assert cli.main(["create-staff", "--username", "desk", "--name", "Dee Again",
                     "--password", "velvet harbor compass 58 ridge"]) == 2
    assert "taken" in capsys.readouterr().err
    assert cli.main(["create-staff", "--username", "weak", "--name", "Weak One", "--password", "password123"]) == 2
    assert "too weak" in capsys.readouterr().err
    with db.session_scope(cli_db) as session:
        assert staff_sign_in(session, "desk", "velvet harbor compass 58 ridge")


def test_create_staff_prompts_for_the_password(cli_db, capsys, monkeypatch):
    cli.main(["init", "--demo-patients", "0"])
    answers = iter(["velvet harbor compass 58 ridge", "something else"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: next(answers))
    assert cli.main(["create-staff", "--username", "x", "--name", "X Person"]) == 2
    assert "do not match" in capsys.readouterr().err


def test_demo_adds_patients_deterministically(cli_db, capsys):
    cli.main(["init", "--demo-patients", "0"])
    assert cli.main(["demo", "--patients", "40"]) == 0
    assert "Added 40 demo patients" in capsys.readouterr().out
    assert cli.main(["demo", "--patients", "10"]) == 0
    with db.session_scope(cli_db) as session:
        assert demo.patient_count(session=session) == 50
        page = onboarding.list_page(session=session, limit=50)
        charts = sorted(row.chart_number for row in page.rows)
        assert charts[0] == "C0000001" and charts[-1] == "C0000050"
        assert any(row.enabled for row in page.rows) and not all(row.enabled for row in page.rows)


@pytest.mark.parametrize("count", ["0", "-1", "500001"])
def test_demo_refuses_counts_out_of_range(cli_db, capsys, count):
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--patients", count])
    assert info.value.code == 2
    assert "between 1 and 500000" in capsys.readouterr().err


def test_outbox_prints_recent_messages_with_their_links(cli_db, capsys):
    cli.main(["init", "--demo-patients", "0", "--admin-password", "velvet harbor compass 58 ridge"])
    capsys.readouterr()
    with db.session_scope(cli_db) as session:
        admin = session.exec(select(StaffUser)).one()
        for i, name in enumerate(("Ann", "Bea", "Cy")):
            patient = make_patient(session, first=name, email=f"{name.lower()}@example.com",
                                   chart=f"P{i}", enabled=True)
            invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                                 actor=audit.Actor.staff(admin.id))
    assert cli.main(["outbox", "--last", "2"]) == 0
    out = capsys.readouterr().out
    assert "ann@example.com" not in out
    assert out.index("to bea@example.com") < out.index("to cy@example.com")  # oldest of the two first
    links = re.findall(r"http://localhost:3000/setup\?p=invite&token=[\w-]+", out)
    assert len(links) == 2
    assert "Subject: Set up your Riverside Family Practice patient portal account" in out
    assert cli.main(["outbox"]) == 0
    assert len(re.findall(r"^--- #", capsys.readouterr().out, flags=re.M)) == 3


def test_outbox_says_a_letter_has_its_pdf_attached(cli_db, capsys):
    from portal_app.models import OutboxMessage

    cli.main(["init", "--demo-patients", "0", "--admin-password", "velvet harbor compass 58 ridge"])
    capsys.readouterr()
    with db.session_scope(cli_db) as session:
        session.add(OutboxMessage(channel="letter", kind="connection_key_letter", to_address="1 Elm St",
                                  subject="Letter", body_text="(printed)", idempotency_key="l-1",
                                  attachment=b"%PDF-1.4"))
        session.commit()
    assert cli.main(["outbox"]) == 0
    assert "letter (PDF attached) queued to 1 Elm St" in capsys.readouterr().out


def test_reset_two_step_for_the_administrator_who_lost_the_phone(cli_db, capsys):
    from portal_app.models import AuditEvent, SecondFactor

    cli.main(["init", "--demo-patients", "0"])
    cli.main(["create-staff", "--username", "boss", "--name", "Bo Boss",
              "--password", "velvet harbor compass 58 ridge"])
    with db.session_scope(cli_db) as session:
        staff_sign_in(session, "boss", "velvet harbor compass 58 ridge")  # sets up an authenticator
    capsys.readouterr()
    assert cli.main(["reset-two-step", "--username", "Boss"]) == 0
    assert "boss sets up two-step verification again" in capsys.readouterr().out
    assert cli.main(["reset-two-step", "--username", "nobody"]) == 2
    with db.session_scope(cli_db) as session:
        assert session.exec(select(SecondFactor)).all() == []
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.second_factor_reset")).one()
        assert event.actor_type == "system"
