"""The commands both services have: ``models``, ``jobs``, ``health``, an upload collection
(``corpora``/``datasets``), and following a training job.

:func:`follow_job` draws the job's progress bar until it ends; Ctrl-C asks ``cancel job <id>?
[y/N]`` (on a terminal; with stdin not a terminal it cancels) and exits 130 either way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.cli import output
from service.cli.progress import JobBar, TransferBar
from service.client.results import Job

#: Exit statuses (documented in ``embattn --help``).
EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Interrupted(Exception):
    """Ctrl-C while following a job (after the cancel prompt); exits 130."""


def ask_cancel(job_id: str) -> bool:
    """Whether to cancel after a Ctrl-C: a ``[y/N]`` prompt on a terminal, else yes."""
    if not sys.stdin or not sys.stdin.isatty():
        return True
    try:
        answer = input(f"cancel job {job_id}? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def follow_job(client: Any, job_id: str, args: argparse.Namespace, label: str) -> Job:
    """Watch a job with a progress bar (none with ``--json``: one JSON line per update instead
    when ``stream_json``); returns the ended job. Ctrl-C: the cancel prompt, then :class:`Interrupted`."""
    bar = JobBar(label, enabled=not args.json)
    on_update = bar.update
    if args.json and getattr(args, "stream_json", False):

        def on_update(job: Job) -> None:
            output.print_json(job.raw)

    try:
        with bar:
            client.wait_job(job_id, on_update=on_update, interval=args.interval)
    except KeyboardInterrupt:
        bar.stop()
        if ask_cancel(job_id):
            try:
                job = client.cancel_job(job_id)
                output.error(f"job {job_id} {job.status}")
            except Exception as exc:  # noqa: BLE001 - it may have ended meanwhile
                output.error(f"could not cancel job {job_id}: {exc}")
        else:
            output.error(
                f"job {job_id} keeps running; follow it with: embattn {args.service} jobs watch {job_id}"
            )
        raise Interrupted from None
    return client.job(job_id)


def finish_training(client: Any, job: Job, args: argparse.Namespace) -> int:
    """After a training job: the model's metadata (exit 0), or the job's error (exit 1)."""
    if not job.succeeded:
        if args.json:
            output.print_json(job.raw)
        output.error(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        return EXIT_PROBLEM
    info = client.model(job.model)
    if args.json:
        output.print_json(info)
    else:
        output.fields(info.raw)
    return EXIT_OK


# --------------------------------------------------------------------------- models


def add_models_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "models", parents=parents, help="list models, show one, its versions, roll back, delete"
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", parents=parents, help="every model (the default)")
    show = actions.add_parser("show", parents=parents, help="one model's metadata")
    show.add_argument("name")
    versions = actions.add_parser("versions", parents=parents, help="a model's versions (* = current)")
    versions.add_argument("name")
    rollback = actions.add_parser(
        "rollback", parents=parents, help="serve VERSION from now on (roll back or forward)"
    )
    rollback.add_argument("name")
    rollback.add_argument("version", type=int)
    delete = actions.add_parser("delete", parents=parents, help="delete a model, or one version of it")
    delete.add_argument("name")
    delete.add_argument("--version", type=int, help="delete only this version (not the current one)")
    p.set_defaults(handler=run_models)


def run_models(client: Any, args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        models = client.models()
        if args.json:
            output.print_json(models)
        else:
            output.table(
                [[m.name, m.version, m.loaded, m.created] for m in models],
                ["NAME", "VERSION", "LOADED", "CREATED"],
            )
    elif action == "show":
        info = client.model(args.name)
        output.print_json(info) if args.json else output.fields(info.raw)
    elif action in ("versions", "rollback"):
        versions = (
            client.versions(args.name)
            if action == "versions"
            else client.set_current_version(args.name, args.version)
        )
        if args.json:
            output.print_json(versions)
        else:
            output.table(
                [
                    [("* " if v.current else "  ") + str(v.version), v.loaded, v.created]
                    for v in versions.versions
                ],
                ["VERSION", "LOADED", "CREATED"],
            )
    elif action == "delete":
        if args.version is not None:
            client.delete_version(args.name, args.version)
            what = f"version {args.version} of {args.name}"
        else:
            client.delete_model(args.name)
            what = f"model {args.name}"
        if args.json:
            output.print_json({"deleted": args.name, "version": args.version})
        else:
            print(f"deleted {what}")
    return EXIT_OK


# --------------------------------------------------------------------------- jobs


def add_jobs_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("jobs", parents=parents, help="list jobs, show, watch or cancel one")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", parents=parents, help="jobs, newest first (the default)")
    listing.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    listing.add_argument("--model")
    show = actions.add_parser("show", parents=parents, help="one job (with --json: its history too)")
    show.add_argument("job_id")
    watch = actions.add_parser(
        "watch", parents=parents, help="a progress bar until the job ends (--json: one JSON line per update)"
    )
    watch.add_argument("job_id")
    cancel = actions.add_parser("cancel", parents=parents, help="cancel a queued or running job")
    cancel.add_argument("job_id")
    cancel.add_argument(
        "--keep",
        choices=["nothing", "best"],
        default="nothing",
        help="best: stop training gracefully and publish the best checkpoint so far as a new version "
        "(attention training jobs; waits for the job to end)",
    )
    p.set_defaults(handler=run_jobs, status=None, model=None)


def _job_row(job: Job) -> list[Any]:
    return [job.id, job.model, job.status, f"{job.progress:.0%}", job.epoch, job.loss, job.created]


def run_jobs(client: Any, args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        jobs = client.jobs(status=args.status, model=args.model)
        if args.json:
            output.print_json(jobs)
        else:
            output.table(
                [_job_row(j) for j in jobs], ["ID", "MODEL", "STATUS", "PROGRESS", "EPOCH", "LOSS", "CREATED"]
            )
        return EXIT_OK
    if action == "show":
        job = client.job(args.job_id)
        output.print_json(job) if args.json else output.fields(job.raw, skip=("history", "request", "spec"))
        return EXIT_OK
    if action == "cancel":
        job = client.cancel_job(args.job_id, keep=args.keep)
        if args.keep == "best" and not job.ended:
            job = client.wait_job(job.id)
        output.print_json(job) if args.json else print(f"job {job.id} {job.status}")
        return EXIT_OK
    args.stream_json = True
    job = follow_job(client, args.job_id, args, f"job {args.job_id[:8]}")
    if not args.json:
        output.fields(job.raw, skip=("history", "request", "spec", "result"))
    return EXIT_OK if job.succeeded else EXIT_PROBLEM


# --------------------------------------------------------------------------- health


def add_health_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "health", parents=parents, help="is the service up (/healthz), or --ready to serve (/readyz)"
    )
    p.add_argument(
        "--ready", action="store_true", help="ask /readyz: exit 1 (a 503) while the service is not ready"
    )
    p.set_defaults(handler=run_health)


def run_health(client: Any, args: argparse.Namespace) -> int:
    body = client.ready() if args.ready else client.health()
    output.print_json(body) if args.json else output.fields(body)
    return EXIT_OK


# --------------------------------------------------------------------------- uploads


@dataclass(frozen=True)
class Uploads:
    """What differs between the embeddings' ``corpora`` and the attention's ``datasets``: the
    collection's and one item's names (the client's ``corpora``/``corpus``/``delete_corpus``…), the
    listing's columns, the upload's own options and the upload itself."""

    collection: str
    noun: str
    columns: list[str]
    #: ``add_upload_options(parser)``: the options of ``upload`` besides FILE and --name.
    add_upload_options: Callable[[argparse.ArgumentParser], None]
    #: ``upload(client, args, progress)``: the description of the uploaded file.
    upload: Callable[[Any, argparse.Namespace, Callable[[int, int | None], None]], dict[str, Any]]


def add_uploads_parser(sub: Any, parents: list[argparse.ArgumentParser], uploads: Uploads) -> None:
    """``corpora``/``datasets`` with ``list`` (the default), ``show ID``, ``upload FILE``, ``delete ID``."""
    noun, collection = uploads.noun, uploads.collection
    p = sub.add_parser(
        collection,
        parents=parents,
        help=f"list uploaded {collection}, show, upload (progress bar) or delete one",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", parents=parents, help=f"every uploaded {noun}, newest first (the default)")
    show = actions.add_parser("show", parents=parents, help=f"one {noun}'s description")
    show.add_argument("id")
    upload = actions.add_parser("upload", parents=parents, help=f"upload a local file as a {noun}")
    upload.add_argument("file", type=Path)
    upload.add_argument("--name", help=f"the {noun}'s id (else the service makes one up; 409 when taken)")
    uploads.add_upload_options(upload)
    upload.set_defaults(parser=upload)
    delete = actions.add_parser("delete", parents=parents, help=f"delete an uploaded {noun}")
    delete.add_argument("id")
    p.set_defaults(handler=run_uploads, uploads=uploads)


def run_uploads(client: Any, args: argparse.Namespace) -> int:
    uploads: Uploads = args.uploads
    action = args.action or "list"
    if action == "list":
        items = getattr(client, uploads.collection)()
        if args.json:
            output.print_json(items)
        else:
            output.table([[item.get(c.lower()) for c in uploads.columns] for item in items], uploads.columns)
    elif action == "show":
        info = getattr(client, uploads.noun)(args.id)
        output.print_json(info) if args.json else output.fields(info)
    elif action == "upload":
        if not args.file.is_file():
            args.parser.error(f"no such file: {args.file}")
        with TransferBar(f"upload {args.file.name}", enabled=not args.json) as bar:
            info = uploads.upload(client, args, bar)
        output.print_json(info) if args.json else output.fields(info)
    elif action == "delete":
        getattr(client, f"delete_{uploads.noun}")(args.id)
        if args.json:
            output.print_json({"deleted": args.id})
        else:
            print(f"deleted {uploads.noun} {args.id}")
    return EXIT_OK
