"""The inputs of ``mstr eval mclip``: which languages to evaluate, and whether model and bank match.

:func:`pick_langs` checks the data folder and the ``--langs`` asked for against the bank and the
held-out LMDBs present; :func:`check_dims` refuses an mCLIP whose embedding size is not the bank's.
Both fail with one-line :class:`~mstr.errors.UserError`\\ s that say what to run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from mstr.errors import UserError
from mstr.eval.mclip_eval import missing_split_error, split_path

__all__ = ["pick_langs", "check_dims"]


def pick_langs(bank: Any, bank_dir: Path, data: Path, langs_spec: str | None, split: str, *,
               note: Callable[[str], None] = lambda message: None) -> list[str]:
    """The languages to evaluate: ``langs_spec`` (all in the bank, all with the split's LMDB), else
    the bank's languages whose LMDB is present (``note`` tells which were skipped)."""
    from mstr.charsets import parse_langs

    if not data.is_dir():
        raise UserError(f"data folder {data} does not exist; render held-out character crops "
                        f"with 'mstr synth chars --langs {','.join(bank.langs())} --n 2000 "
                        f"--fonts heldout --out {data}'")

    def present(lang: str) -> bool:
        return (split_path(data, lang, split) / "data.mdb").is_file()

    if langs_spec:
        langs = parse_langs(langs_spec)
        absent = [lang for lang in langs if lang not in bank.langs()]
        if absent:
            raise UserError(f"language(s) {', '.join(absent)} not in the bank {bank_dir} (it covers "
                            f"{', '.join(bank.langs()) or 'no language'}); drop them from --langs, "
                            "or build a bank with them ('mstr bank')")
        missing = [lang for lang in langs if not present(lang)]
        if missing:
            raise missing_split_error(data, missing, split)
        return langs
    langs = [lang for lang in bank.langs() if present(lang)]
    if not langs:
        raise missing_split_error(data, bank.langs(), split)
    skipped = [lang for lang in bank.langs() if lang not in langs]
    if skipped:
        note(f"note: no {split}_lmdb for {', '.join(skipped)} under {data}/LMDB; evaluating {', '.join(langs)}")
    return langs


def check_dims(model: Any, mclip_dir: Path, bank: Any, bank_dir: Path) -> None:
    """Refuse an mCLIP that embeds in another dimension than the bank's rows."""
    if int(model.cfg.dim) != bank.dim:
        raise UserError(f"the mCLIP in {mclip_dir} embeds in dimension {model.cfg.dim} but the bank "
                        f"{bank_dir} has dimension {bank.dim}: use the bank built from this mCLIP")
