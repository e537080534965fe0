"""``embattn``: the command line of both services, built on :mod:`service.client`.

Commands are grouped by service: "embattn embeddings ..." (alias emb, e) and "embattn
attention ..." (alias att, a). Both services have train, models and jobs, which mean different
things on each, and each service has its own URL and token: the group says which service a
command talks to, and the rest of the line reads like that service's API.
"""

from __future__ import annotations

import argparse
import os
import sys

from service.catalog import SERVICES as CATALOG
from service.cli import attention, embeddings, output
from service.cli.shared import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Interrupted,
)
from service.client import AttentionClient, EmbeddingsClient
from service.client.jobs import JobTimeoutError
from service.client.problems import ProblemError, ServiceUnreachableError

SERVICES = {
    "embeddings": (
        EmbeddingsClient,
        "EMBATTN_EMBEDDINGS_URL",
        "EMBATTN_EMBEDDINGS_TOKEN",
        CATALOG["embeddings"].url,
    ),
    "attention": (
        AttentionClient,
        "EMBATTN_ATTENTION_URL",
        "EMBATTN_ATTENTION_TOKEN",
        CATALOG["attention"].url,
    ),
}

EPILOG = f"""\
environment:
  EMBATTN_EMBEDDINGS_URL    embeddings service URL (default {CATALOG["embeddings"].url})
  EMBATTN_ATTENTION_URL     attention service URL (default {CATALOG["attention"].url})
  EMBATTN_TOKEN             bearer token sent to either service (the services' *_API_TOKEN)
  EMBATTN_EMBEDDINGS_TOKEN, EMBATTN_ATTENTION_TOKEN   a token for one service (over EMBATTN_TOKEN)
  --url and --token override them.

exit status:
  0    ok
  1    the service answered a problem (its status and detail on stderr), or a job failed
  2    usage error
  3    cannot connect to the service
  130  interrupted (Ctrl-C)

examples:
  embattn embeddings train corpus.txt --name news --epochs 5 --min-count 2
  embattn embeddings similar news president --topn 5
  embattn embeddings export news news.bin && embattn embeddings import news-copy news.bin
  embattn attention train --task reversal --name rev --epochs 5
  embattn attention translate dates "26 november 2026" --heatmap dates.png
  embattn attention jobs watch JOB_ID
  embattn --json embeddings models list

Shortcuts: train, similar, analogy, vectors, import and export without a service are the
embeddings service's (embattn train corpus.txt --name mine); translate and align the attention
service's. models, jobs and attention's train need the service named.
"""


def _globals(defaults: bool) -> argparse.ArgumentParser:
    """The global options; on every subparser too (``default=SUPPRESS``) so they go anywhere."""
    p = argparse.ArgumentParser(add_help=False)
    kw = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--url", help="the service's base URL (else EMBATTN_<SERVICE>_URL, else localhost)", **kw)
    p.add_argument("--token", help="bearer token (else EMBATTN_<SERVICE>_TOKEN, else EMBATTN_TOKEN)", **kw)
    p.add_argument("--json", action="store_true", help="print the service's JSON (machine output)", **kw)
    p.add_argument("--timeout", type=float, help="HTTP timeout in seconds (default 60)", **kw)
    p.add_argument("--interval", type=float, help="seconds between job polls (default 0.5)", **kw)
    if defaults:
        p.set_defaults(json=False, interval=0.5)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The whole ``embattn`` parser."""
    parser = argparse.ArgumentParser(
        prog="embattn",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_globals(True)],
    )
    parents = [_globals(False)]
    groups = parser.add_subparsers(dest="service", metavar="SERVICE", required=True)
    for name, aliases, module in (
        ("embeddings", ["emb", "e"], embeddings),
        ("attention", ["att", "a"], attention),
    ):
        group = groups.add_parser(
            name,
            aliases=aliases,
            parents=parents,
            help=f"commands of the {name} service",
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        group.set_defaults(service=name)
        sub = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
        module.add_parsers(sub, parents)
    return parser


#: Commands that may come without their service: ``embattn train corpus.txt --name mine`` is
#: ``embattn embeddings train ...``; ``embattn translate dates "5/3/2026"`` is ``embattn attention ...``.
SHORTCUTS = {
    **dict.fromkeys(("train", "similar", "analogy", "vectors", "import", "export"), "embeddings"),
    **dict.fromkeys(("translate", "align"), "attention"),
}
_VALUED = {"--url", "--token", "--timeout", "--interval"}


def expand_shortcut(argv: list[str]) -> list[str]:
    """``argv`` with the service inserted before a command that came without one (:data:`SHORTCUTS`).

    >>> expand_shortcut(["--json", "train", "corpus.txt", "--name", "mine"])
    ['--json', 'embeddings', 'train', 'corpus.txt', '--name', 'mine']
    >>> expand_shortcut(["attention", "train", "--task", "dates"])
    ['attention', 'train', '--task', 'dates']
    """
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _VALUED:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return [*argv[:i], SHORTCUTS[arg], *argv[i:]] if arg in SHORTCUTS else list(argv)
    return list(argv)


def make_client(args: argparse.Namespace):
    """The service's client from ``--url``/``--token`` or the environment."""
    cls, url_var, token_var, default_url = SERVICES[args.service]
    url = args.url or os.environ.get(url_var) or default_url
    token = args.token or os.environ.get(token_var) or os.environ.get("EMBATTN_TOKEN") or None
    return cls(url, token=token, timeout=args.timeout)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see ``embattn --help``)."""
    parser = build_parser()
    argv = expand_shortcut(sys.argv[1:] if argv is None else list(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for a usage error
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    for opt in ("url", "token", "timeout"):
        if not hasattr(args, opt):
            setattr(args, opt, None)
    client = make_client(args)
    try:
        with client:
            return args.handler(client, args)
    except SystemExit as exc:  # a subparser's .error(): usage
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except ProblemError as exc:
        output.problem(exc, as_json=args.json)
        return EXIT_PROBLEM
    except ServiceUnreachableError as exc:
        output.unreachable(exc)
        return EXIT_UNREACHABLE
    except JobTimeoutError as exc:
        output.error(str(exc))
        return EXIT_PROBLEM
    except (Interrupted, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    except OSError as exc:  # a local file that cannot be read or written
        output.error(str(exc))
        return EXIT_PROBLEM if not isinstance(exc, FileNotFoundError) else EXIT_USAGE


def run() -> None:
    """The console script's entry point: ``sys.exit(main())``."""
    sys.exit(main())


__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEM",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]
