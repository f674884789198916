"""`python -m portal_app check`: a deployment's settings, each judged in plain words.

Every check gives `Finding`s: OK, PROBLEM (a deployment must fix it; the command exits 1) or note
(worth knowing, nothing wrong). Nothing is created, migrated or sent (an existing SQLite file is
opened as the app opens it, in WAL mode). Secrets never appear: URLs are shown with their password
masked, API keys and tokens only as "set", and `scrub` takes their values out of any line as a last
guard.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy import Connection, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import select

from portal_app import db
from portal_app.models import PracticeSettings
from portal_app.private_files import sqlite_path
from portal_app.services import import_files, office_networks

OK, PROBLEM, NOTE = "OK", "PROBLEM", "note"
DEFAULT_PORTAL_URL = "http://localhost:3000"  # (rxconfig.py's default)
TIMEOUT_S = 5
# Migrates, and adds nothing to a database that has staff users (no demo patients either).
INIT = "python -m portal_app init --demo-patients 0"
CREATEDB = "createdb --locale=C.UTF-8 --template=template0"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
BYTE_ORDER_COLLATIONS = {"c", "posix", "c.utf-8", "c.utf8"}
SECRET_VARIABLES = ("RESEND_API_KEY", "TWILIO_AUTH_TOKEN")
TWILIO = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")
PLACEHOLDER_DOMAINS = ("example.org", "example.com", "example.net", "localhost")


@dataclass(frozen=True)
class Finding:
    status: str  # OK, PROBLEM or NOTE
    topic: str
    text: str

    @property
    def line(self) -> str:
        return f"{self.status:<8} {self.topic}: {self.text}"


@dataclass(frozen=True)
class ReflexSettings:
    """What the app would run with from Reflex's config (rxconfig.py and REFLEX_* variables);
    the command line reads it, since this module imports no Reflex."""

    state_manager_mode: str  # "memory", "redis" or "disk", after Reflex's own REFLEX_REDIS_URL rule
    trusted_proxy_hops: int


def run_checks(*, reflex: ReflexSettings | None) -> list[Finding]:
    """Every check, in the order the command prints them (`reflex` None: it could not be read)."""
    found = [*portal_url(reflex=reflex), email(), texts(), *database(), *redis(reflex=reflex),
             office_networks_setting(), import_folder()]
    found += [finding for finding in (tab_sweep(), tracebacks()) if finding is not None]
    return found


def problems(findings: list[Finding]) -> int:
    return sum(finding.status == PROBLEM for finding in findings)


def scrub(line: str) -> str:
    """`line` without the value of any secret setting: API keys, tokens and URL passwords."""
    secrets = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    for name in ("REFLEX_DB_URL", "REFLEX_REDIS_URL"):
        secrets.append(urlsplit(os.environ.get(name, "")).password or "")
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        line = line.replace(secret, "***")
    return line


# ---- the portal's address ----------------------------------------------------------------------

def _is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}".lower()


def _env_portal_url() -> str:
    """PORTAL_BASE_URL as the app reads it (rxconfig.py, session_cookies.py)."""
    return os.environ.get("PORTAL_BASE_URL", DEFAULT_PORTAL_URL).rstrip("/")


def portal_url(*, reflex: ReflexSettings | None) -> list[Finding]:
    """PORTAL_BASE_URL is an https origin: the websocket's only origin, and (https) Secure cookies and HSTS."""
    topic = "Portal URL (PORTAL_BASE_URL)"
    value = _env_portal_url()
    parts = urlsplit(value)
    if value != value.strip() or parts.scheme not in ("http", "https") or not parts.hostname:
        return [Finding(PROBLEM, topic, "is not a web address: set the portal's address, like "
                                        "https://portal.example.org (no spaces)")]
    shown = _origin(value)
    if parts.path or parts.query or parts.fragment or parts.username:
        return [Finding(PROBLEM, topic, f"{shown}... has more than the address (a path, query or user): the app "
                                        "compares it whole with the browser's Origin and would refuse the "
                                        f"websocket; set it to {shown} alone")]
    if parts.scheme == "http" and "PORTAL_BASE_URL" not in os.environ:
        return [Finding(PROBLEM, topic, f"not set, so the app runs as {DEFAULT_PORTAL_URL}: fine for trying the "
                                        "app on this machine, not for a deployment: set it to the portal's "
                                        "https:// address (then session cookies are Secure and pages carry HSTS)")]
    if parts.scheme == "http" and _is_local(value):
        return [Finding(PROBLEM, topic, f"{shown} is plain http on this machine: fine for trying the app, not "
                                        "for a deployment: set it to the portal's https:// address (then "
                                        "session cookies are Secure and pages carry HSTS)")]
    if parts.scheme == "http":
        return [Finding(PROBLEM, topic, f"{shown} is plain http: session cookies go without Secure and pages "
                                        "carry no HSTS, so sign-ins cross the network readable; serve the portal "
                                        "over HTTPS (a reverse proxy in front) and set its https:// address")]
    found = [Finding(OK, topic, f"{shown}: session cookies are Secure and pages carry HSTS")]
    if reflex is not None:
        found.append(_proxy_hops(reflex.trusted_proxy_hops))
    return found


