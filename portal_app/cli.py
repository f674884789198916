"""Command line: `python -m portal_app init | create-staff | reset-two-step | demo | outbox | adoption-rebuild |
access-rules | adt-listen | import | audit verify | check | backup | restore`."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
import time
from pathlib import Path

from sqlalchemy import event
from sqlmodel import select

from portal_app import db
from portal_app.models import BulkJob, PracticeSettings, StaffUser, ident
from portal_app.services import (
    access_rules,
    audit,
    audit_chain,
    backups,
    bulk,
    demo,
    demo_adoption,
    demo_portal,
    deployment,
    outbox,
    permissions,
    second_factor,
    settings,
    staff_auth,
)
from portal_app.services.adoption import facts
from portal_app.services.errors import DomainError
from portal_app.services.importing import jobs as import_jobs


def _create_staff(args: argparse.Namespace) -> int:
    password = args.password
    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            print("The passwords do not match.", file=sys.stderr)
            return 2
    with db.session_scope() as session:
        try:
            user = staff_auth.create_staff(session=session, username=args.username, full_name=args.name,
                                           password=password, role=args.role,
                                           must_change_password=args.must_change)
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 2
    print(f"Created staff user {user.username} ({args.role}).")
    return 0


def _reset_two_step(args: argparse.Namespace) -> int:
    """For the last administrator who lost their phone and recovery codes (audited as the command line)."""
    with db.session_scope() as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == args.username.strip().lower())).first()
        if user is None:
            print("No staff user has that username.", file=sys.stderr)
            return 2
        username = user.username
        done = second_factor.reset_staff(session=session, staff_user_id=ident(user), actor=audit.Actor.system())
    print(f"{username} sets up two-step verification again at next sign-in." if done
          else f"{username} had no two-step verification set up; nothing changed.")
    return 0


def _demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with db.session_scope() as session:
        count = demo.generate(session=session, count=args.patients)
        stuck = demo_adoption.generate(session=session)
    print(f"Added {count} demo patients in {time.perf_counter() - started:.1f} s "
          f"({stuck} with an onboarding history for the adoption board).")
    return 0


def _outbox(args: argparse.Namespace) -> int:
    with db.session_scope() as session:
        for message in reversed(outbox.latest(session=session, limit=args.last)):
            channel = "letter (PDF attached)" if message.channel == "letter" else message.channel
            print(f"--- #{message.id} {channel} {message.status.value} to {message.to_address}"
                  f" at {message.created_at:%Y-%m-%d %H:%M}")
            print(f"Subject: {message.subject}")
            if message.error:
                print(f"Error: {message.error}")
            print(message.body_text)
            print()
    return 0


def _adoption_rebuild(_args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with db.session_scope() as session:
        count = facts.rebuild_all(session)
    print(f"Rebuilt the adoption rows of {count} charts in {time.perf_counter() - started:.1f} s.")
    return 0


def _adt_listen(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from portal_app import adt_listener  # (asyncio and the hl7 library only for this command)

    if not 0 <= args.port <= 65535 or args.idle_timeout <= 0:
        print("--port must be 0-65535 and --idle-timeout more than 0.", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(adt_listener.serve(args.host, args.port, idle_timeout=args.idle_timeout))
    except OSError as error:  # the port is taken, or the address is not this machine's
        print(f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


def _access_rules(_args: argparse.Namespace) -> int:
    """The daily run of the no-visit rule (Portal Settings' months; 0 = off)."""
    started = time.perf_counter()
    with db.session_scope() as session:
        run = access_rules.apply_inactivity(session=session, actor=audit.Actor.system("access rules (daily)"))
    print(f"{run.summary()} ({time.perf_counter() - started:.1f} s)")
    return 0


def _audit_verify(_args: argparse.Namespace) -> int:
    """`audit verify`: walk the audit log's hash chain; exit 1 at the first broken link."""
    started = time.perf_counter()
    with db.engine().connect() as connection:
        verdict = audit_chain.verify(connection)
    if not verdict.ok:
        print(verdict.message, file=sys.stderr)
        return 1
    print(f"{verdict.message} ({time.perf_counter() - started:.1f} s)")
    if verdict.head:
        print(f"Newest chain value (note it elsewhere to detect rows cut off the end later): {verdict.head}")
    return 0


def _check(_args: argparse.Namespace) -> int:
    """`check`: one line per deployment setting (OK / PROBLEM / note); exit 1 on any PROBLEM."""
    reflex, trouble = _reflex_settings()
    findings = ([trouble] if trouble else []) + deployment.run_checks(reflex=reflex)
    for finding in findings:
        print(deployment.scrub(finding.line))
    count = deployment.problems(findings)
    if count:
        print(f"{count} problem{'s' if count > 1 else ''}: a deployment needs {'them' if count > 1 else 'it'} "
              "fixed (notes are for information).")
        return 1
    print("Everything a deployment needs is right.")
    return 0


def _backup(args: argparse.Namespace) -> int:
    """`backup FILE`: the database, consistent while the app runs (services/backups.py)."""
    try:
        backups.backup(Path(args.file))
    except DomainError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Backed up to {args.file}. It holds patient data: keep it encrypted and access-controlled.")
    return 0


def _restore(args: argparse.Namespace) -> int:
    """`restore FILE [--force]`: replace the database with a backup; then say whether it needs `init`."""
    try:
        findings = backups.restore(Path(args.file), force=args.force)
    except DomainError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Restored from {args.file}.")
    for finding in findings:
        print(deployment.scrub(finding.line))
    return 1 if deployment.problems(findings) else 0


def _reflex_settings() -> tuple[deployment.ReflexSettings | None, deployment.Finding | None]:
    """The state manager and proxy hops the app would run with: rxconfig.py, read afresh (it reads the
    REFLEX_* variables as it loads), and Reflex's own rule that REFLEX_REDIS_URL picks the redis state
    manager unless the config names one (reflex/istate/manager StateManager.create)."""
    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location("_rxconfig_check", db.ROOT / "rxconfig.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config = module.config
    except Exception as error:  # any failure here is the app's start failing: say so in one line
        words = str(error).strip().splitlines()
        return None, deployment.Finding(deployment.PROBLEM, "Reflex settings (rxconfig.py, REFLEX_*)",
                                        f"do not load, so the app would not start: "
                                        f"{words[0] if words else type(error).__name__}")
    mode = str(getattr(config.state_manager_mode, "value", config.state_manager_mode))
    if "state_manager_mode" not in getattr(config, "_non_default_attributes", ()) and config.redis_url:
        mode = "redis"
    return deployment.ReflexSettings(state_manager_mode=mode, trusted_proxy_hops=config.trusted_proxy_hops), None


def _import(args: argparse.Namespace) -> int:
    """`import FILE`: the same counts and refused rows as the import page (a dry run changes nothing)."""
    mapping: dict[str, str] = {}
    for item in args.map or []:
        field, sep, column = item.partition("=")
        if not sep:
            print(f"--map {item!r}: write it as field=column (for example chart_number=MRN).", file=sys.stderr)
            return 2
        mapping[field.strip()] = column.strip()
    actor = audit.Actor.system("command line import")
    _import_process()
    with db.session_scope() as session:
        try:
            view = import_jobs.create_job(session=session, actor=actor, file_name=args.file,
                                          stored_path=args.file, file_size=os.path.getsize(args.file))
            if args.format and (args.format == "csv") != (view.file_format == "csv"):
                print(f"{args.file} is {view.format_label}, not {args.format.upper()}.", file=sys.stderr)
                return 2
            if view.file_format == "csv":
                chosen = set(mapping.values())  # a column named here is not also guessed for another field
                guessed = {field: column for field, column in view.mapping if column not in chosen}
                print("Columns: " + "; ".join(f"{field}={column}" for field, column in {**guessed, **mapping}.items()))
                import_jobs.save_mapping(session=session, job_id=view.id, mapping={**guessed, **mapping}, actor=actor)
            run = import_jobs.dry_run if args.dry_run else import_jobs.run_import
            view = run(session=session, job_id=view.id, actor=actor)
        except (DomainError, OSError) as exc:
            print(exc.message if isinstance(exc, DomainError) else str(exc), file=sys.stderr)
            return 2
        print(f"{view.format_label}: {view.total} rows")
        print(view.summary)
        if view.error:
            print(view.error, file=sys.stderr)
        for row in import_jobs.refusals(session=session, job_id=view.id, dry_run=args.dry_run,
                                        page_size=1_000_000).rows:
            print(f"  line {row.line} ({row.chart_number or 'no chart number'}): {row.detail}")
    return 1 if view.status == import_jobs.FAILED else 0


def _import_process() -> None:
    """This process only imports: its SQLite connections get `jobs.IMPORT_PRAGMAS`."""

    def tune(dbapi_connection, _record) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            for pragma in import_jobs.IMPORT_PRAGMAS:
                dbapi_connection.execute(pragma)

    event.listen(db.engine(), "connect", tune)


def _run_import_job(args: argparse.Namespace) -> int:
    """The worker process of `jobs.run_in_own_process`: work one existing job."""
    _import_process()
    if hasattr(os, "nice"):
        # Below the server's priority: the scheduler serves a staff click's thread first.
        os.nice(import_jobs.IMPORT_NICENESS)
    actor = audit.Actor(args.actor, staff_user_id=args.staff_id or None, label=args.label, ip=args.ip)
    with db.session_scope() as session:
        if args.dry_run:
            view = import_jobs.dry_run(session=session, job_id=args.job_id, actor=actor)
        else:
            view = import_jobs.run_import(session=session, job_id=args.job_id, actor=actor,
                                          batch=import_jobs.SHARED_BATCH, pause=import_jobs.SHARED_PAUSE)
    if view.status == import_jobs.RUNNING:
        return import_jobs.LEFT_ALONE
    return 1 if view.status == import_jobs.FAILED else 0


def _run_bulk_job(args: argparse.Namespace) -> int:
    """The worker process of `bulk.run_in_own_process`: work one bulk "Enable and invite" job."""
    if hasattr(os, "nice"):
        os.nice(bulk.NICENESS)  # below the server's priority: a staff click's thread goes first
    actor = audit.Actor("staff", staff_user_id=args.staff_id or None, label=args.label, ip=args.ip)
    with db.session_scope() as session:
        job = session.get(BulkJob, args.job_id)
        if job is None or job.status != bulk.RUNNING:
            return bulk.LEFT_ALONE
        server = os.getppid()
        # Stop between chunks if the server that started this process has gone (its lease is
        # released: a server still running picks the job up, or the next one to start).
        view = bulk.run_job(session=session, job_id=args.job_id, actor=actor,
                            keep_going=lambda: os.getppid() == server)
    if view.status == bulk.RUNNING:
        return bulk.LEFT_ALONE
    return 1 if view.status == bulk.FAILED else 0


def _init(args: argparse.Namespace) -> int:
    """Migrate; on an empty database load demo data and create the first administrator."""
    db.migrate()
    with db.session_scope() as session:
        facts.backfill(session, commit=True)  # charts from before the adoption board, once
        permissions.ensure_built_in_roles(session=session)
        fresh = session.get(PracticeSettings, 1) is None
        config = settings.get(session=session)
        # The address links in messages are built from. A new database starts from the
        # PORTAL_BASE_URL the app runs with (rxconfig.py); staff may change it later in
        # Portal Settings, and only an explicit --base-url overrides that afterwards.
        base_url = args.base_url or (os.environ.get("PORTAL_BASE_URL", "") if fresh else "")
        base_url = base_url.strip().rstrip("/")
        if base_url and config.portal_base_url != base_url:
            config.portal_base_url = base_url
            session.add(config)
        session.commit()
        demo_activity = False  # (the onboarding histories come after the administrator: they start them)
        if args.demo_patients and demo.patient_count(session=session) == 0:
            demo.generate(session=session, count=args.demo_patients)
            print(f"Loaded {args.demo_patients} demo patients.")
            if args.demo_activity:
                filed = demo_portal.generate(session=session)
                print(f"Added demo portal accounts, a family, and {filed} items in the Patient Portal queue.")
                demo_activity = True
        if session.exec(select(StaffUser)).first() is None:
            password = args.admin_password or secrets.token_urlsafe(12)
            staff_auth.create_staff(session=session, username=args.admin_username,
                                    full_name="Practice Administrator", password=password,
                                    must_change_password=args.admin_password is None,
                                    check_strength=False)
            print("=" * 64)
            print("First administrator created. This password is shown only once:")
            print(f"  username: {args.admin_username}")
            print(f"  password: {password}")
            if args.admin_password is None:
                print("You will be asked to choose a new password at first sign-in.")
            print("=" * 64)
        if demo_activity:
            print(f"Added onboarding histories to {demo_adoption.generate(session=session)} demo charts "
                  "(the adoption board's stuck and finished patients).")
    return 0


def _add_feed_commands(commands) -> None:
    """The commands that bring charts in from the EHR: the ADT listener and file imports."""
    listen = commands.add_parser("adt-listen", help="receive the EHR's HL7 v2 ADT feed over MLLP")
    listen.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    listen.add_argument("--port", type=int, default=2575)
    listen.add_argument("--idle-timeout", type=float, default=60.0,
                        help="seconds a silent connection stays open (default 60)")
    listen.set_defaults(run=_adt_listen)

    importing = commands.add_parser("import", help="import patients from a CSV or FHIR file")
    importing.add_argument("file")
    importing.add_argument("--format", choices=("csv", "fhir"), default=None,
                           help="refuse the file unless it is this format (detected from the content)")
    importing.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                           help="CSV: the column for one of our fields (repeatable); the rest are guessed")
    importing.add_argument("--dry-run", action="store_true", help="count and list refusals; change nothing")
    importing.set_defaults(run=_import)

    worker = commands.add_parser("run-import-job")  # (for jobs.run_in_own_process; not listed)
    worker.add_argument("job_id", type=int)
    worker.add_argument("--actor", default="staff")
    worker.add_argument("--staff-id", type=int, default=0)
    worker.add_argument("--label", default="")
    worker.add_argument("--ip", default="")
    worker.add_argument("--dry-run", action="store_true")
    worker.set_defaults(run=_run_import_job)

    bulk_worker = commands.add_parser("run-bulk-job")  # (for bulk.run_in_own_process; not listed)
    bulk_worker.add_argument("job_id", type=int)
    bulk_worker.add_argument("--staff-id", type=int, default=0)
    bulk_worker.add_argument("--label", default="")
    bulk_worker.add_argument("--ip", default="")
    bulk_worker.set_defaults(run=_run_bulk_job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal_app")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="migrate, load demo data and create the first admin")
    init.add_argument("--demo-patients", type=int, default=300)
    init.add_argument("--no-demo-activity", dest="demo_activity", action="store_false",
                      help="demo patients only: no portal accounts or queue items")
    init.add_argument("--admin-username", default="admin")
    init.add_argument("--admin-password", default=None, help=argparse.SUPPRESS)
    init.add_argument("--base-url", default=None, help="the portal's public address")
    init.set_defaults(run=_init)

    staff = commands.add_parser("create-staff", help="create a staff user")
    staff.add_argument("--username", required=True)
    staff.add_argument("--name", required=True)
    staff.add_argument("--password", default=None, help="omit to be prompted")
    staff.add_argument("--role", default=permissions.ADMINISTRATOR,
                       choices=sorted(permissions.BUILT_IN_ROLES))
    staff.add_argument("--must-change", action="store_true")
    staff.set_defaults(run=_create_staff)

    two_step = commands.add_parser("reset-two-step", help="remove a staff user's two-step verification "
                                                          "(they set it up again at next sign-in)")
    two_step.add_argument("--username", required=True)
    two_step.set_defaults(run=_reset_two_step)

    demo_cmd = commands.add_parser("demo", help="add fake patients")
    demo_cmd.add_argument("--patients", type=int, default=300)
    demo_cmd.set_defaults(run=_demo)

    box = commands.add_parser("outbox", help="print recent messages with their links")
    box.add_argument("--last", type=int, default=10)
    box.set_defaults(run=_outbox)

    rebuild = commands.add_parser("adoption-rebuild",
                                  help="rebuild every chart's adoption row from the history tables")
    rebuild.set_defaults(run=_adoption_rebuild)

    rules = commands.add_parser("access-rules",
                                help="turn portal access off for charts with no visit for the set months (daily)")
    rules.set_defaults(run=_access_rules)

    audit_cmd = commands.add_parser("audit", help="audit log tools")
    audit_commands = audit_cmd.add_subparsers(dest="audit_command", required=True)
    audit_commands.add_parser("verify", help="check the audit log's hash chain; name the first broken link"
                              ).set_defaults(run=_audit_verify)

    _add_deployment_commands(commands)
    _add_feed_commands(commands)

    args = parser.parse_args(argv)
    if getattr(args, "patients", None) is not None and not 0 < args.patients <= 500_000:
        parser.error("--patients must be between 1 and 500000")
    return args.run(args)


def _add_deployment_commands(commands) -> None:
    """check, backup and restore (README "Deploying")."""
    commands.add_parser("check", help="verify a deployment's settings: HTTPS, email, database, migrations, "
                                      "Redis; exit 1 on any problem").set_defaults(run=_check)

    backup = commands.add_parser("backup", help="write the database to FILE (SQLite online backup or pg_dump -Fc)")
    backup.add_argument("file")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser("restore", help="replace the database with the backup FILE; refuses a database "
                                                  "with data unless --force")
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help="replace a database that holds data (stop the app)")
    restore.set_defaults(run=_restore)
