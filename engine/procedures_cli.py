"""``kaohe procedures``: the procedure library from the command line (list, export, import, check, diff, publish,
migrate)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli import _engine, _reports_errors
from .clock import local
from .engine import FORMS_LIBRARY
from .errors import NotFound, ValidationError
from .procedure import bundle, drafts, library, problems, versions


@click.group()
def procedures() -> None:
    """The procedure library: variants, versions and drafts (the same as /admin/procedures)."""


@procedures.command("list")
@_reports_errors
def procedures_list() -> None:
    """Each variant with its parent, versions (current, campaigns, running instances) and open drafts."""
    with _engine().store.read() as session:
        entries = library.overview(session)
        for entry in entries:
            click.echo(f"{entry.variant}  {entry.title}" + (f"  (derived from {entry.parent})" if entry.parent else ""))
            for v in entry.versions:
                click.echo(f"  v{v.number}{' *' if v.current else '  '} {local(v.at):%Y-%m-%d %H:%M} "
                           f"{v.author or '-':<10} {v.content_hash[:12]} campaigns {v.campaigns}, running "
                           f"{v.running}  {v.comment or ''}".rstrip())
            for d in entry.drafts:
                click.echo(f"  draft {d.id} by {d.owner}, revision {d.revision}, saved by {d.saved_by} "
                           f"{local(d.saved_at):%Y-%m-%d %H:%M}  {d.comment}".rstrip())
    click.echo("* current: new campaigns start on it")


def _source(session, variant: str | None, number: int | None, draft_id: int | None):
    if draft_id is not None:
        return drafts.get(session, draft_id)
    if variant is None:
        raise ValidationError("请给出流程代号或 --draft (give a VARIANT or --draft ID)")
    return library.version(session, variant, number) if number else versions.current_version(session, variant)


@procedures.command("export")
@click.argument("variant", required=False)
@click.option("--version", "number", type=int, help="That version (default: the current one).")
@click.option("--draft", "draft_id", type=int, help="A draft instead of a version.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="A .zip file, or a folder (new or empty) to write the files into.")
@_reports_errors
def procedures_export(variant: str | None, number: int | None, draft_id: int | None, out: Path) -> None:
    """Write a version or a draft to a folder or a .zip."""
    with _engine().store.read() as session:
        row = _source(session, variant, number, draft_id)
        files, label = dict(row.files), row.variant
        packed = drafts.zip_bytes(row) if out.suffix.lower() == ".zip" else None
    if packed is not None:
        out.write_bytes(packed)
    else:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValidationError(f"{out} 已存在且不是空文件夹 (exists and is not an empty folder)")
        for name, text in files.items():
            target = out / drafts.clean_name(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    click.echo(f"{label}: {len(files)} files -> {out}")


@procedures.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--comment", default="", help="Why (shown on the draft).")
@click.option("--as", "actor", default="admin", show_default=True, help="Who owns the draft (for the audit log).")
@_reports_errors
def procedures_import(source: Path, comment: str, actor: str) -> None:
    """Make a draft from a bundle SOURCE (a folder or a .zip), of the variant its bundle.yaml names."""
    engine = _engine()
    if source.is_dir():
        files = bundle.read_folder(source, engine.forms_library)
    else:
        files = drafts.unzip(source.read_bytes())
    with engine.store.write() as session:
        row = drafts.create_from_files(session, files, actor, engine.clock.now(), comment)
        draft_id, key = row.id, row.variant
    click.echo(f"{key}: draft {draft_id} ({len(files)} files); next: kaohe procedures check {draft_id}")


@procedures.command("check")
@click.argument("target")
@_reports_errors
def procedures_check(target: str) -> None:
    """Every problem of a draft (its id), a bundle folder or a bundle .zip, by file; exits 1 on an error."""
    path = Path(target)
    if path.is_dir():
        found = problems.check_all(bundle.read_folder(path, FORMS_LIBRARY))
    elif path.is_file() and path.suffix.lower() == ".zip":
        files = drafts.unzip(path.read_bytes())
        for form in sorted(FORMS_LIBRARY.glob("*.json")):  # as a folder's are, by read_folder
            files.setdefault(f"forms/{form.name}", form.read_text(encoding="utf-8"))
        found = problems.check_all(files)
    elif target.isdigit():
        engine = _engine()
        with engine.store.read() as session:
            found = drafts.findings(drafts.get(session, int(target)), engine.runner.script_engine.environment.globals)
    else:
        raise NotFound(f"没有草稿、文件夹或 .zip {target} (no draft, folder or .zip {target})")
    for file, group in problems.by_file(found):
        click.echo(file or "（整个流程包） (the bundle)")
        for f in group:
            where = f"{f.line or '-'}" + (f" [{f.element}]" if f.element else "")
            kind = "错误 error" if f.severity == "error" else "警告 warning"
            click.echo(f"  {where} {kind}: {f.reason}")
    count = len(problems.errors(found))
    warnings = len(found) - count
    click.echo(f"{count} 个错误 (errors), {warnings} 个警告 (warnings)" if found else "没有问题 (no problems)")
    if count:
        sys.exit(1)


@procedures.command("publish")
@click.argument("draft_id", type=int)
@click.option("--comment", required=True, help="What changed and why.")
@click.option("--as", "actor", default="admin", show_default=True, help="Who publishes (for the audit log).")
@_reports_errors
def procedures_publish(draft_id: int, comment: str, actor: str) -> None:
    """Publish a draft as a new version, current for new campaigns (running ones stay on theirs)."""
    version = drafts.publish(_engine(), draft_id, comment, actor)
    click.echo(f"{version.variant}: version {version.version} published and current ({version.content_hash[:12]})")


@procedures.command("diff")
@click.argument("before", metavar="A")
@click.argument("after", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@_reports_errors
def procedures_diff(before: str, after: str, as_json: bool) -> None:
    """What B changes from A, element by element. Each is a bundle folder or .zip, a version (VARIANT:NUMBER,
    VARIANT for its current one, or a version id) or a draft (draft:ID)."""
    from .procedure import diff
    from .procedure.diff import sources

    def side(ref: str):
        if Path(ref).exists():
            return sources.path_source(Path(ref), _library())
        with _engine().store.read() as session:
            return sources.find(session, ref)

    old, new = side(before), side(after)
    result = diff.compare(old.files, new.files)
    if as_json:
        click.echo(json.dumps({"from": old.label, "to": new.label, **result}, ensure_ascii=False, indent=2))
        return
    for line in diff.report.lines(result, old.label, new.label):
        click.echo(line)


def _library() -> Path:
    from .engine import FORMS_LIBRARY

    return FORMS_LIBRARY


@procedures.command("migrate")
@click.argument("campaign_id", metavar="CAMPAIGN", type=int)
@click.option("--to", "to_version", type=int, help="Version number to move to (default: the current one).")
@click.option("--instance", "instances", type=int, multiple=True, help="Only this instance (repeat).")
@click.option("--dry-run", is_flag=True, help="Only say which instances can move and why the others cannot.")
@click.option("--as", "actor", default="admin", show_default=True, help="Who migrates (for the audit log).")
@_reports_errors
def procedures_migrate(campaign_id: int, to_version: int | None, instances: tuple[int, ...], dry_run: bool,
                       actor: str) -> None:
    """Move CAMPAIGN's running instances to a newer version of its procedure; exit 1 if any was refused."""
    from .procedure import migration

    engine = _engine()
    if dry_run:
        plan = migration.preview(engine, campaign_id, to_version, list(instances) or None)
    else:
        plan = migration.migrate(engine, actor, campaign_id, to_version, list(instances) or None)
    click.echo(f"{plan.variant} → 第 {plan.to_version} 版 (version {plan.to_version})"
               + ("（预览 dry run）" if dry_run else ""))
    for row in plan.rows:
        where = row.region_name or row.region or "考核实例 (campaign instance)"
        verdict = {"migrated": "已迁移 migrated", "refused": "未迁移 refused"}.get(
            row.outcome, "可迁移 can move" if row.migratable else "不可迁移 cannot move")
        click.echo(f"  #{row.instance_id} {where} v{row.from_version}: {verdict}"
                   + "".join(f"\n      {reason}" for reason in row.reasons))
    refused = sum(not r.migratable and r.status == "running" for r in plan.rows)  # an ended one has nothing to do
    movable = sum(r.migratable for r in plan.rows)
    click.echo(f"可迁移 {movable}，不可迁移 {refused} ({movable} can move, {refused} running cannot)")
    if refused:
        sys.exit(1)
