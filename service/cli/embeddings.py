"""``embattn embeddings ...``: the commands of the embeddings service."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.cli import output
from service.cli.params import key_value, merged
from service.cli.progress import TransferBar
from service.cli.shared import EXIT_OK, add_jobs_parser, add_models_parser, finish_training, follow_job
from service.client.results import Accepted


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The embeddings commands, on the ``embeddings`` group's subparsers."""
    train = sub.add_parser(
        "train",
        parents=parents,
        help="upload a local corpus file and train a model on it, with a progress bar",
        description="Uploads CORPUS (one sentence per line, or --format jsonl; gzip detected), trains "
        "NAME on it with a live progress bar (epoch, loss, words/s, ETA), then prints the model's "
        "metadata. Ctrl-C offers to cancel the job.",
    )
    train.add_argument("corpus", nargs="?", type=Path, help="a local corpus file")
    train.add_argument("--corpus-id", help="train on a corpus already uploaded instead")
    train.add_argument("--name", required=True, help="the model's name")
    train.add_argument("--algorithm", choices=["word2vec", "fasttext"], default="word2vec")
    train.add_argument("--format", choices=["text", "jsonl"], default="text", help="corpus format (text)")
    train.add_argument("--tokenizer", choices=["simple", "whitespace"], default="simple")
    train.add_argument("--no-lowercase", dest="lowercase", action="store_false", help="keep the case")
    for opt, kind in (
        ("vector-size", int), ("window", int), ("min-count", int), ("epochs", int), ("sg", int),
        ("workers", int), ("seed", int), ("alpha", float),
    ):  # fmt: skip
        train.add_argument(f"--{opt}", type=kind, help=f"gensim's {opt.replace('-', '_')}")
    train.add_argument(
        "--param", action="append", type=key_value, metavar="KEY=VALUE", help="any other training parameter"
    )
    train.add_argument("--overwrite", action="store_true", help="train a new version when NAME exists")
    train.add_argument("--detach", action="store_true", help="print the job and return at once")
    train.set_defaults(handler=run_train, parser=train)

    similar = sub.add_parser("similar", parents=parents, help="nearest words (gensim most_similar)")
    similar.add_argument("model")
    similar.add_argument("words", nargs="+", metavar="WORD", help="positive words")
    similar.add_argument("--negative", nargs="+", default=[], metavar="WORD")
    similar.add_argument("--topn", type=int, default=10)
    similar.add_argument("--method", choices=["cosadd", "cosmul"], default="cosadd")
    similar.add_argument("--version", type=int, help="query this version instead of the current one")
    similar.set_defaults(handler=run_similar)

    analogy = sub.add_parser("analogy", parents=parents, help="A : B :: C : ?")
    analogy.add_argument("model")
    for name in ("a", "b", "c"):
        analogy.add_argument(name, metavar=name.upper())
    analogy.add_argument("--topn", type=int, default=10)
    analogy.add_argument("--method", choices=["cosadd", "cosmul"], default="cosadd")
    analogy.add_argument("--version", type=int)
    analogy.set_defaults(handler=run_analogy)

    vectors = sub.add_parser("vectors", parents=parents, help="word vectors")
    vectors.add_argument("model")
    vectors.add_argument("words", nargs="+", metavar="WORD")
    vectors.add_argument("--version", type=int)
    vectors.set_defaults(handler=run_vectors)

    imp = sub.add_parser(
        "import", parents=parents, help="upload a vector file as a model, with a progress bar"
    )
    imp.add_argument("name", help="the model's name")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--format", choices=["auto", "word2vec-text", "word2vec-binary", "fasttext-bin"], default="auto"
    )
    imp.add_argument("--overwrite", action="store_true", help="store a new version when NAME exists")
    imp.set_defaults(handler=run_import, parser=imp)

    exp = sub.add_parser("export", parents=parents, help="download a model's vectors, with a progress bar")
    exp.add_argument("model")
    exp.add_argument("file", type=Path)
    exp.add_argument("--format", choices=["word2vec-binary", "word2vec-text"], default="word2vec-binary")
    exp.add_argument("--version", type=int)
    exp.set_defaults(handler=run_export)

    add_models_parser(sub, parents)
    add_jobs_parser(sub, parents)


