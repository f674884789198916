"""`python -m portal_app check`: each deployment check's good and bad case, the exit code, one line
per problem (never a traceback) and no secret in the output."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from portal_app import cli, db
from portal_app.services import deployment, settings
from tests.unit.conftest import ON_POSTGRES

RESEND_KEY = "re_Zx81SecretResendKey"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "tw1lio-secret-token"
DB_PASSWORD = "pg-Secret-pw-81"
REDIS_PASSWORD = "redis-Secret-pw-17"
SETTINGS_VARIABLES = (
    "PORTAL_BASE_URL", "RESEND_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM",
    "REFLEX_REDIS_URL", "REFLEX_STATE_MANAGER_MODE", "REFLEX_TRUSTED_PROXY_HOPS", "PORTAL_OFFICE_NETWORKS",
    "PORTAL_TAB_SWEEP_SECONDS", "PORTAL_LOG_TRACEBACKS",
)


@pytest.fixture(autouse=True)
def _bare_settings(monkeypatch, tmp_path):
    """No deployment setting from the machine running the tests; uploads in this test's folder."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_IMPORT_DIR", str(tmp_path / "imports"))


@pytest.fixture
def deployed(monkeypatch):
    """The environment of a deployment done right (the database comes from `migrated`)."""
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example-clinic.org")
    monkeypatch.setenv("REFLEX_TRUSTED_PROXY_HOPS", "1")
    monkeypatch.setenv("RESEND_API_KEY", RESEND_KEY)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("TWILIO_FROM", "+12025550123")


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> str | None:
    """One SQLite file migrated with the real migrations, copied for each test (None on PostgreSQL)."""
    if ON_POSTGRES:
        return None
    path = tmp_path_factory.mktemp("check") / "migrated.db"
    url = f"sqlite:///{path}"
    db.migrate(url)
    db.forget(url)
    return str(path)


@pytest.fixture
def migrated(migrated_sqlite, postgres, tmp_path, monkeypatch) -> Iterator[str]:
    """A migrated database whose Portal Settings are a deployment's; REFLEX_DB_URL names it."""
    if postgres is not None:
        url = postgres.create()
    else:
        assert migrated_sqlite is not None
        shutil.copy(migrated_sqlite, tmp_path / "portal.db")
        url = f"sqlite:///{tmp_path / 'portal.db'}"
    with db.session_scope(url) as session:
        row = settings.get(session=session)
        row.portal_base_url = "https://portal.example-clinic.org"
        row.sender_address = "portal@example-clinic.org"
        session.add(row)
        session.commit()
    db.forget(url)
    monkeypatch.setenv("REFLEX_DB_URL", url)
    yield url
    if postgres is not None:
        postgres.drop(url)
    else:
        db.forget(url)