def _proxy_hops(hops: int) -> Finding:
    topic = "Client addresses (REFLEX_TRUSTED_PROXY_HOPS)"
    if hops <= 0:
        return Finding(PROBLEM, topic, "0: behind the HTTPS reverse proxy every visitor has the proxy's address, "
                                       "so the per-address sign-in throttle and send limits would count all "
                                       "visitors as one; set it to the number of proxies in front (usually 1)")
    return Finding(OK, topic, f"{hops}: a visitor's address is read from X-Forwarded-For, "
                              f"{hops} prox{'y' if hops == 1 else 'ies'} in from the right")


# ---- email and texts ---------------------------------------------------------------------------

def email() -> Finding:
    """RESEND_API_KEY is set and looks like a Resend key (never shown)."""
    topic = "Email (RESEND_API_KEY)"
    key = os.environ.get("RESEND_API_KEY", "")
    if not key:
        return Finding(PROBLEM, topic, "not set: no email provider, so every email stays in the outbox "
                                       "(/staff/outbox) and patients receive none; fine for trying the app")
    if not key.startswith("re_") or key != key.strip():
        return Finding(PROBLEM, topic, "set, but it does not look like a Resend API key (those start with re_, "
                                       "no spaces): every email would fail")
    return Finding(OK, topic, "set: email goes out through Resend (the key itself is tried at the first send)")


def texts() -> Finding:
    """TWILIO_*: all three or none (texts then stay in the outbox)."""
    topic = "Text messages (TWILIO_*)"
    present = [name for name in TWILIO if os.environ.get(name)]
    if not present:
        return Finding(NOTE, topic, "no provider: texts stay in the outbox (set TWILIO_ACCOUNT_SID, "
                                    "TWILIO_AUTH_TOKEN and TWILIO_FROM to send them)")
    missing = [name for name in TWILIO if name not in present]
    if missing:
        return Finding(PROBLEM, topic, f"{', '.join(present)} set but {', '.join(missing)} not: Twilio needs "
                                       "all three, so texts stay in the outbox")
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", os.environ["TWILIO_ACCOUNT_SID"]):
        return Finding(PROBLEM, topic, "TWILIO_ACCOUNT_SID does not look like a Twilio account SID "
                                       "(AC and 32 hex digits): every text would fail")
    sender = os.environ["TWILIO_FROM"]
    if not _is_phone_number(sender):
        return Finding(PROBLEM, topic, f"TWILIO_FROM is {sender!r}, not a phone number in international form "
                                       "(+15551234567): every text would fail")
    return Finding(OK, topic, f"texts go out through Twilio from {sender}")


def _is_phone_number(value: str) -> bool:
    try:
        return value.startswith("+") and phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


# ---- the database ------------------------------------------------------------------------------

def database() -> list[Finding]:
    """The database answers; then its migrations, collation (PostgreSQL) and Portal Settings."""
    topic = "Database (REFLEX_DB_URL)"
    url = db.database_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        return [Finding(PROBLEM, topic, "is not a database URL (like sqlite:///portal.db or "
                                        "postgresql://user:password@host/dbname)"), _not_checked()]
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        trouble = _sqlite_file_trouble(url)
        if trouble:
            return [Finding(PROBLEM, topic, trouble), _not_checked()]
    elif backend != "postgresql":
        return [Finding(PROBLEM, topic, f"{backend} is not supported: use SQLite or PostgreSQL"), _not_checked()]
    engine = create_engine(db.driver_url(url), poolclass=NullPool, connect_args=_connect_args(backend))
    try:
        with engine.connect() as connection:
            found = [Finding(OK, topic, f"{_shown_database(parsed, url)} answers ({_version(connection, backend)})")]
            found += _guarded("Migrations", migrations, connection)
            if backend == "postgresql":
                found += _guarded("Collation", _collation, connection)
            found += _guarded("Portal Settings", _portal_settings, connection)
            return found
    except SQLAlchemyError as error:
        return [Finding(PROBLEM, topic, _unreachable(parsed, url, error)), _not_checked()]
    finally:
        engine.dispose()


