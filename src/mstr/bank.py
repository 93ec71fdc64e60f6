"""The frozen prototype bank: one L2-normalised vector per (script, character), plus the specials.

Every character the models can read is a row of the bank. Script-specific characters get one
entry per (script, code point) — Hindi and Marathi share the Devanagari entries, Bengali and
Assamese the Bengali ones — and characters a charset lists under ``common`` (ASCII digits and
punctuation, dandas, ₹ …) get ONE shared entry of script ``Zyyy`` (Unicode's "Common").
Rows 0 and 1 are always the specials ``<eos>`` and ``<pad>`` (script ``Zzzz``).

Row order (see :func:`bank_entries`) is deterministic, and a bank only ever grows at the end
(:meth:`Bank.extend`), so token ids stay valid for a model trained on an older bank.

On disk a bank is one folder::

    bank.safetensors   tensor "vectors", float32 [N, D]
    bank.json          format version, dim, the ordered entries, meta, fingerprint

The fingerprint (:func:`fingerprint_of`) is a SHA-256 over the ordered entry table and the
vector bytes; a model records the fingerprint of the bank it was trained with, and loading with
``expected_fingerprint`` refuses any other bank. Only safetensors is read (never pickle).

Importing this module does no work.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable, Sequence

import numpy as np
import torch

from mstr.charsets import load_charset, parse_langs
from mstr.errors import UserError
from mstr.text import normalize

__all__ = [
    "SPECIALS", "EOS_ID", "PAD_ID", "COMMON_SCRIPT", "SPECIAL_SCRIPT", "SUBTYPES",
    "FORMAT", "FORMAT_VERSION", "VECTORS_FILE", "TABLE_FILE",
    "BankEntry", "Bank", "bank_entries", "build_bank", "entry_key", "fingerprint_of",
]

SPECIALS: tuple[str, ...] = ("<eos>", "<pad>")
EOS_ID = 0
PAD_ID = 1
COMMON_SCRIPT = "Zyyy"
SPECIAL_SCRIPT = "Zzzz"
SUBTYPES: tuple[str, ...] = ("letter", "diacritic", "digit", "punctuation", "special")

FORMAT = "mstr-bank"
FORMAT_VERSION = 1
VECTORS_FILE = "bank.safetensors"
TABLE_FILE = "bank.json"
_TENSOR_NAME = "vectors"
_NORM_TOL = 1e-3


# --------------------------------------------------------------------------------------------
# entries
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BankEntry:
    """One row of the bank's token table.

    ``token`` is one NFKD code point (or a name from :data:`SPECIALS`); ``script`` the ISO 15924
    code of the entry (the language's script, ``Zyyy`` for shared common characters, ``Zzzz`` for
    specials); ``langs`` the languages whose charset holds it (stored sorted and unique);
    ``subtype`` one of :data:`SUBTYPES`.
    """

    token: str
    script: str
    langs: tuple[str, ...]
    subtype: str

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token:
            raise ValueError(f"bank entry token must be a non-empty string, got {self.token!r}")
        if not isinstance(self.script, str) or len(self.script) != 4:
            raise ValueError(f"bank entry {self.token!r}: script must be an ISO 15924 code, "
                             f"got {self.script!r}")
        if self.subtype not in SUBTYPES:
            raise ValueError(f"bank entry {self.token!r}: subtype {self.subtype!r} is not one of "
                             f"{', '.join(SUBTYPES)}")
        if isinstance(self.langs, str) or not all(isinstance(x, str) for x in self.langs):
            raise ValueError(f"bank entry {self.token!r}: langs must be a sequence of language "
                             f"codes, got {self.langs!r}")
        is_special = self.token in SPECIALS
        if is_special != (self.script == SPECIAL_SCRIPT) or is_special != (self.subtype == "special"):
            raise ValueError(f"bank entry {self.token!r} ({self.script}, {self.subtype}): only the "
                             f"specials {', '.join(SPECIALS)} have script {SPECIAL_SCRIPT} and "
                             "subtype 'special'")
        if not is_special and (len(self.token) != 1
                               or unicodedata.normalize("NFKD", self.token) != self.token):
            raise ValueError(f"bank entry {self.token!r}: must be one NFKD-stable code point")
        object.__setattr__(self, "langs", tuple(sorted(set(self.langs))))

    @property
    def key(self) -> tuple[str, str]:
        """``(script, token)``: unique within a bank."""
        return (self.script, self.token)

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "script": self.script, "langs": list(self.langs),
                "subtype": self.subtype}


def _special_entries() -> list[BankEntry]:
    return [BankEntry(name, SPECIAL_SCRIPT, (), "special") for name in SPECIALS]


def entry_key(ch: str, charset: Any, common: Collection[str] | None = None) -> tuple[str, str]:
    """The bank key ``(script, token)`` of a character of ``charset``: the shared Common entry
    when the character is listed under ``common`` (default: the charset's own ``common``), else
    the entry of the charset's script."""
    return (COMMON_SCRIPT, ch) if ch in (charset.common if common is None else common) else (charset.script, ch)


def bank_entries(langs: str | Sequence[str]) -> list[BankEntry]:
    """The ordered token table for ``langs`` (codes or presets, see :func:`parse_langs`).

    Order: the specials; then the Common (``Zyyy``) entries in code-point order; then the
    script-specific entries grouped by script, scripts in the order they first appear in
    ``langs``, code-point order inside a script. A character held by several languages of the
    same script is one entry listing all of them; a character any charset lists under
    ``common`` is the one shared ``Zyyy`` entry, whichever language holds it.
    """
    charsets = [load_charset(lang) for lang in parse_langs(langs)]
    common = set().union(*(cs.common for cs in charsets))
    langs_of: dict[tuple[str, str], set[str]] = {}
    subtype_of: dict[tuple[str, str], tuple[str, str]] = {}  # key -> (subtype, first lang)
    script_order: dict[str, None] = {}
    for cs in charsets:
        script_order.setdefault(cs.script, None)
        for ch in cs.chars():
            key = entry_key(ch, cs, common)
            langs_of.setdefault(key, set()).add(cs.lang)
            sub = cs.subtype(ch)
            first = subtype_of.setdefault(key, (sub, cs.lang))
            if first[0] != sub:
                raise UserError(f"charsets disagree on {ch!r} (U+{ord(ch):04X}): {first[1]!r} "
                                f"calls it a {first[0]}, {cs.lang!r} a {sub}; fix one charset file")

    def group(script: str) -> list[BankEntry]:
        keys = sorted((k for k in langs_of if k[0] == script), key=lambda k: ord(k[1]))
        return [BankEntry(ch, script, tuple(langs_of[(s, ch)]), subtype_of[(s, ch)][0])
                for s, ch in keys]

    out = _special_entries() + group(COMMON_SCRIPT)
    for script in script_order:
        out += group(script)
    return out


# --------------------------------------------------------------------------------------------
# fingerprint
# --------------------------------------------------------------------------------------------

def _table_bytes(entries: Sequence[BankEntry]) -> bytes:
    rows = [[e.token, e.script, list(e.langs), e.subtype] for e in entries]
    return json.dumps(rows, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def fingerprint_of(entries: Sequence[BankEntry], vectors: torch.Tensor) -> str:
    """SHA-256 hex of the ordered entries (token, script, langs, subtype) and the vectors.

    The vectors enter as float32 little-endian bytes, row-major, after their shape; ``meta`` is
    not part of it.
    """
    array = np.ascontiguousarray(vectors.detach().cpu().to(torch.float32).numpy(), dtype="<f4")
    h = hashlib.sha256()
    h.update(f"{FORMAT}/{FORMAT_VERSION}\n".encode("ascii"))
    h.update(_table_bytes(entries))
    h.update(f"\n{array.shape[0]}x{array.shape[1] if array.ndim == 2 else -1}\n".encode("ascii"))
    h.update(array.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# the bank
# --------------------------------------------------------------------------------------------

def _check_vectors(vectors: Any, what: str = "vectors") -> torch.Tensor:
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
        vectors = _check_vectors(vectors)
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
        vectors = _check_vectors(vectors)
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
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "size": len(self),
            "fingerprint": self.fingerprint(),
            "entries": [e.to_dict() for e in self.entries],
            "meta": self.meta,
        }

    def save(self, folder: str | Path) -> None:
        """Write ``folder/bank.safetensors`` and ``folder/bank.json`` (each atomically)."""
        from safetensors.torch import save as st_save

        from mstr.atomic import write_atomic

        folder = Path(folder)
        table = self.to_json()
        blob = st_save({_TENSOR_NAME: self.vectors.contiguous()},
                       metadata={"format": FORMAT, "fingerprint": table["fingerprint"]})
        text = json.dumps(table, ensure_ascii=False, indent=1) + "\n"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / VECTORS_FILE, blob)
            write_atomic(folder / TABLE_FILE, text.encode("utf-8"))
        except OSError as exc:
            raise UserError(f"cannot write the bank to {folder}: {exc}") from None

    @classmethod
    def load(cls, folder: str | Path, *, expected_fingerprint: str | None = None) -> "Bank":
        """Read a bank folder written by :meth:`save` (``bank.json`` + ``bank.safetensors``).

        Raises UserError naming the file and the fix for missing or unreadable files, an
        unknown format version, a table that does not match the vectors, files altered since
        they were written, and — with ``expected_fingerprint`` — a bank other than the expected.
        """
        from safetensors.torch import load as st_load

        folder = Path(folder)
        if folder.is_file() and folder.name in (TABLE_FILE, VECTORS_FILE):
            folder = folder.parent
        rebuild = "rebuild it with `mstr bank`, or use the bank folder of the model bundle"
        if not folder.is_dir():
            raise UserError(f"bank folder {folder} does not exist (a bank is a folder holding "
                            f"{TABLE_FILE} and {VECTORS_FILE}); {rebuild}")
        table_path, vectors_path = folder / TABLE_FILE, folder / VECTORS_FILE
        for path in (table_path, vectors_path):
            if not path.is_file():
                raise UserError(f"bank file {path} is missing; {rebuild}")
        try:
            table = json.loads(table_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"bank file {table_path} is not readable JSON ({exc}); {rebuild}") from None
        entries, meta, stored_fp = _parse_table(table, table_path, rebuild)
        try:
            blob = st_load(vectors_path.read_bytes())
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise UserError(f"bank file {vectors_path} is not a readable safetensors file "
                            f"({exc}); {rebuild}") from None
        vectors = blob.get(_TENSOR_NAME)
        if vectors is None:
            raise UserError(f"bank file {vectors_path} has no tensor {_TENSOR_NAME!r} "
                            f"(found: {', '.join(sorted(blob)) or 'none'}); {rebuild}")
        if vectors.dtype != torch.float32 or vectors.ndim != 2:
            raise UserError(f"bank file {vectors_path}: {_TENSOR_NAME!r} must be float32 [N, D], "
                            f"got {vectors.dtype} {tuple(vectors.shape)}; {rebuild}")
        if vectors.shape[0] != len(entries) or vectors.shape[1] != table.get("dim"):
            raise UserError(f"bank {folder}: {TABLE_FILE} lists {len(entries)} entries of dim "
                            f"{table.get('dim')} but {VECTORS_FILE} holds {tuple(vectors.shape)}; "
                            f"the two files do not belong together — {rebuild}")
        actual_fp = fingerprint_of(entries, vectors)
        if actual_fp != stored_fp:
            raise UserError(f"bank {folder}: the fingerprint stored in {TABLE_FILE} "
                            f"({stored_fp[:12]}…) does not match the files ({actual_fp[:12]}…): "
                            f"{VECTORS_FILE} or {TABLE_FILE} was altered or comes from another "
                            f"bank; restore both files together, or {rebuild}")
        try:
            bank = cls(entries, vectors, meta)
        except ValueError as exc:
            raise UserError(f"bank {folder} is invalid: {exc}; {rebuild}") from None
        if expected_fingerprint is not None and actual_fp != expected_fingerprint:
            raise UserError(f"this bank was not the one the model was trained with: {folder} has "
                            f"fingerprint {actual_fp[:12]}…, the model expects "
                            f"{expected_fingerprint[:12]}…; use the bank saved with the model "
                            "(its bundle's bank folder), or retrain the model on this bank")
        return bank


def _parse_table(table: Any, path: Path, rebuild: str) -> tuple[list[BankEntry], dict, str]:
    def bad(what: str) -> UserError:
        return UserError(f"bank file {path}: {what}; {rebuild}")

    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise bad(f"not an mstr bank table (expected \"format\": \"{FORMAT}\")")
    version = table.get("format_version")
    if version != FORMAT_VERSION:
        raise bad(f"unknown format version {version!r} (this mstr reads version "
                  f"{FORMAT_VERSION}; upgrade mstr if the bank is newer)")
    raw = table.get("entries")
    if not isinstance(raw, list):
        raise bad("'entries' must be a list")
    entries: list[BankEntry] = []
    for i, item in enumerate(raw):
        try:
            if not isinstance(item, dict) or set(item) != {"token", "script", "langs", "subtype"}:
                raise ValueError("expected an object with token, script, langs, subtype")
            if not isinstance(item["langs"], list):
                raise ValueError("langs must be a list")
            entries.append(BankEntry(item["token"], item["script"], tuple(item["langs"]),
                                     item["subtype"]))
        except (ValueError, TypeError) as exc:
            raise bad(f"entry {i} is invalid: {exc}") from None
    meta = table.get("meta", {})
    if not isinstance(meta, dict):
        raise bad("'meta' must be an object")
    fp = table.get("fingerprint")
    if not isinstance(fp, str):
        raise bad("'fingerprint' is missing")
    if not isinstance(table.get("dim"), int):
        raise bad("'dim' must be an integer")
    return entries, meta, fp


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------

def build_bank(entries: Sequence[BankEntry], text_vectors: torch.Tensor, *,
               image_centroids: torch.Tensor | None = None, alpha: float = 0.0,
               meta: dict | None = None) -> Bank:
    """A bank whose prototypes blend the text tower with image-tower centroids.

    ``text_vectors`` [N, D]: the text-tower embedding of each entry's prompt.
    ``image_centroids`` [N, D] (optional): the mean image embedding of each entry's crops; a row
    of NaN means "no crops" and that entry keeps its text vector. Both are L2-normalised per
    row, then ``prototype = normalise((1 - alpha) * text + alpha * centroid)``. Specials always
    use their text vectors. ``meta`` gains a ``"prototypes"`` record (alpha, counts) unless it
    already has one. Raises ValueError for bad shapes, alpha outside [0, 1], or non-finite input.
    """
    entries = list(entries)
    text = _check_vectors(text_vectors, "text_vectors")
    if text.shape[0] != len(entries):
        raise ValueError(f"{len(entries)} entries but {text.shape[0]} text vectors")
    if not torch.isfinite(text).all():
        raise ValueError("text_vectors hold NaN/inf")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if alpha > 0 and image_centroids is None:
        raise ValueError("alpha > 0 needs image_centroids")
    text = _unit_rows(text, entries, "text vector")
    out = text.clone()
    blended = 0
    if image_centroids is not None and alpha > 0:
        cent = _check_vectors(image_centroids, "image_centroids")
        if cent.shape != text.shape:
            raise ValueError(f"image_centroids {tuple(cent.shape)} must match text_vectors "
                             f"{tuple(text.shape)}")
        empty = torch.isnan(cent).all(dim=1)
        special = torch.tensor([e.subtype == "special" for e in entries], dtype=torch.bool)
        use = ~empty & ~special
        if not torch.isfinite(cent[use]).all():
            raise ValueError("image_centroids rows must be finite or entirely NaN (no crops)")
        if use.any():
            rows = torch.nonzero(use).flatten()
            cent_unit = _unit_rows(cent[rows], [entries[int(i)] for i in rows], "image centroid")
            mix = (1.0 - alpha) * text[rows] + alpha * cent_unit
            out[rows] = _unit_rows(mix, [entries[int(i)] for i in rows], "blended prototype")
            blended = int(rows.numel())
    meta = dict(meta or {})
    meta.setdefault("prototypes", {"alpha": alpha, "image_centroid_entries": blended,
                                   "text_only_entries": len(entries) - blended})
    return Bank(entries, out, meta)


def _unit_rows(x: torch.Tensor, entries: Sequence[BankEntry], what: str) -> torch.Tensor:
    norms = x.norm(dim=1, keepdim=True)
    zero = torch.nonzero(norms.flatten() < 1e-12).flatten().tolist()
    if zero:
        raise ValueError(f"{what} of {[entries[i].key for i in zero[:5]]} has zero length")
    return x / norms
