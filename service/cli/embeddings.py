"""``embattn embeddings ...``: the commands of the embeddings service."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.cli import files, output
from service.cli.params import key_value, merged
from service.cli.progress import TransferBar
from service.cli.shared import (
    EXIT_OK,
    EXIT_PROBLEM,
    Uploads,
    add_health_parser,
    add_jobs_parser,
    add_models_parser,
    add_uploads_parser,
    finish_training,
    follow_job,
)
from service.client.embeddings import BATCH_OPERATIONS
from service.client.results import Accepted

#: The built-in benchmarks of ``evaluate`` (anything else is a local file).
PAIRS_DATASETS = ("wordsim353", "simlex999")
ANALOGY_DATASETS = ("questions-words",)


def _corpus_options(p: argparse.ArgumentParser) -> None:
    """How an uploaded corpus is read (``train``, ``continue``, ``corpora upload``)."""
    p.add_argument("--format", choices=["text", "jsonl"], default="text", help="corpus format (text)")
    p.add_argument("--tokenizer", choices=["simple", "whitespace"], default="simple")
    p.add_argument("--no-lowercase", dest="lowercase", action="store_false", help="keep the case")


def _search_options(p: argparse.ArgumentParser) -> None:
    """How ``similar`` and ``analogy`` search."""
    p.add_argument("--restrict-vocab", type=int, metavar="N", help="only the N most frequent words")
    p.add_argument(
        "--exact",
        action="store_true",
        default=None,
        help="scan every vector (gensim's answer) even where the model has an ANN index",
    )


def _upload_corpus(client: Any, args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    return client.upload_corpus(
        args.file,
        name=getattr(args, "name", None),
        format=args.format,
        tokenizer=args.tokenizer,
        lowercase=args.lowercase,
        progress=progress,
    )


CORPORA = Uploads(
    collection="corpora",
    noun="corpus",
    columns=["ID", "SENTENCES", "TOKENS", "FORMAT", "CREATED"],
    add_upload_options=_corpus_options,
    upload=_upload_corpus,
)


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
    _corpus_options(train)
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

    cont = sub.add_parser(
        "continue",
        parents=parents,
        help="train a model further on more sentences (a new version), with a progress bar",
        description="Uploads CORPUS (as train does) or takes --corpus-id, trains MODEL further on it "
        "(gensim's vocabulary update; a new version) with a live progress bar, then prints the model's "
        "metadata. Imported models cannot be trained further (409). Ctrl-C offers to cancel the job.",
    )
    cont.add_argument("model")
    cont.add_argument("corpus", nargs="?", type=Path, help="a local corpus file")
    cont.add_argument("--corpus-id", help="a corpus already uploaded instead")
    _corpus_options(cont)
    cont.add_argument("--epochs", type=int, help="epochs over the new corpus (default: the model's)")
    cont.add_argument("--alpha", type=float)
    cont.add_argument("--min-alpha", type=float)
    cont.add_argument("--detach", action="store_true", help="print the job and return at once")
    cont.set_defaults(handler=run_continue, parser=cont)

    similar = sub.add_parser("similar", parents=parents, help="nearest words (gensim most_similar)")
    similar.add_argument("model")
    similar.add_argument("words", nargs="+", metavar="WORD", help="positive words")
    similar.add_argument("--negative", nargs="+", default=[], metavar="WORD")
    similar.add_argument("--topn", type=int, default=10)
    similar.add_argument("--method", choices=["cosadd", "cosmul"], default="cosadd")
    _search_options(similar)
    similar.add_argument("--version", type=int, help="query this version instead of the current one")
    similar.set_defaults(handler=run_similar)

    analogy = sub.add_parser("analogy", parents=parents, help="A : B :: C : ?")
    analogy.add_argument("model")
    for name in ("a", "b", "c"):
        analogy.add_argument(name, metavar=name.upper())
    analogy.add_argument("--topn", type=int, default=10)
    analogy.add_argument("--method", choices=["cosadd", "cosmul"], default="cosadd")
    _search_options(analogy)
    analogy.add_argument("--version", type=int)
    analogy.set_defaults(handler=run_analogy)

    vectors = sub.add_parser("vectors", parents=parents, help="word vectors")
    vectors.add_argument("model")
    vectors.add_argument("words", nargs="+", metavar="WORD")
    vectors.add_argument("--version", type=int)
    vectors.set_defaults(handler=run_vectors)

    similarity = sub.add_parser(
        "similarity", parents=parents, help="cosine similarity of word pairs: W1 W2 [W1 W2 ...]"
    )
    similarity.add_argument("model")
    similarity.add_argument("words", nargs="+", metavar="WORD", help="an even number of words, read as pairs")
    similarity.add_argument("--version", type=int)
    similarity.set_defaults(handler=run_similarity, parser=similarity)

    nsim = sub.add_parser(
        "n-similarity",
        parents=parents,
        help="cosine between the means of two word sets (gensim n_similarity)",
    )
    nsim.add_argument("model")
    nsim.add_argument("words1", nargs="+", metavar="WORD", help="the first set")
    nsim.add_argument("--to", dest="words2", nargs="+", required=True, metavar="WORD", help="the second set")
    nsim.add_argument("--version", type=int)
    nsim.set_defaults(handler=run_n_similarity)

    odd = sub.add_parser("doesnt-match", parents=parents, help="the odd word out (gensim doesnt_match)")
    odd.add_argument("model")
    odd.add_argument("words", nargs="+", metavar="WORD", help="two words or more")
    odd.add_argument("--version", type=int)
    odd.set_defaults(handler=run_doesnt_match)

    sent = sub.add_parser(
        "sentence-vectors", parents=parents, help="pooled vectors of sentences (mean, max or sum)"
    )
    sent.add_argument("model")
    sent.add_argument("sentences", nargs="*", metavar="SENTENCE")
    sent.add_argument("--file", type=Path, help="sentences from a file, one per line (- for stdin)")
    sent.add_argument("--pooling", choices=["mean", "max", "sum"], default="mean")
    sent.add_argument("--tokenizer", choices=["simple", "whitespace"], help="how sentences are split")
    sent.add_argument("--no-lowercase", dest="lowercase", action="store_false", default=None)
    sent.add_argument("--version", type=int)
    sent.set_defaults(handler=run_sentence_vectors, parser=sent)

    batch = sub.add_parser(
        "batch",
        parents=parents,
        help="many queries of one operation in one request, from a JSON file",
        description="Sends the queries of FILE (a JSON array of query objects, or one object per line; "
        "- for stdin) as one batch of OPERATION; prints one line per query, its result or its problem. "
        "Exit status 1 when any query failed.",
    )
    batch.add_argument("model")
    batch.add_argument("operation", choices=BATCH_OPERATIONS)
    batch.add_argument("file", type=Path, help="the queries, as the operation's request bodies")
    batch.add_argument("--version", type=int)
    batch.set_defaults(handler=run_batch)

    evaluate = sub.add_parser(
        "evaluate",
        parents=parents,
        help="word-pair correlation and/or analogy accuracy (built-in benchmarks or local files)",
        description="--pairs: wordsim353, simlex999, or a local file of `word1 word2 score` lines; "
        "--analogies: questions-words, or a local file in its format (`: section` lines, then "
        "`a b c d`). A local file wins over a built-in name.",
    )
    evaluate.add_argument("model")
    evaluate.add_argument("--pairs", metavar="DATASET|FILE")
    evaluate.add_argument("--analogies", metavar="DATASET|FILE")
    evaluate.add_argument("--restrict-vocab", type=int, help="only the N most frequent words (300000)")
    evaluate.add_argument(
        "--case-sensitive", action="store_true", help="compare words as they are (default: case-folded)"
    )
    evaluate.add_argument("--version", type=int)
    evaluate.set_defaults(handler=run_evaluate, parser=evaluate)

    imp = sub.add_parser(
        "import", parents=parents, help="upload a vector file as a model, with a progress bar"
    )
    imp.add_argument("name", help="the model's name")
    imp.add_argument("file", type=Path, help="a local file (or, with --on-server, a file on the server)")
    imp.add_argument(
        "--format",
        choices=["auto", "word2vec-text", "word2vec-binary", "glove", "fasttext-bin"],
        default="auto",
    )
    imp.add_argument("--limit", type=int, metavar="N", help="keep only the first N vectors")
    imp.add_argument(
        "--on-server",
        action="store_true",
        help="FILE is on the server, relative to its EMBEDDINGS_IMPORT_DIR (a job; nothing is uploaded)",
    )
    imp.add_argument("--overwrite", action="store_true", help="store a new version when NAME exists")
    imp.set_defaults(handler=run_import, parser=imp)

    exp = sub.add_parser("export", parents=parents, help="download a model's vectors, with a progress bar")
    exp.add_argument("model")
    exp.add_argument("file", type=Path)
    exp.add_argument("--format", choices=["word2vec-binary", "word2vec-text"], default="word2vec-binary")
    exp.add_argument("--version", type=int)
    exp.set_defaults(handler=run_export)

    add_uploads_parser(sub, parents, CORPORA)
    add_models_parser(sub, parents)
    add_jobs_parser(sub, parents)
    add_health_parser(sub, parents)


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


def run_continue(client: Any, args: argparse.Namespace) -> int:
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
    accepted = client.continue_training(
        args.model, corpus_id=corpus_id, epochs=args.epochs, alpha=args.alpha, min_alpha=args.min_alpha
    )
    if args.detach:
        output.print_json(accepted) if args.json else print(f"job {accepted.job_id} {accepted.status}")
        return EXIT_OK
    job = follow_job(client, accepted.job_id, args, f"continue {args.model}")
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
        args.model, args.words, args.negative, topn=args.topn, method=args.method,
        restrict_vocab=args.restrict_vocab, exact=args.exact, version=args.version,
    )  # fmt: skip
    return _neighbours(hits, args)


def run_analogy(client: Any, args: argparse.Namespace) -> int:
    hits = client.analogy(
        args.model, args.a, args.b, args.c, topn=args.topn, method=args.method,
        restrict_vocab=args.restrict_vocab, exact=args.exact, version=args.version,
    )  # fmt: skip
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


def run_similarity(client: Any, args: argparse.Namespace) -> int:
    if len(args.words) % 2:
        args.parser.error(f"give words in pairs: {len(args.words)} words is an odd number")
    pairs = list(zip(args.words[::2], args.words[1::2], strict=True))
    cosines = client.similarity(args.model, pairs, version=args.version)
    if args.json:
        output.print_json({"similarities": cosines})
        return EXIT_OK
    w1 = max(len(a) for a, _ in pairs)
    w2 = max(len(b) for _, b in pairs)
    for (a, b), cos in zip(pairs, cosines, strict=True):
        print(f"{a:<{w1}}  {b:<{w2}}  {cos:.4f}")
    return EXIT_OK


def run_n_similarity(client: Any, args: argparse.Namespace) -> int:
    cos = client.n_similarity(args.model, args.words1, args.words2, version=args.version)
    output.print_json({"similarity": cos}) if args.json else print(f"{cos:.4f}")
    return EXIT_OK


def run_doesnt_match(client: Any, args: argparse.Namespace) -> int:
    word = client.doesnt_match(args.model, args.words, version=args.version)
    output.print_json({"word": word}) if args.json else print(word)
    return EXIT_OK


def run_sentence_vectors(client: Any, args: argparse.Namespace) -> int:
    sentences = list(args.sentences)
    if args.file is not None:
        sentences += files.sentences(args.file)
    if not sentences:
        args.parser.error("give SENTENCEs or --file")
    tokenizer = merged(None, kind=args.tokenizer, lowercase=args.lowercase)
    pooled = client.sentence_vectors(
        args.model, sentences, pooling=args.pooling, tokenizer=tokenizer, version=args.version
    )
    if args.json:
        output.print_json(pooled)
        return EXIT_OK
    for text, v in zip(sentences, pooled, strict=True):
        known = f"{v['known_tokens']}/{len(v['tokens'])}"
        print(f"{text}\t{known}\t" + " ".join(f"{x:.4f}" for x in v["vector"]))
    return EXIT_OK


def run_batch(client: Any, args: argparse.Namespace) -> int:
    answer = client.batch(args.model, args.operation, files.queries(args.file), version=args.version)
    errors = {e["index"]: e for e in answer.get("errors", [])}
    if args.json:
        output.print_json(answer)
    else:
        for i, result in enumerate(answer["results"]):
            if i in errors:
                e = errors[i]
                code = str(e.get("type") or "").rstrip("/").rsplit("/", 1)[-1]
                print(f"{i}\terror\t{e.get('status')} {code}: {e.get('detail') or e.get('title')}")
            else:
                print(f"{i}\tok\t" + output.compact(result))
    if errors:
        output.error(f"{len(errors)} of {len(answer['results'])} queries failed")
        return EXIT_PROBLEM
    return EXIT_OK


def _benchmark(
    args: argparse.Namespace, value: str | None, builtin: tuple[str, ...], key: str, read: Any
) -> Any:
    """``{"dataset": name}`` for a built-in benchmark, ``{key: read(file)}`` for a local file."""
    if value is None:
        return None
    spec: dict[str, Any]
    if Path(value).is_file():
        spec = {key: read(Path(value))}
    elif value in builtin:
        spec = {"dataset": value}
    else:
        args.parser.error(f"{value}: no such file, nor a built-in benchmark ({', '.join(builtin)})")
    if args.restrict_vocab is not None:
        spec["restrict_vocab"] = args.restrict_vocab
    if args.case_sensitive:
        spec["case_insensitive"] = False
    return spec


def run_evaluate(client: Any, args: argparse.Namespace) -> int:
    if args.pairs is None and args.analogies is None:
        args.parser.error("give --pairs, --analogies or both")
    pairs = _benchmark(args, args.pairs, PAIRS_DATASETS, "items", files.word_pairs)
    analogies = _benchmark(args, args.analogies, ANALOGY_DATASETS, "sections", files.analogy_sections)
    report = client.evaluate(args.model, pairs=pairs, analogies=analogies, version=args.version)
    if args.json:
        output.print_json(report)
        return EXIT_OK
    if report.get("pairs"):
        print("pairs")
        output.fields(report["pairs"], indent=2)
    if report.get("analogies"):
        analogies_report = dict(report["analogies"])
        sections = analogies_report.pop("sections", [])
        print("analogies")
        output.fields(analogies_report, indent=2)
        if sections:
            output.table(
                [[s["section"], s["correct"], s["incorrect"], s["accuracy"]] for s in sections],
                ["SECTION", "CORRECT", "INCORRECT", "ACCURACY"],
                indent=2,
            )
    return EXIT_OK


def run_import(client: Any, args: argparse.Namespace) -> int:
    if args.on_server:
        accepted = client.import_file(
            args.name, str(args.file), format=args.format, overwrite=args.overwrite, limit=args.limit
        )
        job = follow_job(client, accepted.job_id, args, f"import {args.name}")
        return finish_training(client, job, args)
    if not args.file.is_file():
        args.parser.error(f"no such file: {args.file}")
    with TransferBar(f"import {args.file.name}", enabled=not args.json) as bar:
        info = client.import_vectors(
            args.name, args.file, format=args.format, overwrite=args.overwrite, limit=args.limit, progress=bar
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
