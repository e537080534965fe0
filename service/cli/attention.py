"""``embattn attention ...``: the commands of the attention service."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.cli import files, output
from service.cli.params import key_value, merged
from service.cli.progress import TransferBar
from service.cli.shared import (
    EXIT_OK,
    Uploads,
    add_health_parser,
    add_jobs_parser,
    add_models_parser,
    add_uploads_parser,
    finish_training,
    follow_job,
)


def _dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["auto", "tsv", "jsonl", "word2vec"],
        default="auto",
        help="pairs as tsv or jsonl (auto tells them apart), or word2vec vectors (for --embeddings-file)",
    )


def _upload_dataset(client: Any, args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    return client.upload_dataset(args.file, name=args.name, format=args.format, progress=progress)


DATASETS = Uploads(
    collection="datasets",
    noun="dataset",
    columns=["ID", "KIND", "FORMAT", "PAIRS", "LINKED", "WORDS", "BYTES", "CREATED"],
    add_upload_options=_dataset_options,
    upload=_upload_dataset,
)


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The attention commands, on the ``attention`` group's subparsers."""
    train = sub.add_parser(
        "train",
        parents=parents,
        help="train on a built-in task or a local dataset file, with a progress bar",
        description="Trains NAME on --task (a built-in generator) or on DATASET (a local TSV "
        "`source<TAB>target[<TAB>links]` or JSON-lines file, uploaded first) with a live progress bar "
        "(epoch, loss, steps/s, ETA), then prints the model's metadata. Ctrl-C offers to cancel the job.",
    )
    train.add_argument("dataset", nargs="?", type=Path, help="a local TSV or JSON-lines file of pairs")
    train.add_argument("--dataset-id", help="train on a dataset already uploaded instead")
    train.add_argument("--task", choices=["dates", "reversal", "copy", "g2p"], help="a built-in task instead")
    train.add_argument("--n-train", type=int, help="task: training pairs")
    train.add_argument("--max-len", type=int, help="task (reversal/copy/g2p): longest string or word")
    train.add_argument("--dev-fraction", type=float, help="dataset: share kept for dev")
    train.add_argument("--dev-dataset-id", help="dataset: a separate uploaded dev dataset")
    train.add_argument("--name", required=True, help="the model's name")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--hidden", type=int)
    train.add_argument(
        "--attention",
        choices=["bahdanau", "luong-dot", "luong-general", "luong-concat"],
        dest="attention_kind",
    )
    train.add_argument("--tokenization", choices=["char", "word"])
    train.add_argument(
        "--param", action="append", type=key_value, metavar="KEY=VALUE", help="any other training parameter"
    )
    train.add_argument(
        "--config", action="append", type=key_value, metavar="KEY=VALUE", help="any other architecture option"
    )
    train.add_argument(
        "--embeddings",
        metavar="MODEL",
        help="initialise the source embeddings from this model of the embeddings service",
    )
    train.add_argument(
        "--embeddings-url",
        metavar="URL",
        help="with --embeddings: that service's URL (else the service's own)",
    )
    train.add_argument(
        "--embeddings-file", metavar="DATASET_ID", help="initialise them from an uploaded word2vec dataset"
    )
    train.add_argument(
        "--freeze-embeddings", action="store_true", default=None, help="keep those vectors fixed in training"
    )
    train.add_argument("--overwrite", action="store_true", help="train a new version when NAME exists")
    train.add_argument("--detach", action="store_true", help="print the job and return at once")
    train.set_defaults(handler=run_train, parser=train)

    translate = sub.add_parser(
        "translate", parents=parents, help="decode inputs; --heatmap writes the attention image"
    )
    translate.add_argument("model")
    translate.add_argument("inputs", nargs="+", metavar="INPUT")
    translate.add_argument(
        "--beam", type=int, metavar="SIZE", help="beam search of this width (default: greedy)"
    )
    translate.add_argument("--max-len", type=int)
    translate.add_argument(
        "--n-best", type=int, metavar="N", help="with --beam: the N best outputs of each input"
    )
    translate.add_argument("--length-penalty", type=float, metavar="ALPHA", help="with --beam: GNMT's alpha")
    translate.add_argument("--coverage-penalty", type=float, metavar="BETA", help="with --beam: GNMT's beta")
    translate.add_argument("--links", action="store_true", help="also print the alignment links (Pharaoh)")
    translate.add_argument(
        "--heatmap",
        type=Path,
        metavar="FILE",
        help="write the attention heatmap (.png or .svg; FILE-2.png… for more inputs)",
    )
    translate.add_argument("--version", type=int)
    translate.set_defaults(handler=run_translate)

    align = sub.add_parser("align", parents=parents, help="the attention of a given (source, target) pair")
    align.add_argument("model")
    align.add_argument("source")
    align.add_argument("target")
    align.add_argument("--gold", help='gold links, a Pharaoh string "0-0 1-1"')
    align.add_argument("--version", type=int)
    align.set_defaults(handler=run_align)

    heatmap = sub.add_parser(
        "heatmap", parents=parents, help="write the attention heatmap of one input (.png or .svg)"
    )
    heatmap.add_argument("model")
    heatmap.add_argument("input")
    heatmap.add_argument("file", type=Path, help="where to write it: FILE.png or FILE.svg")
    heatmap.add_argument("--target", help="the attention of this given output (else the decoded one)")
    heatmap.add_argument("--beam", type=int, metavar="SIZE", help="decode with a beam of this width")
    heatmap.add_argument("--version", type=int)
    heatmap.set_defaults(handler=run_heatmap)

    evaluate = sub.add_parser(
        "evaluate",
        parents=parents,
        help="exact match, BLEU… on the model's dev or test split, or on a local file of pairs",
    )
    evaluate.add_argument("model")
    evaluate.add_argument("--split", choices=["dev", "test"], help="a built-in split (dev, the default)")
    evaluate.add_argument(
        "--pairs",
        type=Path,
        metavar="FILE",
        help="pairs of a local TSV (source<TAB>target[<TAB>links]) or JSON-lines file instead",
    )
    evaluate.add_argument("--beam", type=int, metavar="SIZE")
    evaluate.add_argument("--version", type=int)
    evaluate.set_defaults(handler=run_evaluate, parser=evaluate)

    add_uploads_parser(sub, parents, DATASETS)
    add_models_parser(sub, parents)
    add_jobs_parser(sub, parents)
    add_health_parser(sub, parents)