def database_down(error: SQLAlchemyError) -> str:
    """One line for the app's log when the database does not answer at start (no traceback)."""
    url = db.database_url()
    parsed = make_url(url)
    return scrub(f"Database {_shown_database(parsed, url)} does not answer: {_unreachable(parsed, url, error)}")


def _not_checked() -> Finding:
    return Finding(NOTE, "Migrations and Portal Settings", "not checked (no database to read)")


def _connect_args(backend: str) -> dict[str, object]:
    return {"connect_timeout": TIMEOUT_S} if backend == "postgresql" else {"timeout": TIMEOUT_S}


def _sqlite_where(url: str) -> Path | None:
    path = sqlite_path(url)
    return None if path is None else path if path.is_absolute() else Path.cwd() / path


def _sqlite_file_trouble(url: str) -> str | None:
    """Why the SQLite file cannot be the app's database, checked before connecting (which would create it)."""
    where = _sqlite_where(url)
    if where is None:
        return "an in-memory SQLite database keeps nothing: name a file (sqlite:////srv/portal/portal.db)"
    if not where.parent.is_dir():
        return f"the folder {where.parent} does not exist"
    if not where.is_file():
        return (f"no database at {where} (a relative path is read from the folder the command runs in): "
                f"`{INIT}` creates and migrates it")
    return None


def _shown_database(parsed: URL, url: str) -> str:
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {_sqlite_where(url)}"
    return f"PostgreSQL {parsed.render_as_string(hide_password=True)}"


def _version(connection: Connection, backend: str) -> str:
    if backend == "sqlite":
        return f"SQLite {connection.execute(text('SELECT sqlite_version()')).scalar_one()}"
    return f"PostgreSQL {str(connection.execute(text('SHOW server_version')).scalar_one()).split()[0]}"


def _unreachable(parsed: URL, url: str, error: SQLAlchemyError) -> str:
    """One plain line for a connection that failed (the driver's words only when none fits)."""
    detail = str(getattr(error, "orig", None) or error).strip()
    said = detail.lower()
    if parsed.get_backend_name() == "sqlite":
        where = _sqlite_where(url)
        if "not a database" in said:
            return f"{where} is not a SQLite database file"
        return f"cannot open {where}: {detail.splitlines()[0] if detail else type(error).__name__}"
    place = f"{parsed.host or 'the local socket'}{f':{parsed.port}' if parsed.port else ''}"
    refused = f"nothing answers at {place}: is PostgreSQL running, and on that port?"
    unknown_host = f"the host name {parsed.host} is not known"
    credentials = f"PostgreSQL at {place} refused the user name or password (user {parsed.username})"
    readings: list[tuple[tuple[str, ...], str]] = [  # (words all in the driver's message, what it means)
        (("password authentication failed",), credentials),
        (("no password supplied",), credentials),
        (("database", "does not exist"),
         f"PostgreSQL at {place} has no database {parsed.database}: create it with `{CREATEDB} {parsed.database}`"),
        (("role", "does not exist"), f"PostgreSQL at {place} has no user {parsed.username}"),
        (("connection refused",), refused),
        (("no such file or directory",), refused),
        (("timeout",), f"no answer from {place} within {TIMEOUT_S} s"),
        (("timed out",), f"no answer from {place} within {TIMEOUT_S} s"),
        (("failed to resolve host",), unknown_host),
        (("translate host name",), unknown_host),
        (("name or service not known",), unknown_host),
    ]
    reading = next((reading for words, reading in readings if all(word in said for word in words)), None)
    if reading is not None:
        return reading
    first = detail.splitlines()[0] if detail else type(error).__name__
    return f"cannot connect to PostgreSQL at {place}: {first}"


def _guarded(topic: str, check: Callable[[Connection], list[Finding]], connection: Connection) -> list[Finding]:
    """One check's findings, or one PROBLEM line when the database would not answer its query."""
    try:
        return check(connection)
    except SQLAlchemyError as error:
        connection.rollback()  # (PostgreSQL refuses every later query of a failed transaction)
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        return [Finding(PROBLEM, topic, f"could not be read: {detail[0] if detail else type(error).__name__}")]


