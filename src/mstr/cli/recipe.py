"""``mstr recipe``: run a whole training recipe (data → Stage 1 → bank → Stage 2 → evaluation)."""
from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from mstr.cli.options import add_command_group


def _recipe_path(text: str) -> Path:
    p = Path(text)
    if p.suffix or p.exists():
        return p
    return Path(str(resources.files("mstr") / "configs" / "recipes" / f"{text}.yaml"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    ss = add_command_group(sub, "recipe", dest="recipe_command",
                           help="run a whole recipe end to end (data, both stages, evaluation)",
                           description="Run a recipe: every step is an ordinary mstr command, printed before it "
                                       "runs and skipped when its output exists (rerun the same command to resume). A "
                                       "finished step that is out of date (recipe edited, or an input remade) is "
                                       "reported and nothing runs until it is rerun with --force.")
    r = ss.add_parser("run", help="run the steps that are not done yet",
                      description="Run the steps of RECIPE that are not done yet, in order.\n\n"
                                  "  mstr recipe run 6lang                       # configs/recipes/6lang.yaml\n"
                                  "  mstr recipe run 1lang langs=hi work=runs/recipes/1lang-hi\n"
                                  "  mstr recipe run my.yaml --dry-run           # list the commands only",
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("recipe", type=_recipe_path,
                   help="a recipe YAML file, or the name of a shipped one (1lang, 3lang, 6lang, 7lang-kn)")
    r.add_argument("overrides", nargs="*", metavar="key=value", help="recipe overrides, e.g. work=runs/x langs=hi")
    r.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    r.add_argument("--force", action="append", default=[], metavar="STEP",
                   help="rerun STEP even if its output exists; its old output folder is moved to OUT.old (repeatable; "
                        "e.g. --force eval.synth-heldout). A finished step whose command changed, or whose input "
                        "is newer, stops the run until it is forced")
    r.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from mstr.recipe import load_recipe, missing_inputs, plan, run

    recipe = load_recipe(args.recipe, args.overrides)
    steps = plan(recipe)
    missing = missing_inputs(recipe)
    if missing and not args.dry_run:  # found now, not after hours of the steps before the one that needs it
        from mstr.errors import UserError

        raise UserError(f"{missing[0]}; nothing was run")
    rc = run(steps, dry_run=args.dry_run, force=tuple(args.force))
    for problem in missing:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if missing else rc