def run_train(client: Any, args: argparse.Namespace) -> int:
    sources = [x for x in (args.dataset, args.dataset_id, args.task) if x is not None]
    if len(sources) != 1:
        args.parser.error("give one of: a DATASET file, --dataset-id, --task")
    dataset_id = args.dataset_id
    if args.dataset is not None:
        if not args.dataset.is_file():
            args.parser.error(f"no such file: {args.dataset}")
        with TransferBar(f"upload {args.dataset.name}", enabled=not args.json) as bar:
            dataset = client.upload_dataset(args.dataset, progress=bar)
        dataset_id = dataset["id"]
        if not args.json:
            output.error(f"dataset {dataset_id}: {dataset.get('pairs')} pairs")
    task = merged(None, name=args.task, n_train=args.n_train, max_len=args.max_len) if args.task else None
    params = merged(args.param, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    config = merged(
        args.config, hidden=args.hidden, attention=args.attention_kind, tokenization=args.tokenization
    )
    embeddings = merged(None, model=args.embeddings, url=args.embeddings_url) if args.embeddings else None
    if args.embeddings_url and not args.embeddings:
        args.parser.error("--embeddings-url goes with --embeddings MODEL")
    accepted = client.train(
        args.name,
        task=task,
        dataset_id=dataset_id,
        dev_fraction=args.dev_fraction,
        dev_dataset_id=args.dev_dataset_id,
        config=config,
        params=params,
        embeddings=embeddings,
        embeddings_file=args.embeddings_file,
        freeze_embeddings=args.freeze_embeddings,
        overwrite=args.overwrite,
    )
    if args.detach:
        output.print_json(accepted) if args.json else print(f"job {accepted.job_id} {accepted.status}")
        return EXIT_OK
    job = follow_job(client, accepted.job_id, args, f"train {args.name}")
    return finish_training(client, job, args)


def _heatmap_paths(path: Path, n: int) -> list[Path]:
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, n + 1)]