def run_check(capsys) -> tuple[int, str]:
    code = cli.main(["check"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out


def line(out: str, topic: str) -> str:
    """The one line about `topic`."""
    [found] = [text for text in out.splitlines() if text.split(":", 1)[0].split(None, 1)[-1] == topic]
    return found


def sql(url: str, statement: str) -> None:
    engine = create_engine(db.driver_url(url), poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the whole command -------------------------------------------------------------------------

def test_a_deployment_done_right_passes(deployed, migrated, capsys):
    code, out = run_check(capsys)
    assert code == 0, out
    assert "PROBLEM" not in out
    assert out.rstrip().endswith("Everything a deployment needs is right.")
    assert line(out, "Portal URL (PORTAL_BASE_URL)").startswith("OK ")
    assert "session cookies are Secure and pages carry HSTS" in out
    for topic in ("Email (RESEND_API_KEY)", "Text messages (TWILIO_*)", "Database (REFLEX_DB_URL)", "Migrations",
                  "Portal Settings' portal URL", "Sender address", "Client addresses (REFLEX_TRUSTED_PROXY_HOPS)"):
        assert line(out, topic).startswith("OK "), topic
    assert line(out, "Redis (REFLEX_REDIS_URL)") == (
        "note     Redis (REFLEX_REDIS_URL): not set: one worker (in-memory state); several workers need Redis")
    if ON_POSTGRES:
        assert line(out, "Collation").startswith("OK       Collation: C.UTF-8")
    for secret in (RESEND_KEY, TWILIO_TOKEN):
        assert secret not in out


def test_default_settings_are_fine_for_trying_the_app_not_for_a_deployment(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "portal.db"
    monkeypatch.setenv("REFLEX_DB_URL", f"sqlite:///{missing}")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Portal URL (PORTAL_BASE_URL)").startswith("PROBLEM  Portal URL (PORTAL_BASE_URL): not set, "
                                                                "so the app runs as http://localhost:3000: fine for "
                                                                "trying the app on this machine, not for a deployment")
    assert "stays in the outbox" in line(out, "Email (RESEND_API_KEY)")
    assert line(out, "Text messages (TWILIO_*)").startswith("note ")
    assert line(out, "Database (REFLEX_DB_URL)") == (
        f"PROBLEM  Database (REFLEX_DB_URL): no database at {missing} (a relative path is read from the folder the "
        "command runs in): `python -m portal_app init --demo-patients 0` creates and migrates it")
    assert line(out, "Migrations and Portal Settings").startswith("note ")
    assert "one worker (in-memory state)" in out
    assert out.rstrip().endswith("3 problems: a deployment needs them fixed (notes are for information).")
    assert not missing.exists()  # the check creates nothing


# ---- the portal's address ----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "status", "words"), [
    ("https://portal.example-clinic.org/", "OK", "session cookies are Secure and pages carry HSTS"),
    ("http://localhost:3000", "PROBLEM", "fine for trying the app, not for a deployment"),
    ("http://portal.example-clinic.org", "PROBLEM", "session cookies go without Secure and pages carry no HSTS"),
    ("https://portal.example-clinic.org/portal", "PROBLEM", "would refuse the websocket"),
    ("portal.example-clinic.org", "PROBLEM", "is not a web address"),
    ("", "PROBLEM", "is not a web address"),
])
def test_the_portal_url_must_be_an_https_origin(monkeypatch, value, status, words):
    monkeypatch.setenv("PORTAL_BASE_URL", value)
    [finding] = deployment.portal_url(reflex=None)
    assert (finding.status, words in finding.text) == (status, True), finding.text


def test_behind_an_https_proxy_the_client_address_needs_trusted_proxy_hops(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("REFLEX_DB_URL", f"sqlite:///{tmp_path / 'none.db'}")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example-clinic.org")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Client addresses (REFLEX_TRUSTED_PROXY_HOPS)").startswith("PROBLEM  Client addresses "
                                                                                "(REFLEX_TRUSTED_PROXY_HOPS): 0:")
    monkeypatch.setenv("REFLEX_TRUSTED_PROXY_HOPS", "1")
    _, out = run_check(capsys)
    assert line(out, "Client addresses (REFLEX_TRUSTED_PROXY_HOPS)").startswith("OK ")


def test_the_portal_url_in_portal_settings_must_be_https_and_the_same_site(deployed, migrated, capsys):
    with db.session_scope(migrated) as session:
        row = settings.get(session=session)
        row.portal_base_url = "http://portal.example-clinic.org"
        session.add(row)
        session.commit()
    db.forget(migrated)
    code, out = run_check(capsys)
    assert code == 1
    assert "is not https, the links in emails and texts are built from it" in line(out, "Portal Settings' portal URL")

    sql(migrated, "UPDATE practicesettings SET portal_base_url = 'https://other.example-clinic.org/portal'")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Portal Settings' portal URL").startswith(
        "PROBLEM  Portal Settings' portal URL: https://other.example-clinic.org/portal is not on PORTAL_BASE_URL's "
        "address (https://portal.example-clinic.org)")


# ---- email and texts ---------------------------------------------------------------------------

