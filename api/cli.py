"""``billing-agent``: the command line. A composition root like ``api.main``: it
reads settings and builds what each command needs.

Every command has ``--help``; expected failures print one clear line on stderr
and exit non-zero (2 for bad input or configuration, 1 for anything else).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from api.settings import Settings
from tools.errors import BillingError

EXIT_USAGE = 2


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    if getattr(args, "policy_file", None):
        overrides["policy_file"] = args.policy_file
    if getattr(args, "forwarded_allow_ips", None) is not None:
        overrides["forwarded_allow_ips"] = args.forwarded_allow_ips
    return Settings(**overrides)


def settings_error_line(exc: ValidationError) -> str:
    """A refused configuration in one line: which setting and why, never the value (it may be a
    secret)."""
    parts = []
    for err in exc.errors():
        name = "BILLING_" + "_".join(str(p) for p in err.get("loc", ())).upper() if err.get("loc") else ""
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{name}: {msg}" if name else msg)
    return "invalid settings: " + "; ".join(parts)


# --------------------------------------------------------------------------- seed


async def _seed(args: argparse.Namespace) -> int:
    from migrations import migrate_service
    from tools.db import create_engine
    from tools.demo import generate_practice
    from tools.platforms.ledger import LedgerPlatform, is_empty, migrate, reset

    settings = _settings(args)
    if args.patients < 1:
        raise BillingError("--patients must be at least 1")
    started = time.perf_counter()
    if args.reset:
        await reset(settings.database_url)
    await migrate(settings.database_url)
    await migrate_service(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        if not await is_empty(engine):
            if args.if_empty:
                print("demo practice already loaded; nothing to do")
                return 0
            raise BillingError("the database already holds a practice: use --reset to replace it")
        data = generate_practice(patients=args.patients, seed=args.seed)
        await LedgerPlatform(engine).bulk_load(data)
    finally:
        await engine.dispose()
    elapsed = time.perf_counter() - started
    print(
        f"seeded {len(data.patients)} patients, {len(data.statements)} statements, "
        f"{len(data.claims)} claims in {elapsed:.2f} s"
    )
    return 0


# --------------------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)  # first: a refused setting fails at once, before the service's imports
    import uvicorn

    from api.main import create_app

    if args.outreach_interval is not None:
        settings = settings.model_copy(update={"outreach_interval_s": args.outreach_interval})
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    if args.workers != 1:
        from api.workers import serve_workers

        return serve_workers(settings, host, port, args.workers)
    uvicorn.run(
        create_app(settings, freeze_heap=True),
        host=host,
        port=port,
        log_config=None,
        # The app trusts X-Forwarded-* only from BILLING_FORWARDED_ALLOW_IPS (api.protection); uvicorn's
        # own default would believe any client connecting from 127.0.0.1.
        proxy_headers=False,
    )
    return 0


# --------------------------------------------------------------------------- staff


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise BillingError("the passwords do not match")
    if not password:
        raise BillingError("no password given")
    return password


async def _staff_create(args: argparse.Namespace) -> int:
    from api.staff import Role, StaffDirectory
    from migrations import migrate_service
    from tools.db import create_engine

    settings = _settings(args)
    password = _read_password(args)
    await migrate_service(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        staff = await StaffDirectory(engine).create(args.email, Role(args.role), password)
    finally:
        await engine.dispose()
    print(f"created staff account {staff.id} ({staff.email}, role {staff.role.value})")
    return 0


# --------------------------------------------------------------------------- chat


async def _chat(args: argparse.Namespace) -> int:
    import uuid

    from agent.events import HandoffEvent, MessageEvent, TokenEvent
    from api.container import build_gateway, open_agent
    from migrations import migrate_service
    from tools.db import create_engine
    from tools.errors import PatientNotFound
    from tools.platforms.ledger import LedgerPlatform, migrate
    from tools.platforms.models import Channel

    settings = _settings(args)
    await migrate(settings.database_url)
    await migrate_service(settings.database_url)
    engine = create_engine(settings.database_url)
    out = sys.stdout
    try:
        ledger = LedgerPlatform(engine)
        patient = await ledger.find_patient_by_portal_identity(args.patient)
        if patient is None:
            try:
                patient = await ledger.get_patient(args.patient)
            except PatientNotFound:
                raise PatientNotFound(
                    f"no demo patient {args.patient!r}: give a portal id (portal-1) or a patient id"
                ) from None
        channel = Channel(args.channel)
        if channel is Channel.SMS and patient.phone is None:
            raise BillingError(f"patient {args.patient} has no phone on file: use --channel portal")
        verified_id = patient.id if channel is Channel.PORTAL else None
        thread_id = f"cli-{uuid.uuid4().hex[:12]}"
        async with open_agent(settings, engine, ledger, build_gateway(settings, engine)) as agent:
            out.write(f"[{channel.value} conversation as {patient.first_name}; Ctrl-D to end]\n")
            while True:
                out.write("you> ")
                out.flush()
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    out.write("\n")
                    return 0
                out.write("agent> ")
                async for event in agent.turn(
                    thread_id,
                    line.rstrip("\n"),
                    channel=channel,
                    patient_id=verified_id,
                    phone=patient.phone if channel is Channel.SMS else None,
                    statement_id=args.statement,
                ):
                    if isinstance(event, TokenEvent):
                        out.write(event.text)
                        out.flush()
                    elif isinstance(event, MessageEvent) and event.suggested_replies:
                        out.write("\n   (try: " + " | ".join(event.suggested_replies) + ")")
                    elif isinstance(event, HandoffEvent):
                        out.write(f"\n   [handed to a person: ticket {event.ticket_id}, {event.reason}]")
                out.write("\n")
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- audit


async def _audit_verify(args: argparse.Namespace) -> int:
    from guardrails.audit import AuditTrail
    from migrations import migrate_service
    from tools.db import create_engine

    settings = _settings(args)
    await migrate_service(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        result = await AuditTrail(engine).verify()
    finally:
        await engine.dispose()
    if result.ok:
        print(f"audit trail intact: {result.count} entries, every hash chained")
        return 0
    print(
        f"billing-agent: audit trail BROKEN at entry {result.first_bad_seq} ({result.count} entries read)",
        file=sys.stderr,
    )
    return 1


# --------------------------------------------------------------------------- outreach


def _outreach_simulate(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from agent.outreach.simulate import markdown_report, seeds_summary, simulate, to_json, write_chart

    began = time.perf_counter()
    policy = Path(args.policy) if args.policy else None
    result = simulate(days=args.days, patients=args.patients, seed=args.seed, policy_path=policy)
    main_s = time.perf_counter() - began
    seeds = None
    if args.seeds > 1:
        runs = [
            result
            if s == args.seed
            else simulate(days=args.days, patients=args.patients, seed=s, policy_path=policy)
            for s in range(1, args.seeds + 1)
        ]
        seeds = seeds_summary(runs)
        result["seeds"] = seeds
        result["seed_lifts"] = {str(r["seed"]): r["lift"] for r in runs}
    result["wall_s_one_seed"] = round(main_s, 2)
    chart = None
    if args.report_path:
        report = Path(args.report_path)
        report.parent.mkdir(parents=True, exist_ok=True)
        png = report.with_suffix(".png")
        write_chart(result, png)
        chart = png.name
        report.write_text(markdown_report(result, seeds, chart), encoding="utf-8")
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(to_json(result), encoding="utf-8")
    b, a = result["policies"]["baseline"], result["policies"]["agent"]
    print(
        f"patients={args.patients} days={args.days} seed={args.seed} wall_s={main_s:.1f} "
        f"collected_by_day_60: fixed={b['share_collected_by_day']['60']:.1%} "
        f"policy={a['share_collected_by_day']['60']:.1%} "
        f"lift_dollars_day_60={result['lift']['dollars_by_day_60']} "
        f"lift_staff_hours={result['lift']['staff_hours']}"
    )
    for name, c in result["calibration"].items():
        print(f"calibration {name}: {c['value']} target {c['target']} within_20%={c['within_20_percent']}")
    if seeds:
        print(f"seeds {seeds['seeds']}: lift_dollars_day_60={seeds['lift_dollars_by_day_60']}")
        print(f"seeds {seeds['seeds']}: lift_staff_hours={seeds['lift_staff_hours']}")
    return 0


async def _outreach_run(args: argparse.Namespace) -> int:
    import json

    from api.container import build_platform, close_platform
    from api.main import build_messaging
    from api.outreach import build_outreach, shipped_templates
    from api.routes.sms import status_callback_url
    from api.runtime.threads import Threads
    from guardrails.audit import AuditTrail
    from guardrails.policy import load_policy
    from migrations import migrate_service
    from tools.db import create_engine
    from tools.platforms.base import OutreachPlatform
    from tools.platforms.ledger import LedgerPlatform, migrate

    settings = _settings(args)
    policy = load_policy(settings.policy_file)
    await migrate(settings.database_url)
    await migrate_service(settings.database_url)
    engine = create_engine(settings.database_url)
    ledger = LedgerPlatform(engine)
    platform = build_platform(settings, ledger, engine)
    try:
        threads = Threads(engine)

        async def sms_thread(phone: str) -> str:
            return (await threads.get_or_create_sms(phone)).id

        outreach = build_outreach(
            settings,
            engine,
            platform if isinstance(platform, OutreachPlatform) else ledger,
            build_messaging(settings, status_callback=status_callback_url(settings)),
            AuditTrail(engine),
            policy,
            sms_thread,
            worker=f"cli-{time.time_ns()}",
        )
        await outreach.store.seed_templates(shipped_templates())
        started = time.perf_counter()
        decided = await outreach.decide_pass()
        decide_s = time.perf_counter() - started
        sent = await outreach.send_pass(max_steps=args.max_sends)
    finally:
        await close_platform(platform)
        await engine.dispose()
    report = {
        "decided_accounts": decided.accounts,
        "decide_seconds": round(decide_s, 3),
        "scheduled": decided.scheduled,
        "cancelled": decided.cancelled,
        "reasons": dict(sorted(decided.reasons.items())),
        "sent": sent.sent,
        "deferred": sent.deferred,
        "blocked": sent.blocked,
        "held_unapproved_template": sent.held,
        "cancelled_at_send": sent.cancelled,
        "uncertain": sent.uncertain,
        "failed": sent.failed,
    }
    print(
        json.dumps(report, indent=2)
        if args.json
        else " ".join(f"{k}={v}" for k, v in report.items() if k != "reasons")
    )
    return 0


async def _outreach_bounce(args: argparse.Namespace) -> int:
    """Record a bounce, a complaint or a renewed opt-in for an address (an operator reading a DSN, or a
    provider's console); the address is stored only as its keyed hash."""
    from migrations import migrate_service
    from tools.db import create_engine
    from tools.messaging.email_consent import EmailConsentStore

    settings = _settings(args)
    await migrate_service(settings.database_url)
    engine = create_engine(settings.database_url)
    action: Literal["hard_bounce", "soft_bounce", "complaint", "opt_in"] = (
        "opt_in"
        if args.opt_in
        else "complaint"
        if args.complaint
        else "soft_bounce"
        if args.soft
        else "hard_bounce"
    )
    try:
        store = EmailConsentStore(engine, settings.email_secret())
        await store.record(args.address, action, "command", detail=args.status)
        standing = await store.standing(args.address)
    finally:
        await engine.dispose()
    may = "may" if standing in ("opted_in", "unknown") else "may not"
    print(f"recorded {action}; the address is now {standing}; email {may} be sent to it")
    return 0


# --------------------------------------------------------------------------- bench


def _bench(args: argparse.Namespace) -> int:
    from bench.cli import main as bench_main  # measurement code, never imported by the product

    return bench_main(args.bench_args)


# --------------------------------------------------------------------------- platform check


async def _platform_check(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from sqlalchemy import select

    from api.container import build_platform, close_platform
    from tools.db import create_engine
    from tools.platforms.check import check_platform, report
    from tools.platforms.ledger import LedgerPlatform
    from tools.platforms.ledger.tables import PatientRow

    try:
        settings = _settings(args)
    except ValidationError as exc:
        raise BillingError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from exc
    engine = create_engine(settings.database_url)
    ledger = LedgerPlatform(engine)
    platform = build_platform(settings, ledger, engine)

    async def ledger_patients(limit: int) -> list[str]:
        async with engine.connect() as conn:
            return list(
                (await conn.scalars(select(PatientRow.id).order_by(PatientRow.id).limit(limit))).all()
            )

    sample = getattr(platform, "sample_patient_ids", None) or ledger_patients
    try:
        steps = await check_platform(platform, sample)
        print(report(platform, steps))
    finally:
        await close_platform(platform)
        await engine.dispose()
    return 0 if all(s.ok for s in steps) else 1


async def _platform_load_demo(args: argparse.Namespace) -> int:
    """The demo practice into the configured FHIR server (a sandbox: never a practice's real one)."""
    from api.container import build_platform, close_platform
    from tools.db import create_engine
    from tools.demo import generate_practice
    from tools.platforms.fhir import FhirPlatform
    from tools.platforms.fhir.loader import load_practice
    from tools.platforms.ledger import LedgerPlatform

    settings = _settings(args)
    engine = create_engine(settings.database_url)
    platform = build_platform(settings, LedgerPlatform(engine), engine)
    try:
        if not isinstance(platform, FhirPlatform):
            raise BillingError("load-demo needs BILLING_PLATFORM=fhir (a sandbox FHIR server)")
        data = generate_practice(patients=args.patients, seed=args.seed)
        if settings.fhir_practice_id and settings.fhir_practice_id != data.practice.id:
            raise BillingError(f"set BILLING_FHIR_PRACTICE_ID={data.practice.id} for the demo practice")
        platform.http.policy.timeout_s = max(platform.http.policy.timeout_s, 120)  # one large transaction
        written = await load_practice(platform.http, data)
        print(f"loaded {written} FHIR resources ({args.patients} patients) into {settings.fhir_base_url}")
    finally:
        await close_platform(platform)
        await engine.dispose()
    return 0


def _platform_bench(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from bench.platform_latency import Options, render, run

    if args.turns < 1 or args.latency_ms < 0:
        raise BillingError("--turns must be at least 1 and --latency-ms at least 0")
    figures = asyncio.run(run(Options(latency_ms=args.latency_ms, turns=args.turns, patients=args.turns)))
    print(render(figures))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


# --------------------------------------------------------------------------- eval


def _eval(args: argparse.Namespace) -> int:
    from agent.phrasing import Phraser
    from agent.understanding.base import Understander
    from api.container import build_phraser, build_understander
    from evals.cli import main as eval_main
    from tools.platforms.base import BillingPlatform

    settings = Settings()
    if not (settings.llm_base_url and (settings.llm_understanding_model or settings.llm_model)):
        return eval_main(args.eval_args)

    def factory(platform: BillingPlatform) -> Understander:
        return build_understander(settings, platform)

    def phraser(platform: BillingPlatform) -> Phraser | None:  # None: no phrasing model configured
        return build_phraser(settings, platform)

    # The factories are used by ``--engine llm`` only; the local engine ignores them.
    return eval_main(args.eval_args, understander_factory=factory, phraser_factory=phraser)


# --------------------------------------------------------------------------- calibrate


async def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.understanding.calibrate import Sample, collect, local_reader, report, spread
    from agent.understanding.llm import LlmUnderstander
    from agent.understanding.local import LocalUnderstander
    from api.container import build_understander
    from evals.task import Answer, Turn, load_tasks
    from tools.db import create_engine
    from tools.platforms.ledger import LedgerPlatform

    settings = _settings(args)
    engine = create_engine(settings.database_url)  # the eval lines name no patient: never queried
    try:
        model = build_understander(settings, LedgerPlatform(engine))
        if not isinstance(model, LlmUnderstander):
            print(
                "billing-agent: calibrate needs BILLING_LLM_BASE_URL and BILLING_LLM_MODEL", file=sys.stderr
            )
            return EXIT_USAGE
        samples: dict[tuple[str, str | None], Sample] = {}
        for task in load_tasks():
            if task.split != "dev":
                continue  # the blind test split is never used to fit anything
            turns: list[tuple[Turn | Answer, str | None]] = [
                (t, None) for t in (task.script.opening, *task.script.turns)
            ]
            turns += [(a, key) for key, answers in task.script.answers.items() for a in answers]
            for turn, expecting in turns:
                if turn.intent is None or expecting == "identity":
                    continue  # identity answers never go to the model
                for text in turn.say:
                    if "{" not in text:  # lines with the patient's values filled in at run time
                        samples[(text, expecting)] = Sample(text, turn.intent, expecting)
        chosen = spread(list(samples.values()), args.limit)
        local = await collect(local_reader(LocalUnderstander.default()), chosen)
        raw = await collect(model.read_raw, chosen)
    finally:
        await engine.dispose()
    result = report(local, raw)
    out = Path(args.out) if args.out else settings.llm_calibration_file or Path("var/llm_calibration.json")
    result.calibration.save(out)
    print(result.render())
    print(f"written to {out} (set BILLING_LLM_CALIBRATION_FILE={out})")
    return 0


def _passthrough(argv: list[str]) -> argparse.Namespace | None:
    """``eval``'s and ``bench``'s options belong to their runners: hand them over untouched."""
    if argv[:1] == ["eval"]:
        return argparse.Namespace(handler=_eval, eval_args=argv[1:])
    if argv[:1] == ["bench"]:
        return argparse.Namespace(handler=_bench, bench_args=argv[1:])
    return None


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="billing-agent",
        description="Patient Billing Agent: explains medical bills and collects payment.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--database-url", help="ledger database URL (default: BILLING_DATABASE_URL or var/)")

    seed = sub.add_parser("seed", help="generate the demo practice into the ledger")
    common(seed)
    seed.add_argument("--patients", type=int, default=200, help="number of patients (default 200)")
    seed.add_argument("--seed", type=int, default=7, help="random seed (same seed, same practice)")
    seed.add_argument("--reset", action="store_true", help="drop everything first")
    seed.add_argument("--if-empty", action="store_true", help="do nothing when a practice is already loaded")
    seed.set_defaults(handler=_seed)

    serve = sub.add_parser("serve", help="run the API, the demo portal and the staff console")
    common(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--policy-file", help="practice policy YAML")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes on the port, each with a connection queue of its own (default 1; more need "
        "PostgreSQL)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="comma-separated proxy addresses or networks whose X-Forwarded-For is believed "
        "(default: BILLING_FORWARDED_ALLOW_IPS, else none: the TCP peer is the client)",
    )
    serve.add_argument(
        "--outreach-interval",
        type=float,
        default=30.0,
        help="seconds between outreach passes run by the service (default 30; 0: none)",
    )
    serve.set_defaults(handler=_serve)

    outreach = sub.add_parser("outreach", help="the agent speaks first: dunning over SMS, staff call tasks")
    outreach_sub = outreach.add_subparsers(dest="outreach_command", required=True, metavar="ACTION")
    outreach_run = outreach_sub.add_parser(
        "run", help="one pass: decide for every account changed since the last pass, then send what is due"
    )
    common(outreach_run)
    outreach_run.add_argument("--policy-file", help="practice policy YAML")
    outreach_run.add_argument("--max-sends", type=int, default=None, help="stop after this many steps")
    outreach_run.add_argument("--json", action="store_true", help="print the report as JSON")
    outreach_run.set_defaults(handler=_outreach_run)
    bounce = outreach_sub.add_parser(
        "bounce", help="record a bounce or complaint for an email address (no more email to it), or an opt-in"
    )
    common(bounce)
    bounce.add_argument("address", help="the email address")
    kind = bounce.add_mutually_exclusive_group()
    kind.add_argument("--hard", action="store_true", help="a hard bounce (the default): no more email")
    kind.add_argument("--soft", action="store_true", help="a soft bounce: recorded, email continues")
    kind.add_argument("--complaint", action="store_true", help="a spam complaint: no more email")
    kind.add_argument(
        "--opt-in", action="store_true", help="the patient asked again, or the address was fixed"
    )
    bounce.add_argument("--status", help="the DSN status, e.g. 5.1.1")
    bounce.set_defaults(handler=_outreach_bounce)
    simulate = outreach_sub.add_parser(
        "simulate", help="a simulated practice: the fixed reminder sequence against the outreach policy"
    )
    simulate.add_argument("--days", type=int, default=90)
    simulate.add_argument("--patients", type=int, default=10_000)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument(
        "--seeds", type=int, default=5, help="also run seeds 1..N for the lift's spread (0: off)"
    )
    simulate.add_argument("--policy", help="practice policy YAML (default: the shipped policy)")
    simulate.add_argument("--json", dest="json_path", help="write the JSON report here")
    simulate.add_argument(
        "--report", dest="report_path", help="write the Markdown report (and a PNG beside it)"
    )
    simulate.set_defaults(handler=_outreach_simulate)

    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", help="re-compute the hash chain; exit 1 if any entry was altered")
    common(verify)
    verify.set_defaults(handler=_audit_verify)

    staff = sub.add_parser("staff", help="manage staff accounts of the console")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    staff_create = staff_sub.add_parser("create", help="create a staff account (password from a prompt)")
    common(staff_create)
    staff_create.add_argument("--email", required=True, help="the staff member's e-mail (their login)")
    staff_create.add_argument(
        "--role", required=True, choices=["agent", "manager", "admin"], help="agent, manager or admin"
    )
    staff_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    staff_create.set_defaults(handler=_staff_create)

    chat = sub.add_parser("chat", help="a terminal conversation with the agent as a demo patient")
    common(chat)
    chat.add_argument("--patient", required=True, help="portal id (portal-1) or patient id (pat-00001)")
    chat.add_argument("--channel", choices=["portal", "sms"], default="portal", help="default portal")
    chat.add_argument("--statement", help="statement id the patient is looking at (portal)")
    chat.add_argument("--policy-file", help="practice policy YAML")
    chat.set_defaults(handler=_chat)

    # ``bench`` owns its options (``bench.cli.parser``), like ``eval`` below.
    bench = sub.add_parser(
        "bench",
        add_help=False,
        help="measure the agent against the bare LangGraph floor (see `billing-agent bench --help`)",
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=_bench)

    platform = sub.add_parser("platform", help="the practice's billing platform (BILLING_PLATFORM)")
    platform_sub = platform.add_subparsers(dest="platform_command", required=True)
    platform_check = platform_sub.add_parser(
        "check",
        help="connect with the configured settings, read the practice, a page of patients and one statement, "
        "and say what works; exits 1 when a read fails",
    )
    common(platform_check)
    platform_check.set_defaults(handler=_platform_check)
    load_demo = platform_sub.add_parser(
        "load-demo", help="write the demo practice into the configured FHIR server (a sandbox such as sekmet)"
    )
    common(load_demo)
    load_demo.add_argument("--patients", type=int, default=20, help="number of patients (default 20)")
    load_demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    load_demo.set_defaults(handler=_platform_load_demo)
    platform_bench = platform_sub.add_parser(
        "bench",
        help="balance questions on a local FHIR server with injected latency: platform calls per turn and "
        "turn latency (needs sekmet: make install)",
    )
    platform_bench.add_argument(
        "--latency-ms", type=float, default=100, help="added to every call (default 100)"
    )
    platform_bench.add_argument("--turns", type=int, default=40, help="conversations (default 40)")
    platform_bench.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    platform_bench.set_defaults(handler=_platform_bench)

    calibrate = sub.add_parser(
        "calibrate", help="fit the LLM's confidence map on the eval set's labeled turns; report ECE"
    )
    calibrate.add_argument("--out", help="where to write the map (default BILLING_LLM_CALIBRATION_FILE)")
    calibrate.add_argument("--limit", type=int, help="use at most this many turns, spread over the set")
    calibrate.set_defaults(handler=_calibrate)

    # The eval runner owns its options (``evals.cli.parser``); they are parsed there so
    # that plain commands do not import the whole agent just to print their help.
    evaluate = sub.add_parser(
        "eval",
        add_help=False,
        help="run the eval suite; exits non-zero when a gate fails (see `billing-agent eval --help`)",
    )
    evaluate.add_argument("eval_args", nargs=argparse.REMAINDER)
    evaluate.set_defaults(handler=_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _passthrough(argv) or build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int | Coroutine[Any, Any, int]] = args.handler
    try:
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
    except BillingError as exc:
        print(f"billing-agent: error: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"billing-agent: error: {settings_error_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    assert isinstance(result, int)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
