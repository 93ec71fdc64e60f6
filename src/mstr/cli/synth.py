"""``mstr synth``: fonts, previews, benchmark and sharded generation of synthetic data."""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from mstr.cli.options import add_command_group, add_json, int_pair
from mstr.errors import UserError

GEN_EPILOG = """\
Output layout: OUT/LMDB/<lang>/{train,val}_lmdb with training fonts, OUT/LMDB/<lang>/test_lmdb
with --fonts heldout (fonts never used for training). Keys: num-samples, image-%%09d (PNG),
label-%%09d (NFKD label), lang-%%09d. Sample g of a language depends only on (seed, kind, lang, g):
rerun the same command after an interruption to resume; the result is identical.
"""


#: --part K/M
_part = int_pair("/", "K/M such as 0/4")


def add_parser(sub: argparse._SubParsersAction) -> None:
    ss = add_command_group(sub, "synth", dest="synth_command",
                           help="synthetic data: fonts, previews, word/character LMDBs",
                           description="Render synthetic word images and character crops with shaped text.")

    f = ss.add_parser("fonts", help="print font coverage per language and the train/held-out split",
                      description="Discover installed fonts, check each font's coverage of each language's "
                                  "charset, and show the deterministic train / held-out split by design.")
    f.add_argument("--langs", default="13lang", help="languages, e.g. en,hi,ta or a preset 3lang/6lang/13lang")
    add_json(f, "print the split table as JSON")
    f.add_argument("--font-pool", type=Path, default=None, metavar="DIR",
                   help="summarise this font pool (built by `make fonts`) instead of system fonts "
                        "(default: $MSTR_FONT_POOL when set)")
    f.set_defaults(func=_fonts)

    for kind in ("words", "chars"):
        g = ss.add_parser(kind, help=f"generate {'word images' if kind == 'words' else 'single-character crops'} into LMDBs",
                          description=f"Generate synthetic {kind} (sharded, resumable, deterministic).",
                          epilog=GEN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        g.add_argument("--langs", required=True, help="languages, e.g. en,hi,bn or 3lang/6lang/13lang")
        g.add_argument("--n", type=int, required=True, help="samples per language")
        g.add_argument("--out", required=True, type=Path, help="output folder (created; resumed if it holds the same run)")
        g.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
        g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        g.add_argument("--fonts", choices=("train", "heldout", "all"), default="train",
                       help="training fonts (train/val LMDBs), held-out fonts (test LMDB), or every usable "
                            "font (train/val LMDBs: for a folder that holds training fonts only)")
        g.add_argument("--font-pool", type=Path, default=None, metavar="DIR",
                       help="draw fonts from this font pool (built by `make fonts`) with its split; "
                            "default: $MSTR_FONT_POOL when set, else system fonts")
        g.add_argument("--shard-size", type=int, default=2000, help="samples per shard LMDB (default 2000)")
        g.add_argument("--val-frac", type=float, default=0.02, help="share of samples in val_lmdb (default 0.02)")
        g.add_argument("--height", type=int, default=32, help="word image height in pixels (default 32)")
        g.add_argument("--char-size", type=int, default=32, help="character crop side in pixels (default 32)")
        g.add_argument("--no-augment", action="store_true", help="clean renders (no background, warps or effects)")
        _recipe_args(g)
        if kind == "words":
            g.add_argument("--vocab", choices=("v1", "v2"), default=None,
                           help="the words' vocabulary: v1 (dictionary words, numbers, punctuation, random "
                                "strings) or v2 (v1's plus shop signs, loanwords, names, phone numbers, "
                                "abbreviations, rare clusters); default: the recipe's")
        g.add_argument("--part", type=_part, default=(0, 1),
                       help="K/M: make only shards i with i %% M == K (spread over M machines), then 'mstr synth merge'")
        g.add_argument("--no-merge", action="store_true", help="stop after the shards (merge later)")
        g.set_defaults(func=_generate, kind=kind)

    m = ss.add_parser("merge", help="merge finished shards into the LMDB layout",
                      description="Merge OUT/shards/<lang>/shard-* (e.g. copied from several machines) "
                                  "into OUT/LMDB/<lang>/<split>_lmdb.")
    m.add_argument("out", type=Path, help="the --out folder of the generation")
    m.add_argument("--keep-shards", action="store_true", help="keep the shard LMDBs after merging")
    m.set_defaults(func=_merge)

    pv = ss.add_parser("preview", help="write a PNG grid of samples to look at",
                       description="Render samples and write a grid: each augmented sample beside a clean, "
                                   "large rendering of its label, to check shaping and augmentation by eye.")
    pv.add_argument("--lang", required=True, help="one language code, e.g. hi")
    pv.add_argument("--out", required=True, type=Path, help="PNG file to write")
    pv.add_argument("--kind", choices=("words", "chars"), default="words")
    pv.add_argument("--n", type=int, default=24, help="number of samples (default 24)")
    pv.add_argument("--seed", type=int, default=0)
    pv.add_argument("--fonts", choices=("train", "heldout"), default="train")
    pv.add_argument("--no-augment", action="store_true", help="clean renders only")
    pv.add_argument("--height", type=int, default=32, help="word image height in pixels (default 32)")
    _recipe_args(pv)
    pv.set_defaults(func=_preview)

    b = ss.add_parser("bench", help="measure rendering speed (samples/s on one core)",
                      description="Render N samples in this process (full augmentation, PNG encoding "
                                  "included) and report samples per second per worker.")
    b.add_argument("--langs", default="en,hi,ta", help="languages to measure (default en,hi,ta)")
    b.add_argument("--kind", choices=("words", "chars"), default="words")
    b.add_argument("--n", type=int, default=300, help="samples per language (default 300)")
    b.add_argument("--no-augment", action="store_true")
    b.add_argument("--height", type=int, default=32, help="word image height in pixels (default 32)")
    b.add_argument("--repeats", type=int, default=1, help="time the N samples this many times, report the fastest")
    _recipe_args(b)
    b.set_defaults(func=_bench)

    bg = ss.add_parser("backgrounds", help="build the background bank that --recipe v2 draws from",
                       description="Cut photo and texture tiles (JPEG, at most 192 px a side) from the wallpaper "
                                   "and pattern packages installed with apt ('make backgrounds' installs them), "
                                   "with bank.json and licences.json (package, file and licence of every source).")
    bg.add_argument("--out", required=True, type=Path, help="bank folder to write (its old tiles are replaced)")
    bg.add_argument("--max-mb", type=float, default=7.5, help="size budget of the tiles in MB (default 7.5)")
    bg.add_argument("--seed", type=int, default=0)
    bg.set_defaults(func=_backgrounds)


def _recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", choices=("v1", "v2"), default="v1",
                   help="rendering recipe: v1 (procedural backgrounds) or v2 (photo backgrounds, colours "
                        "from real crops, realism effects, legibility check; needs a background bank)")
    p.add_argument("--backgrounds", default=None, metavar="DIR",
                   help="recipe v2's background bank (default: $MSTR_BACKGROUNDS, else out/backgrounds)")
    p.add_argument("--effects", type=float, default=1.0, metavar="S",
                   help="recipe v2's effect strength, 0 to 2: each effect's probability (warps, outline, shadow, "
                        "neighbours, lighting, blur, noise, JPEG, ...) times S, capped at 1 (default 1: the recipe "
                        "as designed; 0: photo backgrounds and measured colours without effects)")


