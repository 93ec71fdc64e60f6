"""The frozen prototype bank: one L2-normalised vector per (script, character), plus the specials.

Every character the models can read is a row of the bank (its token table:
:mod:`mstr.bank.entries`). Row order is deterministic, and a bank only ever grows at the end
(:meth:`Bank.extend`), so token ids stay valid for a model trained on an older bank. On disk a
bank is one folder (:mod:`mstr.bank.files`); loading with ``expected_fingerprint`` refuses any
other bank than the one a model was trained with.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from mstr.bank.entries import COMMON_SCRIPT, EOS_ID, PAD_ID, SPECIAL_SCRIPT, SPECIALS, BankEntry, bank_entries
from mstr.bank.files import REBUILD, bank_json, fingerprint_of, read_bank_files, write_bank
from mstr.charsets import load_charset
from mstr.errors import UserError
from mstr.text import normalize

__all__ = ["Bank", "check_vectors"]

_NORM_TOL = 1e-3


def check_vectors(vectors: Any, what: str = "vectors") -> torch.Tensor:
    """``vectors`` as a contiguous float32 CPU tensor [N, D]; a ValueError naming ``what`` otherwise."""
    if not isinstance(vectors, torch.Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(vectors).__name__}")
    if vectors.ndim != 2 or not vectors.is_floating_point():
        raise ValueError(f"{what} must be a floating-point [N, D] tensor, got "
                         f"{tuple(vectors.shape)} {vectors.dtype}")
    return vectors.detach().to(device="cpu", dtype=torch.float32).contiguous()


def _char_list(chars: Iterable[str]) -> str:
    return ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in chars)


class Bank:
    """Frozen prototypes ``vectors`` [N, D] (float32, unit rows) and their token table ``entries``.

    ``meta`` is a free-form JSON-able dict (e.g. which mCLIP built the bank); it travels with the
    bank but is not part of the fingerprint. Raises ``ValueError`` for an invalid bank.
    """

    def __init__(self, entries: Sequence[BankEntry], vectors: torch.Tensor,
                 meta: dict | None = None) -> None:
        entries = list(entries)
        if not all(isinstance(e, BankEntry) for e in entries):
            raise ValueError("entries must be BankEntry objects")
        vectors = check_vectors(vectors)
        if vectors.shape[0] != len(entries):
            raise ValueError(f"{len(entries)} entries but {vectors.shape[0]} vectors")
        if vectors.shape[1] < 1:
            raise ValueError("vectors must have dimension D >= 1")
        if [e.token for e in entries[:len(SPECIALS)]] != list(SPECIALS):
            raise ValueError(f"rows 0..{len(SPECIALS) - 1} must be the specials "
                             f"{', '.join(SPECIALS)}")
        if not torch.isfinite(vectors).all():
            bad = torch.nonzero(~torch.isfinite(vectors).all(dim=1)).flatten().tolist()
            raise ValueError(f"vectors hold NaN/inf in rows {bad[:10]}")
        norms = vectors.norm(dim=1)
        off = torch.nonzero((norms - 1).abs() > _NORM_TOL).flatten().tolist()
        if off:
            raise ValueError(f"vectors must be L2-normalised; rows {off[:10]} have norms "
                             f"{[round(float(norms[i]), 4) for i in off[:10]]}")
        index: dict[tuple[str, str], int] = {}
        for i, e in enumerate(entries):
            if e.key in index:
                raise ValueError(f"duplicate bank entry {e.key} at rows {index[e.key]} and {i}")
            index[e.key] = i
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
        try:
            meta = json.loads(json.dumps(meta))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"meta must be JSON-serialisable: {exc}") from None
        self.entries: tuple[BankEntry, ...] = tuple(entries)
        self.vectors: torch.Tensor = vectors.clone()  # owned: callers' tensors stay theirs
        self.meta: dict = meta
        self._index = index
        scripts: dict[str, None] = {}
        for e in entries:
            scripts.setdefault(e.script, None)
        self._scripts = list(scripts)
        self._lang_script: dict[str, str] = {}
        for e in entries:
            if e.script not in (COMMON_SCRIPT, SPECIAL_SCRIPT):
                for lang in e.langs:
                    self._lang_script.setdefault(lang, e.script)

    # -- basics ------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """D, the embedding dimension."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return (f"Bank({len(self)} entries, dim={self.dim}, langs={','.join(self.langs())}, "
                f"fingerprint={self.fingerprint()[:12]})")

    def fingerprint(self) -> str:
        """SHA-256 hex of the ordered entries and the vectors (see :func:`fingerprint_of`)."""
        return fingerprint_of(self.entries, self.vectors)

    def index(self, token: str, script: str) -> int | None:
        """Row of the entry ``(script, token)``, or None."""
        return self._index.get((script, token))

    def langs(self) -> list[str]:
        """Every language named by an entry, sorted."""
        return sorted({lang for e in self.entries for lang in e.langs})

    def lang_script(self, lang: str) -> str:
        """The script of ``lang``'s own entries (from the bank, else from its charset)."""
        script = self._lang_script.get(lang)
        if script is None:
            script = load_charset(lang).script
        return script

    # -- text <-> ids --------------------------------------------------------------------------

    def try_encode(self, text: str, lang: str) -> tuple[list[int] | None, list[str]]:
        """``(ids, [])`` for ``normalize(text)``, or ``(None, missing characters)``; never raises
        for characters outside the bank (an unknown ``lang`` is still a UserError).

        Each code point maps to the entry of ``lang``'s script, else to the shared ``Zyyy`` one.
        No EOS or padding is added.
        """
        script = self.lang_script(lang)
        ids: list[int] = []
        missing: dict[str, None] = {}
        for ch in normalize(text):
            i = self._index.get((script, ch))
            if i is None:
                i = self._index.get((COMMON_SCRIPT, ch))
            if i is None:
                missing.setdefault(ch, None)
            else:
                ids.append(i)
        if missing:
            return None, list(missing)
        return ids, []

    def encode(self, text: str, lang: str) -> list[int]:
        """Token ids of ``normalize(text)`` read as language ``lang`` (see :meth:`try_encode`).

        Raises UserError listing the characters the bank lacks.
        """
        ids, missing = self.try_encode(text, lang)
        if ids is None:
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise UserError(
                f"cannot encode {shown!r} as {lang!r}: {len(missing)} character(s) not in the bank "
                f"({self.lang_script(lang)} or {COMMON_SCRIPT}): {_char_list(missing)}; the bank "
                f"covers {', '.join(self.langs()) or 'no language'} — build the bank with "
                f"{lang!r} (or extend it with Bank.new_entries_for), or fix the label")
        return ids

    def decode(self, ids: Iterable[int], stop_at_eos: bool = True) -> str:
        """Concatenated tokens of ``ids``; stops at the first EOS (when ``stop_at_eos``), skips
        PAD (and EOS when not stopping)."""
        out: list[str] = []
        n = len(self.entries)
        for raw in ids:
            i = int(raw)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} out of range for a bank of {n} entries")
            if i == EOS_ID:
                if stop_at_eos:
                    break
                continue
            if i == PAD_ID:
                continue
            out.append(self.entries[i].token)
        return "".join(out)

    # -- scripts -------------------------------------------------------------------------------

    def scripts(self) -> list[str]:
        """Every script of the bank's rows, in order of first appearance (``Zzzz``, ``Zyyy``,
        then the language scripts)."""
        return list(self._scripts)

    def script_ids(self) -> torch.Tensor:
        """LongTensor [N]: each row's index into :meth:`scripts`."""
        pos = {s: i for i, s in enumerate(self._scripts)}
        return torch.tensor([pos[e.script] for e in self.entries], dtype=torch.long)

    def script_specific_mask(self) -> torch.Tensor:
        """BoolTensor [N]: True for rows that vote on the script (neither Common nor special)."""
        return torch.tensor([e.script not in (COMMON_SCRIPT, SPECIAL_SCRIPT)
                             for e in self.entries], dtype=torch.bool)

    def script_vote(self, ids: Iterable[int]) -> str | None:
        """The script holding most of the retrieved script-specific entries ``ids``.

        Common entries and specials abstain; a tie goes to the script earliest in bank order;
        None when nothing votes.
        """
        votes: Counter[str] = Counter()
        n = len(self.entries)
        for raw in ids:
            i = int(raw)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} out of range for a bank of {n} entries")
            script = self.entries[i].script
            if script not in (COMMON_SCRIPT, SPECIAL_SCRIPT):
                votes[script] += 1
        if not votes:
            return None
        top = max(votes.values())
        return next(s for s in self._scripts if votes.get(s) == top)

    # -- growing -------------------------------------------------------------------------------

    def new_entries_for(self, langs: str | Sequence[str]) -> list[BankEntry]:
        """The entries :func:`bank_entries` (``langs``) holds that this bank lacks (by key), in
        that order: what :meth:`extend` needs to add a language."""
        return [e for e in bank_entries(langs) if e.key not in self._index]

    def extend(self, entries: Sequence[BankEntry], vectors: torch.Tensor, *,
               meta: dict | None = None) -> "Bank":
        """A new bank with ``entries`` (vectors [len(entries), D], unit rows) appended.

        Existing rows keep their index and their vector bit for bit. An entry whose key is
        already in the bank (or earlier in ``entries``) is not appended: its ``langs`` are merged
        into the existing entry and its vector row is ignored — so passing the full
        ``bank_entries(langs)`` also records the new language on shared entries (note that a
        langs change changes the fingerprint). ``meta`` replaces the bank's meta when given.
        Raises ValueError when ``vectors`` does not match ``entries`` or ``dim``.
        """
        entries = list(entries)
        vectors = check_vectors(vectors)
        if vectors.shape[0] != len(entries):
            raise ValueError(f"{len(entries)} new entries but {vectors.shape[0]} vectors")
        if vectors.shape[1] != self.dim:
            raise ValueError(f"new vectors have dimension {vectors.shape[1]}, the bank {self.dim}")
        table = list(self.entries)
        index = dict(self._index)
        rows: list[int] = []
        for j, e in enumerate(entries):
            if not isinstance(e, BankEntry):
                raise ValueError(f"new entry {j} is not a BankEntry: {e!r}")
            i = index.get(e.key)
            if i is None:
                index[e.key] = len(table)
                table.append(e)
                rows.append(j)
            elif not set(e.langs) <= set(table[i].langs):
                old = table[i]
                table[i] = BankEntry(old.token, old.script, old.langs + e.langs, old.subtype)
        new = torch.cat([self.vectors, vectors[rows]], dim=0) if rows else self.vectors
        return Bank(table, new, self.meta if meta is None else meta)

    # -- disk ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The content of ``bank.json``."""
        return bank_json(self.entries, self.vectors, self.meta)

    def save(self, folder: str | Path) -> None:
        """Write ``folder/bank.safetensors`` and ``folder/bank.json`` (each atomically)."""
        write_bank(folder, self.to_json(), self.vectors)

    @classmethod
    def load(cls, folder: str | Path, *, expected_fingerprint: str | None = None) -> "Bank":
        """Read a bank folder written by :meth:`save` (``bank.json`` + ``bank.safetensors``).

        Raises UserError naming the file and the fix for missing or unreadable files, an
        unknown format version, a table that does not match the vectors, files altered since
        they were written, and — with ``expected_fingerprint`` — a bank other than the expected.
        """
        folder, entries, vectors, meta, actual_fp = read_bank_files(folder)
        try:
            bank = cls(entries, vectors, meta)
        except ValueError as exc:
            raise UserError(f"bank {folder} is invalid: {exc}; {REBUILD}") from None
        if expected_fingerprint is not None and actual_fp != expected_fingerprint:
            raise UserError(f"this bank was not the one the model was trained with: {folder} has "
                            f"fingerprint {actual_fp[:12]}…, the model expects "
                            f"{expected_fingerprint[:12]}…; use the bank saved with the model "
                            "(its bundle's bank folder), or retrain the model on this bank")
        return bank
