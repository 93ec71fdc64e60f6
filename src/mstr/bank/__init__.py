"""The frozen prototype bank: one L2-normalised vector per (script, character), plus the specials.

* :mod:`mstr.bank.entries` — the token table: which characters are rows, their order and scripts;
* :mod:`mstr.bank.core` — :class:`Bank`: vectors + table, text ↔ ids, script votes, growing;
* :mod:`mstr.bank.files` — the folder on disk (``bank.json`` + ``bank.safetensors``), the fingerprint;
* :mod:`mstr.bank.build` — prototypes from an mCLIP (text tower, image centroids) or spread at random.

Importing this package does no work.
"""
from mstr.bank.build import (build_bank, build_from_mclip, extend_from_mclip, extend_spread, image_centroids,
                             spread_prototypes, text_prototypes)
from mstr.bank.core import Bank
from mstr.bank.entries import (COMMON_SCRIPT, EOS_ID, PAD_ID, SPECIAL_SCRIPT, SPECIALS, SUBTYPES, BankEntry,
                               bank_entries, entry_key)
from mstr.bank.files import FORMAT, FORMAT_VERSION, TABLE_FILE, VECTORS_FILE, fingerprint_of

__all__ = [
    "SPECIALS", "EOS_ID", "PAD_ID", "COMMON_SCRIPT", "SPECIAL_SCRIPT", "SUBTYPES",
    "FORMAT", "FORMAT_VERSION", "VECTORS_FILE", "TABLE_FILE",
    "BankEntry", "Bank", "bank_entries", "build_bank", "entry_key", "fingerprint_of",
    "text_prototypes", "image_centroids", "build_from_mclip", "spread_prototypes", "extend_spread",
    "extend_from_mclip",
]