def run_train(client: Any, args: argparse.Namespace) -> int:
    if (args.corpus is None) == (args.corpus_id is None):
        args.parser.error("give a CORPUS file or --corpus-id (one of them)")
    corpus_id = args.corpus_id
    if args.corpus is not None:
        if not args.corpus.is_file():
            args.parser.error(f"no such file: {args.corpus}")
        with TransferBar(f"upload {args.corpus.name}", enabled=not args.json) as bar:
            corpus = client.upload_corpus(
                args.corpus,
                format=args.format,
                tokenizer=args.tokenizer,
                lowercase=args.lowercase,
                progress=bar,
            )
        corpus_id = corpus["id"]
        if not args.json:
            output.error(f"corpus {corpus_id}: {corpus['sentences']} sentences, {corpus['tokens']} tokens")
    params = merged(
        args.param,
        vector_size=args.vector_size, window=args.window, min_count=args.min_count, epochs=args.epochs,
        sg=args.sg, workers=args.workers, seed=args.seed, alpha=args.alpha,
    )  # fmt: skip
    accepted = client.train(
        args.name, corpus_id=corpus_id, algorithm=args.algorithm, params=params, overwrite=args.overwrite
    )
    if args.detach:
        output.print_json(accepted) if args.json else print(f"job {accepted.job_id} {accepted.status}")
        return EXIT_OK
    job = follow_job(client, accepted.job_id, args, f"train {args.name}")
    return finish_training(client, job, args)


def _neighbours(hits: Any, args: argparse.Namespace) -> int:
    if args.json:
        output.print_json(hits)
    else:
        width = max((len(h.word) for h in hits), default=0)
        for h in hits:
            print(f"{h.word:<{width}}  {h.score:.4f}")
    return EXIT_OK


def run_similar(client: Any, args: argparse.Namespace) -> int:
    hits = client.similar(
        args.model, args.words, args.negative, topn=args.topn, method=args.method, version=args.version
    )
    return _neighbours(hits, args)


def run_analogy(client: Any, args: argparse.Namespace) -> int:
    hits = client.analogy(
        args.model, args.a, args.b, args.c, topn=args.topn, method=args.method, version=args.version
    )
    return _neighbours(hits, args)


def run_vectors(client: Any, args: argparse.Namespace) -> int:
    vectors = client.vectors(args.model, args.words, version=args.version)
    if args.json:
        output.print_json(vectors)
        return EXIT_OK
    for v in vectors:
        if v.vector is None:
            print(f"{v.word}  (unknown)")
        else:
            note = "  (oov n-grams)" if v.oov else ""
            print(f"{v.word}  " + " ".join(f"{x:.4f}" for x in v.vector) + note)
    return EXIT_OK


def run_import(client: Any, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        args.parser.error(f"no such file: {args.file}")
    with TransferBar(f"import {args.file.name}", enabled=not args.json) as bar:
        info = client.import_vectors(
            args.name, args.file, format=args.format, overwrite=args.overwrite, progress=bar
        )
    if isinstance(info, Accepted):  # a large file: the service imports it in a job
        job = follow_job(client, info.job_id, args, f"import {args.name}")
        return finish_training(client, job, args)
    output.print_json(info) if args.json else output.fields(info.raw)
    return EXIT_OK


def run_export(client: Any, args: argparse.Namespace) -> int:
    with TransferBar(f"export {args.model}", enabled=not args.json) as bar:
        path = client.export_vectors(
            args.model, args.file, format=args.format, version=args.version, progress=bar
        )
        size = path.stat().st_size
        bar(size, size)
    if args.json:
        output.print_json({"model": args.model, "file": str(path), "bytes": size, "format": args.format})
    else:
        print(f"wrote {path} ({size} bytes, {args.format})")
    return EXIT_OK
