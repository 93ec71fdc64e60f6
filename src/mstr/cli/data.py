"""``mstr data``: inspect LMDBs and convert between gt.txt, manifests and LMDBs.

Heavy modules (lmdb, PIL) are imported inside the functions that run a command, so
``mstr --help`` stays fast.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from mstr.cli.options import add_command_group, add_json, int_pair

# used in descriptions, which argparse does not %-format (help strings need %%)
_LAYOUT = ("An LMDB uses the deep-text-recognition-benchmark/PARSeq keys (num-samples, "
           "image-%09d, label-%09d) plus an optional lang-%09d; per language the layout is "
           "LMDB/<lang>/train_lmdb and LMDB/<lang>/val_lmdb.")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``mstr data`` and its subcommands on the top-level ``subparsers``."""
    sub = add_command_group(
        subparsers, "data", dest="data_command", help="inspect LMDBs; convert gt.txt / manifests / LMDBs",
        description="Inspect LMDB datasets and convert between gt.txt, JSON-lines manifests "
                    "and LMDBs. " + _LAYOUT)
    _add_inspect(sub)
    _add_gt2lmdb(sub)
    _add_manifest2lmdb(sub)
    _add_lmdb2manifest(sub)
    _add_split(sub)
    _add_pack(sub)


def _size(text: str) -> tuple[int, int]:
    h, w = int_pair("x", "HxW such as 48x192")(text)
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"{text}: height and width must be at least 8")
    return h, w


def _add_pack(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "pack", run_pack,
                 help="decode LMDB word images once into one uint8 array at a model's input size",
                 description="""For fast training on an accelerator: every sample of the LMDBs, resized as
                 the model's preprocessing resizes it, in OUT/images.npy (N, 3, H, W uint8) with
                 OUT/labels.jsonl; train on it with a source {name: …, packed: OUT}.""")
    p.add_argument("paths", nargs="+", type=Path,
                   help="LMDB folders, or synthetic roots (their LMDB/<lang>/<split>_lmdb are taken)")
    p.add_argument("--size", type=_size, required=True, help="model input HxW, e.g. 32x128 or 48x192")
    p.add_argument("--out", type=Path, required=True, help="folder to write (must not hold a packed set)")
    p.add_argument("--split", default="train", help="split taken from synthetic roots (default train)")
    p.add_argument("--langs", default=None, help="only these languages of synthetic roots")
    p.add_argument("--max-per-lmdb", type=int, default=None, help="first N samples of each LMDB")
    p.add_argument("--workers", type=int, default=1, help="decoding processes (default 1)")


def run_pack(args: argparse.Namespace) -> int:
    from mstr.data.packed import lmdb_folders, pack_lmdbs

    folders = lmdb_folders(args.paths, args.split, _parse_langs(args.langs))
    meta = pack_lmdbs(folders, args.out, args.size, max_per_lmdb=args.max_per_lmdb, workers=max(1, args.workers))
    print(f"wrote {args.out}: {meta['count']} images at {args.size[0]}x{args.size[1]} from {len(folders)} LMDB(s)")
    return 0


def _add_split(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "split", run_split, help="split a manifest deterministically (e.g. fine-tune / dev)",
                 description="""Write OUT/finetune.jsonl and OUT/dev.jsonl: a record is held out when
                 sha1(seed:sha1 of the image bytes) falls below --frac, so the split follows the image bytes
                 (not the line order, nor the ids written in the manifest): one image never lands on both
                 sides. Paths stay relative to the same --root.""")
    p.add_argument("manifest", type=Path, help="JSON-lines manifest")
    p.add_argument("--root", type=Path, required=True, help="folder the manifest's path_rel are relative to")
    p.add_argument("--out", type=Path, required=True, help="folder for the two manifests")
    p.add_argument("--frac", type=float, default=0.2, help="share held out (default 0.2)")
    p.add_argument("--seed", type=int, default=0)


def run_split(args: argparse.Namespace) -> int:
    from mstr.data.split import split_manifest

    sizes = split_manifest(args.manifest, args.root, args.out, frac=args.frac, seed=args.seed)
    print(f"wrote {args.out}/finetune.jsonl ({sizes['finetune']}) and {args.out}/dev.jsonl ({sizes['dev']})"
          + (f"; {sizes['problems']} manifest line(s) skipped" if sizes["problems"] else ""))
    return 0


# --------------------------------------------------------------------------------------------
# parsers


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "inspect", run_inspect, help="counts, charset coverage, label lengths and a sample grid",
                 description="""Report samples per language and split, the share of labels covered by each
                 language's charset (with the most frequent missing characters) and a histogram of label
                 lengths in NFKD code points. PATH is one LMDB folder or a root holding
                 LMDB/<lang>/<split>_lmdb (or <lang>/<split>_lmdb) folders.""",
                 epilog="Example: mstr data inspect data/ --langs en,hi --out reports/data")
    p.add_argument("path", type=Path, metavar="PATH", help="an LMDB folder or a root of LMDBs")
    p.add_argument("--langs", default=None,
                   help="only these languages, e.g. 'en,hi,bn' (default: all found)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder to write report.json, grid.png (sample images with labels) and "
                        "grid.txt (every cell's label) into; without it only the report is "
                        "printed")
    p.add_argument("--grid-size", type=int, default=64, metavar="N",
                   help="number of samples in the grid (default: 64)")
    add_json(p, "print the report as JSON")


