"""``mstr read``: read the text of word images with a model bundle.

Each image gives one line on stdout, in the order given::

    path<TAB>text<TAB>confidence<TAB>script

(confidence with 3 decimals; script "-" when none was detected; empty text for a blank image),
or with ``--json`` one JSON object per line: ``{"path": …, "text", "confidence", "script",
"chars", "topk", "error", "no_text"}`` — one per image, a file that could not be read included
(with its ``error``), so the lines match the inputs one to one. A folder argument reads the image
files directly inside it, sorted by name. A file that cannot be read (missing, corrupt, empty,
zero-size, too large) prints one line on stderr naming it and the reason; the other files are
still read and the exit status is 1 (0 when all were read).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from mstr.cli.options import add_bundle, add_json, add_reading, add_runtime, load_reader
from mstr.errors import UserError

#: file name extensions a folder argument is searched for (lower-case)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pbm", ".pnm", ".jp2", ".j2k", ".jfif"})

_EPILOG = """\
Output, one line per image, in argument order (folders expanded to their image files, sorted):
  path<TAB>text<TAB>confidence<TAB>script
    text        the word read, normalised (Unicode NFKD, no whitespace)
    confidence  0..1, the product of the per-character probabilities, 3 decimals
    script      ISO 15924 code of the script read (Latn, Deva, Beng, Taml, ...), "-" if none
A blank image (one colour) gives empty text, confidence 0.000: no text.
With --json: one JSON object per line and image with "path" and the full prediction ("text",
"confidence", "script", "chars" = per-character probabilities, "topk" = the Spotter's
alternatives per position, "error" = why the file could not be read, else null, "no_text" =
true for a blank image).
Files that cannot be read are reported on stderr ("mstr read: PATH: reason") and have no TSV
line (a JSON line with "error"); the exit status is then 1. Without --bundle the shipped
default model is used.

  mstr read word.png crops/ --bundle runs/bundle
  mstr read crops/ --json > predictions.jsonl
  mstr read hindi_crops/ --lang hi           (read Hindi only: Devanagari + digits, punctuation)
  mstr read crops/ --lexicon words.txt       (closest listed word; JSON "lexicon_from" = the reading)
  mstr read shop.jpg --photo --overlay out/  (a whole photo: detect lines, split words, read them)"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("read", help="read word images (prints path, text, confidence, script)",
                       description="Read the text of cropped word images.", epilog=_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMG",
                   help="image files, or folders whose image files are read")
    add_bundle(p, "model bundle folder (default: the model shipped with mstr)")
    add_json(p, "one JSON object per line")
    add_reading(p, no_refiner_help="read with the Spotter alone (faster, less accurate)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--photo", dest="mode", action="store_const", const="photo", default="auto",
                      help="read every image as a whole photo (detect lines, split words, read them)")
    mode.add_argument("--word", dest="mode", action="store_const", const="word",
                      help="read every image as one word crop (default: auto, photos when much larger than a word)")
    p.add_argument("--overlay", type=Path, default=None, metavar="DIR",
                   help="with photos: write DIR/<name>.overlay.png with the words drawn on the photo")
    add_runtime(p, workers_help="read with N processes (torch backend, CPU), each with a share of torch's threads: "
                                "faster on a few cores for many images; starting them takes a few seconds (default 1)",
                device_help="torch device: cpu (default), cuda, cuda:1 …")
    p.set_defaults(func=run)


def expand_paths(items: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """``(path, problem)`` per image to read: files as given, folders expanded (sorted).

    ``problem`` is None for a file to try, or why a path gives nothing (missing, empty folder).
    """
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                yield item, ("folder holds no image files (" +
                             ", ".join(sorted(IMAGE_EXTENSIONS)) + ")")
            for file in files:
                yield str(file), None
        elif not path.exists():
            yield item, "no such file; check the path"
        else:
            yield item, None


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    from mstr.reading.parallel import close_reader, fit_workers

    items = list(expand_paths(args.images))
    workers, note = fit_workers(args.workers, sum(problem is None for _, problem in items))
    if note:
        print(f"mstr read: {note}", file=sys.stderr, flush=True)
    recognizer = load_reader(args, device=args.device, workers=workers)
    try:
        if args.lang is not None:
            recognizer.lang_mask(args.lang)  # an unknown code fails before any image is read
        return _read_all(recognizer, items, args)
    finally:
        close_reader(recognizer)


def _is_photo(mode: str, path: str) -> bool:
    """Whether ``path`` is read as a whole photo: always with ``--photo``, by its size (read from the
    header, nothing decoded) in auto mode; an unreadable file is left to ``read`` to report."""
    if mode == "photo":
        return True
    if mode == "word":
        return False
    from PIL import Image

    from mstr.cli.read_photo import wants_photo

    try:
        with Image.open(path) as image:
            return wants_photo(mode, image)
    except Exception:  # noqa: BLE001 - the reader reports the file's problem with its name
        return False


def _read_all(recognizer: Any, items: list[tuple[str, str | None]], args: argparse.Namespace) -> int:
    """Read ``items`` (``(path, problem)``) a batch at a time, printing one result per image in
    argument order; whole photos are read (and printed) as they come."""
    import json

    from mstr.cli.read_photo import print_photo
    from mstr.images import BadImage, load_image
    from mstr.reading.prediction import Prediction

    failed = 0
    pending: list[tuple[str, str | None]] = []

    def emit(path: str, prediction: Any) -> None:
        nonlocal failed
        if prediction.error:
            failed += 1
            print(f"mstr read: {prediction.error}", file=sys.stderr, flush=True)
        if args.json:
            print(json.dumps({"path": path, **prediction.to_dict()}, ensure_ascii=False))
        elif not prediction.error:
            script = prediction.script or "-"
            print(f"{path}\t{prediction.text}\t{prediction.confidence:.3f}\t{script}")

    def failure(path: str, problem: str) -> Prediction:
        return Prediction(text="", confidence=0.0, script=None, error=f"{path}: {problem}")

    def flush() -> None:
        paths = [path for path, problem in pending if problem is None]
        hint = {"langs": args.lang} if args.lang is not None else {}
        predictions = iter(recognizer.read(paths, batch_size=args.batch_size, **hint) if paths else [])
        for path, problem in pending:
            emit(path, failure(path, problem) if problem is not None else next(predictions))
        sys.stdout.flush()
        pending.clear()

    for path, problem in items:
        if problem is None and _is_photo(args.mode, path):
            flush()  # keep the output in argument order
            try:
                image = load_image(path)
            except BadImage as exc:
                emit(path, failure(path, exc.problem))
                continue
            print_photo(recognizer, path, image, as_json=args.json, overlay=args.overlay, langs=args.lang)
            sys.stdout.flush()
            continue
        pending.append((path, problem))
        if len(pending) >= args.batch_size:
            flush()
    flush()
    return 1 if failed else 0