def run_translate(client: Any, args: argparse.Namespace) -> int:
    decode = {"decode": "beam", "beam_size": args.beam} if args.beam else {}
    for option in ("n_best", "length_penalty", "coverage_penalty"):
        if getattr(args, option) is not None:
            decode[option] = getattr(args, option)
    outputs = client.translate(
        args.model,
        args.inputs,
        max_len=args.max_len,
        return_attention=bool(args.json),
        version=args.version,
        **decode,
    )
    written = []
    if args.heatmap is not None:
        fmt = "svg" if args.heatmap.suffix.lower() == ".svg" else "png"
        for text, path in zip(args.inputs, _heatmap_paths(args.heatmap, len(args.inputs)), strict=True):
            path.write_bytes(
                client.heatmap(
                    args.model,
                    text,
                    fmt=fmt,
                    version=args.version,
                    **({"decode": "beam", "beam_size": args.beam} if args.beam else {}),
                )
            )
            written.append(path)
    if args.json:
        output.print_json(outputs)
    else:
        for t in outputs:
            for rank, h in enumerate(t.hypotheses or [t], 1):
                line = f"{t.input}\t{h.output}\t{h.score:.4f}"
                if t.hypotheses:
                    line += f"\t#{rank}"
                if args.links:
                    line += f"\t{h.pharaoh}"
                print(line)
    for path in written:
        output.error(f"wrote {path}")
    return EXIT_OK


def run_align(client: Any, args: argparse.Namespace) -> int:
    result = client.align(
        args.model,
        [(args.source, args.target)],
        gold=[args.gold] if args.gold else None,
        version=args.version,
    )
    if args.json:
        output.print_json(result)
        return EXIT_OK
    a = result[0]
    print(f"{a.source}\t{a.target}\t{a.pharaoh}")
    for i, row in enumerate(a.attention):
        j = max(range(len(row)), key=row.__getitem__)
        print(f"  {a.target_tokens[i]!r} <- {a.source_tokens[j]!r}  {row[j]:.3f}")
    if a.scores:
        print("precision {precision:.3f}  recall {recall:.3f}  aer {aer:.3f}".format(**a.scores))
    return EXIT_OK


def run_heatmap(client: Any, args: argparse.Namespace) -> int:
    fmt = "svg" if args.file.suffix.lower() == ".svg" else "png"
    decode = {"decode": "beam", "beam_size": args.beam} if args.beam else {}
    image = client.heatmap(
        args.model, args.input, target=args.target, fmt=fmt, version=args.version, **decode
    )
    args.file.write_bytes(image)
    if args.json:
        output.print_json({"model": args.model, "file": str(args.file), "bytes": len(image), "format": fmt})
    else:
        print(f"wrote {args.file} ({len(image)} bytes, {fmt})")
    return EXIT_OK


def run_evaluate(client: Any, args: argparse.Namespace) -> int:
    if args.split is not None and args.pairs is not None:
        args.parser.error("give --split or --pairs, not both")
    pairs = None
    if args.pairs is not None:
        if str(args.pairs) != "-" and not args.pairs.is_file():
            args.parser.error(f"no such file: {args.pairs}")
        pairs = files.source_target_pairs(args.pairs)
    split = args.split or (None if pairs is not None else "dev")
    decode = {"decode": "beam", "beam_size": args.beam} if args.beam else {}
    result = client.evaluate(args.model, split=split, pairs=pairs, version=args.version, **decode)
    output.print_json(result) if args.json else output.fields(result)
    return EXIT_OK