def _add_gt2lmdb(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "gt2lmdb", run_gt2lmdb, help="gt.txt ('<image path>\\t<label>' lines) -> LMDB",
                 description="""Convert a gt.txt as deep-text-recognition-benchmark uses it (one
                 '<image path><TAB><label>' per line, paths relative to --images) into an LMDB. Image bytes
                 are copied unchanged. Bad lines (no tab, empty label, missing or corrupt image, path
                 escaping --images) are skipped and reported with their line number. """ + _LAYOUT,
                 epilog="Example: mstr data gt2lmdb gt.txt --images crops/ --lang hi --out LMDB/hi/train_lmdb")
    p.add_argument("gt", type=Path, metavar="GT_TXT", help="the gt.txt file")
    p.add_argument("--images", type=Path, required=True, metavar="DIR",
                   help="folder the image paths in GT_TXT are relative to")
    _add_lmdb_out(p)
    p.add_argument("--lang", default=None,
                   help="language code stored with every sample (lang-%%09d keys)")
    _add_append(p)


def _add_manifest2lmdb(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "manifest2lmdb", run_manifest2lmdb, help="JSON-lines manifest -> LMDB",
                 description="""Convert a manifest (one JSON object per line with id, path_rel, filename,
                 gt_text, lang, dataset; path_rel relative to --root) into an LMDB with lang keys. Bad lines
                 are skipped and reported with their line number. """ + _LAYOUT,
                 epilog="Example: mstr data manifest2lmdb eval/manifest.jsonl --root eval/ --out LMDB/mixed/test_lmdb")
    p.add_argument("manifest", type=Path, metavar="MANIFEST", help="the .jsonl manifest")
    p.add_argument("--root", type=Path, required=True, metavar="DIR",
                   help="folder the manifest's path_rel values are relative to")
    _add_lmdb_out(p)
    p.add_argument("--verify-ids", action="store_true",
                   help="check every id against the SHA-1 of its image")
    _add_append(p)


def _add_lmdb2manifest(sub: argparse._SubParsersAction) -> None:
    p = _command(sub, "lmdb2manifest", run_lmdb2manifest, help="LMDB -> image files + manifest.jsonl",
                 description="""Write every sample of an LMDB as an image file under
                 --out/<lang>/<dataset>/images/ plus --out/manifest.jsonl (path_rel relative to --out). A
                 sample's language is its lang key, else --lang, else the folder layout LMDB/<lang>/...""",
                 epilog="Example: mstr data lmdb2manifest LMDB/hi/val_lmdb --dataset hi_val --out eval/")
    p.add_argument("lmdb", type=Path, metavar="LMDB", help="the LMDB folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="folder to write images and manifest.jsonl into")
    p.add_argument("--dataset", required=True, help="dataset name written into each record")
    p.add_argument("--lang", default=None,
                   help="language of samples that have no lang key")


def _command(sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int],
             **parser_kwargs: Any) -> argparse.ArgumentParser:
    """Register ``mstr data NAME`` (``parser_kwargs``: help, description, epilog), run by ``func``."""
    p = sub.add_parser(name, **parser_kwargs)
    p.set_defaults(func=func)
    return p


def _add_lmdb_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, metavar="LMDB", help="LMDB folder to create")


def _add_append(p: argparse.ArgumentParser) -> None:
    p.add_argument("--append", action="store_true", help="add to an existing LMDB at --out instead of refusing")


# --------------------------------------------------------------------------------------------
# runners


def run_inspect(args: argparse.Namespace) -> int:
    """Run ``mstr data inspect``."""
    from mstr.data.inspect import format_report, inspect_lmdb

    langs = _parse_langs(args.langs)
    grid = args.out / "grid.png" if args.out is not None else None
    report = inspect_lmdb(args.path, langs=langs, grid=grid, n_grid=args.grid_size)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2)
                                              + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json
          else format_report(report))
    if args.out is not None and not args.json:
        print(f"report: {args.out / 'report.json'}")
    return 0


def run_gt2lmdb(args: argparse.Namespace) -> int:
    """Run ``mstr data gt2lmdb``."""
    from mstr.data.convert import gt_to_lmdb

    report = gt_to_lmdb(args.gt, args.images, args.out, lang=args.lang, append=args.append)
    return _conversion_status(report)


def _conversion_status(report) -> int:
    """Print a conversion's summary; 1 (with a line on stderr) when rows were skipped, else 0."""
    import sys

    print(report.summary())
    if report.total_skipped:
        print(f"mstr data: {report.total_skipped} row(s) of {report.source} were skipped (listed above); "
              f"{report.written} written to {report.out}. Fix or remove them and convert again",
              file=sys.stderr)
        return 1
    return 0


def run_manifest2lmdb(args: argparse.Namespace) -> int:
    """Run ``mstr data manifest2lmdb``."""
    from mstr.data.convert import manifest_to_lmdb

    report = manifest_to_lmdb(args.manifest, args.root, args.out, verify_ids=args.verify_ids,
                              append=args.append)
    return _conversion_status(report)


def run_lmdb2manifest(args: argparse.Namespace) -> int:
    """Run ``mstr data lmdb2manifest``."""
    from mstr.data.convert import lmdb_to_manifest

    report = lmdb_to_manifest(args.lmdb, args.out, args.dataset, lang=args.lang)
    return _conversion_status(report)


def _parse_langs(spec: str | None) -> list[str] | None:
    if spec is None:
        return None
    from mstr.charsets import parse_langs

    return list(parse_langs(spec))