def alembic_script() -> ScriptDirectory:
    """The migration scripts (alembic/versions), as `db.migrate` applies them."""
    config = Config(str(db.ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(db.ROOT / "alembic"))
    return ScriptDirectory.from_config(config)


def migrations(connection: Connection) -> list[Finding]:
    """Whether the database's migrations are at this version's head (also after a restore)."""
    topic = "Migrations"
    script = alembic_script()
    head = script.get_current_head()
    current = MigrationContext.configure(connection).get_current_heads()
    if not current:
        return [Finding(PROBLEM, topic, f"the database has no schema yet: `{INIT}` migrates it")]
    if current == (head,):
        return [Finding(OK, topic, f"at the newest ({head})")]
    try:
        behind = sum(1 for _ in script.iterate_revisions(head, current[0]))  # (lower one excluded)
    except RevisionError:
        return [Finding(PROBLEM, topic, f"the database is at {', '.join(current)}, a migration this version of "
                                        "portal_app does not have (a newer version migrated it?): run that "
                                        "version, or restore a backup made for this one")]
    return [Finding(PROBLEM, topic, f"{behind} behind (the database is at {current[0]}, the newest is {head}): "
                                    f"`{INIT}` brings it up")]


def _collation(connection: Connection) -> list[Finding]:
    """PostgreSQL: the database compares text byte by byte (C), as name search and the lists' order expect."""
    topic = "Collation"
    version = int(connection.execute(text("SHOW server_version_num")).scalar_one())
    provider = "datlocprovider" if version >= 150000 else "'c'"  # (ICU databases came with 15)
    collate, kind = connection.execute(text(
        f"SELECT datcollate, {provider} FROM pg_database WHERE datname = current_database()")).one()
    if kind != "i" and str(collate).lower() in BYTE_ORDER_COLLATIONS:
        return [Finding(OK, topic, f"{collate}: text compares byte by byte, as name and email search expect")]
    name = f"ICU ({collate} for the rest)" if kind == "i" else collate
    database = connection.execute(text("SELECT current_database()")).scalar_one()
    return [Finding(PROBLEM, topic, f"{name}, not C: name and email searches and the lists' order compare text "
                                    f"byte by byte; make the database with `{CREATEDB} {database}` and move "
                                    "the data into it (pg_dump, pg_restore)")]


def _portal_settings(connection: Connection) -> list[Finding]:
    """The portal URL links in messages are built from, and (with Resend) the sender address."""
    row = connection.execute(select(PracticeSettings.portal_base_url, PracticeSettings.sender_address)
                             .where(PracticeSettings.id == 1)).first()
    if row is None:
        return [Finding(NOTE, "Portal Settings", "none yet: `python -m portal_app init` starts the portal URL "
                                                 "from PORTAL_BASE_URL")]
    found = [_settings_url(str(row[0]))]
    if os.environ.get("RESEND_API_KEY"):
        found.append(_sender(str(row[1])))
    return found


def _settings_url(value: str) -> Finding:
    topic = "Portal Settings' portal URL"
    where = "change it in Setup > Portal Settings"
    parts = urlsplit(value)
    if parts.scheme != "https":
        trying = ": fine for trying the app on this machine, but" if _is_local(value) else ","
        return Finding(PROBLEM, topic, f"{value} is not https{trying} the links in emails and texts are built "
                                       f"from it; {where}")
    env = _env_portal_url()
    if _origin(value) != _origin(env):
        return Finding(PROBLEM, topic, f"{value} is not on PORTAL_BASE_URL's address ({_origin(env)}): links in "
                                       f"messages would open pages whose websocket the app refuses; {where}")
    return Finding(OK, topic, f"{value}: links in messages lead to the HTTPS portal")


def _sender(address: str) -> Finding:
    topic = "Sender address"
    domain = address.rpartition("@")[2].lower()
    if not domain or domain in PLACEHOLDER_DOMAINS or domain.endswith((".example", ".invalid", ".test")):
        return Finding(PROBLEM, topic, f"{address or 'empty'}: Resend sends only from a domain verified with it; "
                                       "set the practice's address in Setup > Portal Settings")
    return Finding(OK, topic, f"{address} (Resend sends only if {domain} is verified there)")


# ---- Redis -------------------------------------------------------------------------------------

def _shown_redis(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username or ''}:***@" if parts.password else (f"{parts.username}@" if parts.username else "")
    query = "?..." if parts.query else ""  # (a password may ride in the query: ?password=...)
    return f"{parts.scheme}://{user}{host}{parts.path}{query}"


def redis(*, reflex: ReflexSettings | None) -> list[Finding]:
    """REFLEX_REDIS_URL: unset means one worker; set, Redis must answer and hold the tabs' state."""
    topic = "Redis (REFLEX_REDIS_URL)"
    url = os.environ.get("REFLEX_REDIS_URL", "").strip()
    mode = reflex.state_manager_mode if reflex is not None else None
    if not url:
        if mode == "redis":
            return [Finding(PROBLEM, topic, "not set, but the state manager is redis: the app would not start")]
        return [Finding(NOTE, topic, "not set: one worker (in-memory state); several workers need Redis")]
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return [Finding(PROBLEM, topic, "must start with redis://, rediss:// or unix:// (Reflex refuses it)")]
    shown = _shown_redis(url)
    trouble = _redis_ping(url)
    if trouble:
        return [Finding(PROBLEM, topic, f"{shown}: {trouble}")]
    found = [Finding(OK, topic, f"{shown} answers")]
    if mode is not None and mode != "redis":
        found.append(Finding(PROBLEM, "State manager", f"{mode}, not redis (rxconfig.py's state_manager_mode): "
                                                       "each worker would keep its own tabs; set "
                                                       "REFLEX_STATE_MANAGER_MODE=redis"))
    return found


def _redis_ping(url: str) -> str | None:
    """Why Redis at `url` does not answer PING, or None (redis-py comes with Reflex, which uses it)."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.exceptions import AuthenticationError, RedisError, ResponseError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout
    from redis.retry import Retry

    try:
        client = Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S,
                                retry=Retry(NoBackoff(), 0))
    except ValueError as error:
        return f"not a Redis URL ({error})"
    try:
        client.ping()
    except AuthenticationError:
        return "Redis refused the password (or wants one: redis://:PASSWORD@host:port)"
    except RedisTimeout:
        return f"no answer within {TIMEOUT_S} s"
    except RedisConnectionError:
        return "nothing answers there: is Redis running, and on that port?"
    except ResponseError as error:
        return f"Redis answered PING with an error: {str(error).splitlines()[0]}"
    except RedisError as error:
        return f"Redis did not answer PING ({type(error).__name__})"
    finally:
        client.close()
    return None


# ---- the other settings of the README's table ----------------------------------------------------

def office_networks_setting() -> Finding:
    topic = "Office networks (PORTAL_OFFICE_NETWORKS)"
    try:
        networks = office_networks.networks()
    except ValueError as error:
        return Finding(PROBLEM, topic, f"does not parse: {error}; write addresses or networks separated by "
                                       "commas (203.0.113.7/32, 10.20.0.0/16); the app would fail at sign-in")
    if not networks:
        return Finding(NOTE, topic, "none: every address has its own sign-in throttle and send limits (an "
                                    "office whose staff share one public address may want it here)")
    if any(network.prefixlen == 0 for network in networks):
        return Finding(PROBLEM, topic, "includes every address (/0): no address would have its own sign-in "
                                       "throttle or send limits")
    return Finding(OK, topic, ", ".join(str(network) for network in networks))


def tab_sweep() -> Finding | None:
    """PORTAL_TAB_SWEEP_SECONDS, when set (state/phi.py ignores a value that is not a number)."""
    topic = "Tab sweep (PORTAL_TAB_SWEEP_SECONDS)"
    raw = os.environ.get("PORTAL_TAB_SWEEP_SECONDS", "")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return Finding(PROBLEM, topic, f"{raw!r} is not a number of seconds: the app ignores it and looks every 60 s")
    if not math.isfinite(seconds):
        return Finding(PROBLEM, topic, f"{raw!r}: tabs whose session ended would never be cleared")
    return Finding(OK, topic, f"open tabs are looked at every {max(1.0, seconds):g} s")


def import_folder() -> Finding:
    """PORTAL_IMPORT_DIR (or its default): there, or can be made, by this user."""
    topic = "Import folder (PORTAL_IMPORT_DIR)"
    folder = import_files.configured_folder()
    if folder.exists():
        if not folder.is_dir():
            return Finding(PROBLEM, topic, f"{folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            return Finding(PROBLEM, topic, f"{folder}: this user cannot write there, so uploads would fail")
        return Finding(OK, topic, f"{folder} (kept 0700)")
    parent = next((p for p in folder.parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK | os.X_OK):
        return Finding(PROBLEM, topic, f"{folder} does not exist and this user cannot make it, so uploads would fail")
    return Finding(OK, topic, f"{folder} (made 0700 at the first upload)")


def tracebacks() -> Finding | None:
    if os.environ.get("PORTAL_LOG_TRACEBACKS") != "1":
        return None
    return Finding(NOTE, "Tracebacks (PORTAL_LOG_TRACEBACKS)", "1: failed events log whole tracebacks; that is "
                                                               "for a developer, unset it in production")