def _bank_path(args: argparse.Namespace) -> str | None:
    """The resolved bank folder for recipe v2 (a one-line UserError when there is none), else None."""
    if args.recipe != "v2" or getattr(args, "no_augment", False):
        return None
    from mstr.synth.bgbank import resolve_bank_dir

    return str(resolve_bank_dir(args.backgrounds))


def _backgrounds(args: argparse.Namespace) -> int:
    from mstr.synth.bgharvest import harvest

    harvest(args.out, max_bytes=int(args.max_mb * 1e6), seed=args.seed)
    return 0


def _fonts(args: argparse.Namespace) -> int:
    from mstr.charsets import parse_langs
    from mstr.fonts import pool as fontpool
    from mstr.synth import font_report

    langs = parse_langs(args.langs)
    if fontpool.resolve_pool(args.font_pool) is not None:
        fontpool.load_pool(args.font_pool)  # a missing or broken pool: one-line error
        print(font_report.pool_table(langs, args.font_pool))
    elif args.json:
        print(json.dumps(font_report.split_table(langs), indent=2, ensure_ascii=False))
    else:
        print(font_report.coverage_table(langs))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from mstr.synth.generate import GenSpec, generate

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from mstr.fonts.pool import POOL_ENV, load_pool, resolve_pool

    pool = resolve_pool(args.font_pool)  # --font-pool, else $MSTR_FONT_POOL, else None (system fonts)
    if pool is not None:  # fonts_for_lang reads it, in this process and the workers
        load_pool(pool)
        pool = pool.resolve()
        os.environ[POOL_ENV] = str(pool)
    spec = GenSpec(kind=args.kind, langs=tuple(args.langs.split(",")), n=args.n, seed=args.seed,
                   fonts=args.fonts, shard_size=args.shard_size, val_frac=args.val_frac,
                   height=args.height, char_size=args.char_size, augment=not args.no_augment,
                   recipe=args.recipe, backgrounds=_bank_path(args),
                   font_pool=str(pool) if pool is not None else None, effects=args.effects,
                   vocab=getattr(args, "vocab", None))
    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    report = generate(spec, args.out, workers=args.workers, part=args.part, merge_after=not args.no_merge)
    if "counts" in report:
        for lang, counts in report["counts"].items():
            print(f"{lang}\t" + "\t".join(f"{k}={v}" for k, v in counts.items()))
        print(f"wrote {args.out / 'LMDB'}")
    else:
        print(f"wrote {report['samples']} samples in {report['shards']} shard(s); run 'mstr synth merge {args.out}' "
              "once every part is in place")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from mstr.synth.generate import merge

    report = merge(args.out, keep_shards=args.keep_shards)
    for lang, counts in report["counts"].items():
        print(f"{lang}\t" + "\t".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _preview(args: argparse.Namespace) -> int:
    from mstr.synth.preview import preview_grid

    if args.n < 1:
        raise UserError("--n must be at least 1")
    img = preview_grid(args.lang, kind=args.kind, n=args.n, seed=args.seed, fonts=args.fonts,
                       augment=not args.no_augment, recipe=args.recipe, backgrounds=_bank_path(args),
                       height=args.height, effects=args.effects)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.save(args.out)
    print(f"wrote {args.out} ({img.width}x{img.height})")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import platform
    import os

    from mstr.charsets import parse_langs
    from mstr.synth.generate import bench

    bank = _bank_path(args)
    print(f"# mstr synth bench: one process, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, kind={args.kind}, augment={not args.no_augment}, recipe={args.recipe}, "
          f"effects={args.effects:g}, height={args.height}, fastest of {max(1, args.repeats)}")
    print("lang\tsamples\tseconds\tsamples/s/worker\tsamples/CPU-s")
    for lang in parse_langs(args.langs):
        r = bench(lang, kind=args.kind, n=args.n, augment=not args.no_augment, recipe=args.recipe,
                  backgrounds=bank, height=args.height, repeats=args.repeats, effects=args.effects)
        print(f"{lang}\t{r['n']}\t{r['seconds']:.2f}\t{r['per_second']:.0f}\t{r['cpu_per_second']:.0f}")
    return 0
