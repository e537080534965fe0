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
from service.cli.files import LocalFileError
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
  1    the service answered a problem (its status and detail on stderr), a job failed,
       or a query of a batch failed
  2    usage error (also: a local file that is missing or cannot be read as what it should be)
  3    cannot connect to the service
  130  interrupted (Ctrl-C)

examples:
  embattn embeddings train corpus.txt --name news --epochs 5 --min-count 2
  embattn embeddings continue news more.txt --epochs 2
  embattn embeddings similar news president --topn 5
  embattn embeddings analogy news man king woman
  embattn embeddings vectors news president war
  embattn embeddings similarity news king queen man woman
  embattn embeddings n-similarity news president minister --to government
  embattn embeddings doesnt-match news president minister fire
  embattn embeddings sentence-vectors news "the president spoke" --pooling max
  embattn embeddings batch news similar queries.jsonl
  embattn embeddings evaluate news --pairs wordsim353 --analogies questions-words
  embattn embeddings corpora upload corpus.txt --name news-2024
  embattn embeddings export news news.bin && embattn embeddings import news-copy news.bin
  embattn embeddings import big GoogleNews-vectors-negative300.bin --on-server --limit 500000
  embattn attention train --task reversal --name rev --epochs 5
  embattn attention datasets upload pairs.tsv --name mine
  embattn attention translate dates "26 november 2026" --heatmap dates.png
  embattn attention heatmap dates 5/3/2026 dates.svg --target 2026-03-05
  embattn attention align dates 5/3/2026 2026-03-05 --gold "4-0 5-1 6-2 7-3"
  embattn attention evaluate dates --pairs test.tsv --beam 4
  embattn attention jobs watch JOB_ID
  embattn --json embeddings models list
  embattn attention health --ready

Shortcuts: train, continue, similar, analogy, similarity, n-similarity, doesnt-match, vectors,
sentence-vectors, batch, corpora, import and export without a service are the embeddings
service's (embattn train corpus.txt --name mine); translate, align, heatmap and datasets the
attention service's. models, jobs, evaluate, health and attention's train need the service named.
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
    **dict.fromkeys(
        (
            "train",
            "continue",
            "similar",
            "analogy",
            "similarity",
            "n-similarity",
            "doesnt-match",
            "vectors",
            "sentence-vectors",
            "batch",
            "corpora",
            "import",
            "export",
        ),
        "embeddings",
    ),  # fmt: skip
    **dict.fromkeys(("translate", "align", "heatmap", "datasets"), "attention"),
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
    except LocalFileError as exc:  # a local input file that does not read as what it should be
        output.error(str(exc))
        return EXIT_USAGE
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