def test_email_needs_a_resend_key_that_looks_like_one_and_never_shows_it(monkeypatch):
    assert deployment.email().status == "PROBLEM"
    monkeypatch.setenv("RESEND_API_KEY", "sk_live_Secret123")
    finding = deployment.email()
    assert finding.status == "PROBLEM" and "does not look like a Resend API key" in finding.text
    assert "Secret123" not in finding.line
    monkeypatch.setenv("RESEND_API_KEY", RESEND_KEY)
    finding = deployment.email()
    assert finding.status == "OK" and RESEND_KEY not in finding.line


def test_with_resend_the_sender_address_must_not_be_the_placeholder(deployed, migrated, capsys):
    sql(migrated, "UPDATE practicesettings SET sender_address = 'portal@example.org'")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Sender address").startswith("PROBLEM  Sender address: portal@example.org: Resend sends only "
                                                  "from a domain verified with it")


def test_texts_need_all_three_twilio_settings_or_none(monkeypatch):
    assert deployment.texts().status == "note"
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    finding = deployment.texts()
    assert finding.status == "PROBLEM"
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN set but TWILIO_FROM not" in finding.text
    monkeypatch.setenv("TWILIO_FROM", "555-0123")
    assert "not a phone number in international form" in deployment.texts().text
    monkeypatch.setenv("TWILIO_FROM", "+12025550123")
    finding = deployment.texts()
    assert finding.status == "OK" and TWILIO_TOKEN not in finding.line and TWILIO_SID not in finding.line


# ---- the database ------------------------------------------------------------------------------

def test_a_sqlite_path_in_a_missing_folder_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REFLEX_DB_URL", f"sqlite:///{tmp_path / 'gone' / 'portal.db'}")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Database (REFLEX_DB_URL)") == (
        f"PROBLEM  Database (REFLEX_DB_URL): the folder {tmp_path / 'gone'} does not exist")
    assert not (tmp_path / "gone").exists()


def test_a_file_that_is_not_a_database_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "portal.db").write_bytes(b"not a database at all, just text " * 40)
    monkeypatch.setenv("REFLEX_DB_URL", f"sqlite:///{tmp_path / 'portal.db'}")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Database (REFLEX_DB_URL)") == (
        f"PROBLEM  Database (REFLEX_DB_URL): {tmp_path / 'portal.db'} is not a SQLite database file")


def test_postgresql_down_is_one_line_without_the_password(monkeypatch, capsys):
    port = closed_port()
    monkeypatch.setenv("REFLEX_DB_URL", f"postgresql://portal:{DB_PASSWORD}@127.0.0.1:{port}/portal")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Database (REFLEX_DB_URL)") == (
        f"PROBLEM  Database (REFLEX_DB_URL): nothing answers at 127.0.0.1:{port}: is PostgreSQL running, "
        "and on that port?")
    assert DB_PASSWORD not in out


def test_the_apps_start_line_for_a_database_that_is_down(monkeypatch):
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    port = closed_port()
    url = f"postgresql://portal:{DB_PASSWORD}@127.0.0.1:{port}/portal"
    monkeypatch.setenv("REFLEX_DB_URL", url)
    with pytest.raises(OperationalError) as caught:
        create_engine(url.replace("postgresql:", "postgresql+psycopg:"),
                      connect_args={"connect_timeout": 2}).connect()
    assert deployment.database_down(caught.value) == (
        f"Database PostgreSQL postgresql://portal:***@127.0.0.1:{port}/portal does not answer: "
        f"nothing answers at 127.0.0.1:{port}: is PostgreSQL running, and on that port?")


