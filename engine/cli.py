"""The ``kaohe`` command: set up, deploy, launch campaigns, work tasks, simulate a procedure."""

from __future__ import annotations

import json
import logging
import sys
from functools import wraps
from pathlib import Path

import click

from . import bootstrap, config
from .engine import Engine
from .errors import KaoheError, NotFound, ValidationError
from .running import deadlines
from .store import Store
from .store.migrate import is_current

logger = logging.getLogger(__name__)


def _engine(ready: bool = True) -> Engine:
    """The engine on the configured database; ``ready``: refuse a database ``kaohe init`` has not set up."""
    store = Store(config.database_url())
    if ready and not is_current(store):
        raise KaoheError("数据库尚未初始化或不是最新结构，请先运行 kaohe init (the database is not set up, or not "
                         "migrated to this version of Kaohe: run `kaohe init` first)")
    return Engine(store)


def _reports_errors(command):
    """Print a KaoheError as one clear line on stderr and exit 2, without a traceback."""

    @wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KaoheError as exc:
            click.echo(f"错误 ({exc.code}): {exc.message}", err=True)
            for error in getattr(exc, "errors", []):
                click.echo(f"  - {error.get('field') or '表单'}: {error['message']}", err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a fault of ours: one line for the operator, the traceback only with -v
            logger.info("%s failed", command.__name__, exc_info=True)
            click.echo(f"内部错误 (internal error): {type(exc).__name__}: {exc}；加 -v 可见详情 (-v shows details)",
                       err=True)
            sys.exit(1)

    return run


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the engine does.")
def main(verbose: bool) -> None:
    """Kaohe 考核: quality work assessment procedures run as BPMN."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--no-demo", is_flag=True, help="Do not create the demo accounts.")
@_reports_errors
def init(no_demo: bool) -> None:
    """Create or migrate the database, deploy the bundled procedures, load regions and demo users."""
    engine = _engine(ready=False)
    report = bootstrap.init(engine, demo=not no_demo)
    click.echo(f"数据库: {config.database_url()}")
    for line in report.deployed:
        click.echo(f"已部署 deployed: {line}")
    click.echo(f"新增地区 regions added: {report.regions}")
    if report.users:
        click.echo(f"演示账号 demo accounts (password {bootstrap.DEMO_PASSWORD}): "
                   + ", ".join(name for name, _ in report.users))


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--as", "actor", default="admin", show_default=True, help="Who deploys (for the audit log).")
@click.option("--make-current", is_flag=True,
              help="When an older version has the same content, make it current again.")
@click.option("--accounts", "create_accounts", is_flag=True,
              help="Give each region without one an account for its assessed government (no password yet).")
@_reports_errors
def deploy(folder: Path, actor: str, make_current: bool, create_accounts: bool) -> None:
    """Check a process bundle FOLDER, deploy it as the current version and load its regions."""
    from .procedure.deployment import deploy as deploy_folder

    engine = _engine()
    report = deploy_folder(engine, folder, actor=actor, make_current=make_current, create_accounts=create_accounts)
    version, key = report.version, report.version.variant
    if report.created:
        click.echo(f"{key}: 已部署 deployed version {version.version} ({version.content_hash[:12]}), now current")
    elif report.previous != version.version == report.current:
        click.echo(f"{key}: 未变 unchanged, same content as version {version.version}, made current again "
                   f"(was version {report.previous})")
    elif report.current == version.version:
        click.echo(f"{key}: 未变 unchanged, same content as version {version.version}, the current one")
    else:
        click.echo(f"{key}: 未变 unchanged, same content as version {version.version}; "
                   f"the current version stays {report.current}. `kaohe publish {key} {version.version}` "
                   f"(or deploy again with --make-current) makes it current")
    click.echo(f"新增地区 regions added: {len(report.regions_added)}"
               + "".join(f"\n  {code} {name}" for code, name in report.regions_added))
    if report.regions_kept:
        click.echo(f"保留管理员所改 kept as edited (name or variant differs from regions.yaml): "
                   f"{', '.join(report.regions_kept)}")
    click.echo(f"考核对象 regions of {key}: {report.regions_total}")
    if report.accounts_created:
        click.echo(f"新建被考核账号 accounts created (no password yet): {', '.join(report.accounts_created)}")
    steps = []
    if not report.regions_total:
        steps.append(f"kaohe regions import FILE --variant {key}   (没有考核对象 no regions to assess yet)")
    if report.without_account:
        steps.append(f"{len(report.without_account)} 个考核对象没有账号 regions have no account: "
                     f"kaohe deploy {folder} --accounts, or /admin/users")
    if report.accounts_created:
        steps.append("为新账号设置密码 set the new accounts' passwords at /admin/users")
    steps.append(f"kaohe campaign start {key} --year YEAR")
    click.echo("下一步 next:" + "".join(f"\n  {step}" for step in steps))
    for warning in deadlines.holiday_warnings(engine.calendar, version.manifest, engine.clock.now()):
        click.echo(f"警告 warning: {warning}", err=True)
    for finding in report.warnings:
        click.echo(f"警告 warning: {finding}", err=True)


@main.command()
@click.argument("variant")
@click.argument("number", metavar="VERSION", type=int)
@click.option("--as", "actor", default="admin", show_default=True, help="Who publishes (for the audit log).")
@_reports_errors
def publish(variant: str, number: int, actor: str) -> None:
    """Make VERSION of VARIANT the current one: new campaigns start on it."""
    from .procedure import versions

    engine = _engine()
    with engine.store.write() as session:
        row, previous = versions.publish(session, variant, number, actor, engine.clock.now())
        click.echo(f"{variant}: version {row.version} is current (was {previous})")


@main.group()
def regions() -> None:
    """The assessed regions, 管委会 and departments of each variant."""


@regions.command("list")
@click.option("--variant", help="Only this variant's regions.")
@_reports_errors
def regions_list(variant: str | None) -> None:
    """List the regions: code, name, variant."""
    from .people import regions as region_table

    with _engine().store.read() as session:
        rows = region_table.listing(session, variant)
    for row in rows:
        click.echo(f"{row.code:<12} {row.name:<20} {row.region_set}")
    click.echo(f"{len(rows)} regions")


@regions.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--variant", help="The variant of rows that name none (when the file has no variant column).")
@click.option("--as", "actor", default="admin", show_default=True)
@_reports_errors
def regions_import(file: Path, variant: str | None, actor: str) -> None:
    """Add or update the regions in FILE (.csv or .xlsx): all of them, or none if a row is wrong."""
    from .people import regions as region_table

    engine = _engine()
    with engine.store.write() as session:
        report = region_table.import_file(session, file.name, file.read_bytes(), variant, actor, engine.clock.now())
    click.echo(f"新增 added {len(report.added)}, 修改 changed {len(report.changed)}, "
               f"未变 unchanged {len(report.unchanged)}")


@regions.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--variant", help="Only this variant's regions.")
@_reports_errors
def regions_export(file: Path, variant: str | None) -> None:
    """Write the regions to FILE (.csv or .xlsx, by its name), in the columns an import reads."""
    from .errors import ValidationError as Invalid
    from .people import regions as region_table

    with _engine().store.read() as session:
        rows = region_table.listing(session, variant)
    if file.suffix.lower() not in (".csv", ".xlsx"):
        raise Invalid(f"{file.name}: 只能导出 .csv 或 .xlsx (export writes .csv or .xlsx)")
    file.write_bytes(region_table.to_xlsx(rows) if file.suffix.lower() == ".xlsx" else region_table.to_csv(rows))
    click.echo(f"{len(rows)} regions written to {file}")


@main.group()
def campaign() -> None:
    """Assessment campaigns."""


@campaign.command("start")
@click.argument("variant")
@click.option("--year", type=int, required=True, help="First calendar year of the assessment year.")
@click.option("--region", "regions", multiple=True, help="Region code (repeat); default: all of the variant's.")
@click.option("--as", "actor", default="admin", show_default=True)
@click.option("--shift-days", type=click.IntRange(0, 366), default=0, help="Move the procedure's fixed deadlines.")
@_reports_errors
def campaign_start(variant: str, year: int, regions: tuple[str, ...], actor: str, shift_days: int) -> None:
    """Launch a campaign of VARIANT for an assessment year."""
    from .running.campaign_guards import check_start

    engine = _engine()
    with engine.store.read() as session:
        check = check_start(session, engine, variant, year, list(regions) or None, engine.clock.now(), shift_days)
    if check.problems:
        raise ValidationError("；".join(check.problems))
    if check.passed:  # the operator is told, not stopped: a past year may be entered on purpose
        click.echo("警告 warning: 以下期限已过 (these deadlines have passed): "
                   + "；".join(f"{step} {day}" for step, day in check.passed) + "（可用 --shift-days N 顺延）",
                   err=True)
    started = engine.start_campaign(variant, year, list(regions) or None, actor=actor, deadline_shift_days=shift_days)
    click.echo(f"campaign {started.id}: {variant} {started.label}, {len(started.regions)} regions")


@main.command()
@click.option("--role")
@click.option("--region")
@click.option("--campaign", "campaign_id", type=int)
@click.option("--as", "username", help="Only tasks this user may do.")
@click.option("--json", "as_json", is_flag=True)
@_reports_errors
def tasks(role, region, campaign_id, username, as_json) -> None:
    """List ready tasks."""
    rows = _engine().tasks(role=role, region=region, campaign_id=campaign_id, username=username)
    items = [{"id": t.id, "instance": t.instance_id, "campaign": t.campaign_id, "task": t.bpmn_id,
              "name": t.name, "role": t.role, "region": t.region, "unit": t.unit, "form": t.form,
              "due_at": t.due_at.isoformat() if t.due_at else None} for t in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for item in items:
        click.echo(f"{item['id']}  {item['name']:<12}  {item['role']:<16} {item['region'] or '-':<7} "
                   f"{item['unit'] or '-':<8} instance {item['instance']}")
    click.echo(f"{len(items)} tasks")


@main.command()
@click.argument("task_id")
@click.option("--as", "username", required=True, help="The user who submits.")
@click.option("--data", "payload", required=True, help="Form data as JSON, or @file.json.")
@_reports_errors
def complete(task_id: str, username: str, payload: str) -> None:
    """Complete TASK_ID with form data."""
    if payload.startswith("@"):
        payload = Path(payload[1:]).read_text(encoding="utf-8")
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--data 不是合法的 JSON (not JSON): {exc.msg} at column {exc.colno}") from exc
    done = _engine().complete(task_id, data, username)
    click.echo(f"completed {task_id}; instance {done.instance_id} is {done.status}; "
               f"{len(done.next_tasks)} tasks ready in it")


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option("--anchor", metavar="ID:HASH",
              help="A head printed by an earlier verify and kept elsewhere: it must still be in the log.")
@_reports_errors
def audit_verify(anchor: str | None) -> None:
    """Recompute the audit log's hash chain; name the first broken link and exit 1 if one is."""
    from .records import audit as audit_log

    expected = None
    if anchor is not None:
        entry_id, _, digest = anchor.partition(":")
        if not entry_id.isdigit() or len(digest) != 64:
            raise click.BadParameter("应为 ID:HASH (expected ID:HASH, as verify prints the head)",
                                     param_hint="--anchor")
        expected = (int(entry_id), digest)
    store = _engine().store
    try:
        with store.read() as session:
            report = audit_log.verify(session, expected)
    finally:
        store.dispose()
    if report.broken is not None:
        click.echo(f"审计日志被篡改 (audit log tampered with): entry {report.broken.id}: {report.broken.reason}",
                   err=True)
        click.echo(f"{report.entries} entries verified before it", err=True)
        sys.exit(1)
    head = f"{report.head_id}:{report.head_hash}" if report.head_id is not None else "none"
    click.echo(f"审计日志完整 (audit log intact): {report.entries} entries; head {head}")


@main.command()
@click.option("--link-base", default="", envvar="KAOHE_PUBLIC_URL",
              help="The web app's address, for links in reminders (e.g. https://kaohe.example.gov.cn).")
@_reports_errors
def scheduler(link_base: str) -> None:
    """Run timers, reminders, escalation and mail as a process of its own (Ctrl-C or SIGTERM stops it)."""
    import signal
    import threading

    from .records import mail
    from .running.scheduler import Scheduler

    settings = mail.SmtpSettings.from_env()
    if settings is None:
        click.echo("SMTP 未配置 (set KAOHE_SMTP_HOST): mail stays queued; in-app notices still go out", err=True)
    running = Scheduler(_engine(), mailer=mail.Mailer(settings) if settings else None, link_base=link_base)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    running.start()
    click.echo(f"scheduler running on {config.database_url()}; next due: {running.next_due() or 'nothing'}")
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.shutdown()


@main.command()
@click.argument("variant")
@click.option("--year", type=int, required=True)
@click.option("--regions", "region_count", type=click.IntRange(1), help="Assess only the first N regions "
              "(more than the bundle lists: made-up regions 模拟地区1, 2, … are added).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_reports_errors
def simulate(variant: str, year: int, region_count: int | None, seed: int, as_json: bool) -> None:
    """Run a whole campaign of VARIANT (a shipped variant or a bundle folder) with scripted actors."""
    from .running.simulate import run_simulation

    result = run_simulation(variant, year, regions=region_count, seed=seed)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for event in result["timeline"]:
        click.echo(f"{event['at'][:10]}  {event['event']}")
    click.echo("")
    for region in result["regions"]:
        veto = "  否决项 veto" + (f"（{'、'.join(region['veto_items'])}）" if region["veto_items"] else "") \
            if region["veto"] else ""
        outcome = f"  {'，'.join(region['outcome'])}" if region["outcome"] else ""
        click.echo(f"{region['rank']:>3}  {region['region']} {region['name']:<12} {region['score']:>7}  "
                   f"{region['grade'] or ''}{veto}{outcome}")
    for warning in result["warnings"]:
        click.echo(f"警告 warning: {warning}", err=True)


@main.group()
def sample() -> None:
    """Random draws (draw_sample in a procedure) and their audit records."""


@sample.command("verify")
@click.argument("audit_id", type=click.IntRange(1))
@_reports_errors
def sample_verify(audit_id: int) -> None:
    """Draw again from the seed and population an audit record keeps, and compare with the sample it recorded."""
    from .running.sampling import redraw
    from .store.models import AuditEntry

    with _engine().store.read() as session:
        entry = session.get(AuditEntry, audit_id)
    if entry is None or entry.action != "sample_draw":
        raise NotFound(f"审计记录 {audit_id} 不是随机抽取 (audit entry {audit_id} is not a random draw)")
    again = redraw(entry.data)
    click.echo(f"种子 seed {entry.data['seed']}；{entry.data['k']}/{len(entry.data['population'])}；"
               f"{entry.at:%Y-%m-%d %H:%M} UTC，流程实例 instance {entry.instance_id}")
    click.echo(f"记录的样本 recorded: {' '.join(entry.data['sample'])}")
    click.echo(f"重新抽取 drawn again: {' '.join(again)}")
    if again != entry.data["sample"]:
        click.echo("不一致：记录的样本不是该种子抽出的 (MISMATCH: the recorded sample is not what the seed draws)",
                   err=True)
        sys.exit(1)
    click.echo("一致 (the same)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--demo", is_flag=True, help="Initialise the database, add demo campaigns and list the demo accounts.")
@click.option("--scheduler/--no-scheduler", default=True, envvar="KAOHE_EMBEDDED_SCHEDULER", show_default=True,
              help="Run timers, reminders and mail in this process (off when `kaohe scheduler` runs beside it).")
@click.option("--processes", type=click.IntRange(1, 64), default=1, envvar="KAOHE_PROCESSES", show_default=True,
              help="Serving processes sharing the port (Linux); about one per CPU core for heavy use.")
@click.option("--threads", type=click.IntRange(1, 256), default=8, envvar="KAOHE_THREADS", show_default=True,
              help="Request threads per process.")
@click.option("--worker-socket", type=int, hidden=True)
@click.option("--worker-notify", type=int, hidden=True)
@click.option("--worker-parent", type=int, hidden=True)
@_reports_errors
def serve(host: str, port: int, demo: bool, scheduler: bool, processes: int, threads: int,
          worker_socket: int | None, worker_notify: int | None, worker_parent: int | None) -> None:
    """Run the web app (waitress) on HOST:PORT."""
    from web import serve as web_serve  # only this command loads the web app: engine/ never imports Flask

    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every wake-up at INFO
    # "Task queue depth is 12": a warning for every request that waits for a free thread, i.e. one line per
    # request under load (2% of the CPU under 20 clients), telling nothing a slow page does not.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # SpiffWorkflow logs every task's state change at INFO: a dozen lines per submission, 6% of a serving
    # process's time under 20 clients (docs/benchmarks.md). `kaohe -v serve` keeps them.
    if not click.get_current_context().find_root().params.get("verbose"):
        logging.getLogger("spiff").setLevel(logging.WARNING)
    if worker_socket is not None:
        web_serve.worker(worker_socket, worker_notify, worker_parent, threads)
        return
    web_serve.run(host, port, demo, threads=threads, scheduler=scheduler, processes=processes)


from .procedures_cli import procedures  # noqa: E402 - it takes _engine and _reports_errors from this module

main.add_command(procedures)