def test_a_database_url_that_is_not_one(monkeypatch, capsys):
    monkeypatch.setenv("REFLEX_DB_URL", f"portal:{DB_PASSWORD}@somewhere")
    code, out = run_check(capsys)
    assert code == 1
    assert "is not a database URL" in line(out, "Database (REFLEX_DB_URL)")
    assert DB_PASSWORD not in out


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL server's answers")
def test_a_missing_postgresql_database_says_how_to_create_it(migrated, monkeypatch, capsys):
    from sqlalchemy.engine import make_url

    url = make_url(migrated).set(database="no_such_portal", password=DB_PASSWORD)
    monkeypatch.setenv("REFLEX_DB_URL", url.render_as_string(hide_password=False))
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Database (REFLEX_DB_URL)").endswith(
        "has no database no_such_portal: create it with `createdb --locale=C.UTF-8 --template=template0 "
        "no_such_portal`")
    assert DB_PASSWORD not in out


def test_an_empty_database_needs_init(new_database, monkeypatch, capsys):
    url = new_database("empty.db")
    if not ON_POSTGRES:
        open(url.removeprefix("sqlite:///"), "wb").close()  # (an empty file is an empty SQLite database)
    monkeypatch.setenv("REFLEX_DB_URL", url)
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Database (REFLEX_DB_URL)").startswith("OK ")
    assert line(out, "Migrations") == ("PROBLEM  Migrations: the database has no schema yet: "
                                       "`python -m portal_app init --demo-patients 0` migrates it")


def test_migrations_behind_say_which_command_brings_them_up(deployed, migrated, capsys):
    script = deployment.alembic_script()
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    sql(migrated, f"UPDATE alembic_version SET version_num = '{previous}'")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Migrations") == (
        f"PROBLEM  Migrations: 1 behind (the database is at {previous}, the newest is {head}): "
        "`python -m portal_app init --demo-patients 0` brings it up")

    sql(migrated, "UPDATE alembic_version SET version_num = 'f00dfeed0000'")
    code, out = run_check(capsys)
    assert code == 1
    assert "a migration this version of portal_app does not have" in line(out, "Migrations")


@pytest.mark.skipif(not ON_POSTGRES, reason="a PostgreSQL database's collation")
def test_a_postgresql_database_that_does_not_collate_bytewise_is_a_problem(deployed, migrated, postgres, capsys,
                                                                          monkeypatch):
    url = postgres.create(migrated=False)
    name = url.rsplit("/", 1)[1]
    postgres.drop(url)
    postgres._sql(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
    monkeypatch.setenv("REFLEX_DB_URL", url)
    try:
        code, out = run_check(capsys)
    finally:
        postgres.drop(url)
    assert code == 1
    assert line(out, "Collation").startswith("PROBLEM  Collation: ICU (C.UTF-8 for the rest), not C: name and email "
                                             "searches and the lists' order compare text byte by byte")


# ---- Redis -------------------------------------------------------------------------------------

class FakeRedis:
    """A server speaking just enough RESP: PING answers PONG, AUTH checks its password, the rest OK."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(client,), daemon=True).start()

    def _talk(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as reader:
            while header := reader.readline():
                words = []
                for _ in range(int(header[1:])):
                    size = int(reader.readline()[1:])
                    words.append(reader.read(size + 2)[:-2].decode())
                command = words[0].upper()
                if command == "AUTH" and words[-1] != self.password:
                    client.sendall(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
                else:
                    client.sendall(b"+PONG\r\n" if command == "PING" else b"+OK\r\n")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def fake_redis() -> Iterator[FakeRedis]:
    server = FakeRedis(REDIS_PASSWORD)
    yield server
    server.close()


def test_redis_answering_with_the_redis_state_manager_is_ok(fake_redis, monkeypatch):
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{fake_redis.port}/0")
    found = deployment.redis(reflex=deployment.ReflexSettings(state_manager_mode="redis", trusted_proxy_hops=1))
    assert [finding.line for finding in found] == [
        f"OK       Redis (REFLEX_REDIS_URL): redis://:***@127.0.0.1:{fake_redis.port}/0 answers"]


def test_redis_url_picks_the_redis_state_manager(deployed, migrated, fake_redis, monkeypatch, capsys):
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{fake_redis.port}/0")
    code, out = run_check(capsys)  # (rxconfig.py names redis when REFLEX_REDIS_URL is set)
    assert code == 0, out
    assert line(out, "Redis (REFLEX_REDIS_URL)").startswith("OK ")
    assert "State manager" not in out


def test_redis_with_the_memory_state_manager_is_a_problem(deployed, migrated, fake_redis, monkeypatch, capsys):
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{fake_redis.port}/0")
    monkeypatch.setenv("REFLEX_STATE_MANAGER_MODE", "memory")  # an override that undoes it
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Redis (REFLEX_REDIS_URL)").startswith("OK ")
    assert line(out, "State manager").startswith("PROBLEM  State manager: memory, not redis")
    assert REDIS_PASSWORD not in out


def test_redis_refusing_the_password_or_down_is_one_line_without_it(fake_redis, monkeypatch, capsys):
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:wrong-{REDIS_PASSWORD}@127.0.0.1:{fake_redis.port}/0")
    [finding] = deployment.redis(reflex=None)
    assert finding.status == "PROBLEM" and "Redis refused the password" in finding.text
    assert REDIS_PASSWORD not in finding.line

    port = closed_port()
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}")
    monkeypatch.setenv("REFLEX_DB_URL", "sqlite:///:memory:")
    code, out = run_check(capsys)
    assert code == 1
    assert line(out, "Redis (REFLEX_REDIS_URL)") == (
        f"PROBLEM  Redis (REFLEX_REDIS_URL): redis://:***@127.0.0.1:{port}: nothing answers there: is Redis "
        "running, and on that port?")
    assert REDIS_PASSWORD not in out


def test_a_redis_url_reflex_refuses(monkeypatch):
    monkeypatch.setenv("REFLEX_REDIS_URL", "http://127.0.0.1:6379")
    [finding] = deployment.redis(reflex=None)
    assert finding.status == "PROBLEM" and "must start with redis://" in finding.text


# ---- the other settings ------------------------------------------------------------------------

def test_office_networks_must_parse(monkeypatch):
    assert deployment.office_networks_setting().status == "note"
    monkeypatch.setenv("PORTAL_OFFICE_NETWORKS", "203.0.113.7/32, 10.20.0.0/16")
    assert deployment.office_networks_setting().line == (
        "OK       Office networks (PORTAL_OFFICE_NETWORKS): 203.0.113.7/32, 10.20.0.0/16")
    monkeypatch.setenv("PORTAL_OFFICE_NETWORKS", "203.0.113.7/32, 10.20.0.300/16")
    finding = deployment.office_networks_setting()
    assert finding.status == "PROBLEM" and "'10.20.0.300/16' does not appear to be" in finding.text
    monkeypatch.setenv("PORTAL_OFFICE_NETWORKS", "0.0.0.0/0")
    assert deployment.office_networks_setting().status == "PROBLEM"


def test_the_tab_sweep_must_be_a_number_of_seconds(monkeypatch):
    assert deployment.tab_sweep() is None
    for value, status in (("30", "OK"), ("1m", "PROBLEM"), ("inf", "PROBLEM")):
        monkeypatch.setenv("PORTAL_TAB_SWEEP_SECONDS", value)
        finding = deployment.tab_sweep()
        assert finding is not None and finding.status == status, value


def test_the_import_folder_must_be_a_folder(tmp_path, monkeypatch):
    assert deployment.import_folder().status == "OK"
    assert not (tmp_path / "imports").exists()
    (tmp_path / "imports").write_text("a file")
    finding = deployment.import_folder()
    assert finding.status == "PROBLEM" and "is a file, not a folder" in finding.text


def test_scrub_takes_out_every_secret_value(monkeypatch):
    monkeypatch.setenv("RESEND_API_KEY", RESEND_KEY)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("REFLEX_DB_URL", f"postgresql://portal:{DB_PASSWORD}@db/portal")
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:{REDIS_PASSWORD}@cache:6379")
    said = deployment.scrub(f"{RESEND_KEY} {TWILIO_TOKEN} {DB_PASSWORD} {REDIS_PASSWORD}")
    assert said == "*** *** *** ***"
