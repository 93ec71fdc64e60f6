"""A small rule-based transliterator from a hand-written phonetic key to Indian scripts.

Used only by ``tools/build_sign_vocab.py`` to write the signboard word lists: English loanwords
("medical" → मेडिकल, মেডিক্যাল, மெடிக்கல், మెడికల్, ಮೆಡಿಕಲ್, മെഡിക്കൽ), person, place and shop names.
The key spells how a word is *said* (as Indian signs write English words, by sound, not by
letters); per-language rules then apply each script's spelling habits.

Key alphabet (case matters; longest match first):

* vowels ``a A i I u U e E o O ai au R`` (short / long; ``e``, ``o`` are the short Dravidian
  vowels, ``E``, ``O`` the long ones; ``R`` vocalic r), and for English sounds ``ae`` (the æ of
  "bank"), ``aw`` (the ɔ of "doctor"), ``Ai`` (the aɪ of "mobile");
* consonants ``k kh g gh q c ch j jh Y T Th D Dh N t th d dh n p ph b bh m y r l L v w sh Sh s
  h f z rr zh`` (``q`` velar nasal ṅ, ``Y`` palatal nasal ñ, ``T D N`` retroflex, ``L`` retroflex
  lateral ळ/ള, ``rr`` alveolar ṟ, ``zh`` the Tamil / Malayalam ழ/ഴ);
* ``M`` anusvara, ``H`` visarga, and the literal punctuation ``. - ' &``;
* ``_`` a syllable boundary after a consonant whose inherent vowel Hindi, Marathi, Bengali,
  Gujarati and Odia write but do not say (रायपुर ``rAy_pur``, पटना ``paT_nA``): there the
  consonant keeps its inherent vowel instead of joining the next one; the Dravidian scripts
  write a virama (ராய்பூர்).

A consonant not followed by a vowel joins the next consonant (virama conjunct) or, at the end
of a word, stays vowel-less: no sign in Hindi, Marathi, Bengali (the inherent vowel is silent
there), a virama in Tamil, Telugu, Kannada, and a chillu (ൻ ൺ ർ ൽ ൾ), anusvara (ം, for m) or
virama in Malayalam.

Everything here is written for this project from general knowledge of the scripts.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["LANG_SCRIPT", "tokenize", "transliterate"]

LANG_SCRIPT = {"hi": "Deva", "mr": "Deva", "bn": "Beng", "as": "Beng", "gu": "Gujr",
               "or": "Orya", "ta": "Taml", "te": "Telu", "kn": "Knda", "ml": "Mlym"}
_OFFSET = {"Deva": 0, "Beng": 0x80, "Gujr": 0x180, "Orya": 0x200, "Taml": 0x280,
           "Telu": 0x300, "Knda": 0x380, "Mlym": 0x400}
_DRAVIDIAN = frozenset({"ta", "te", "kn", "ml"})

_VOWELS = ("ai", "au", "ae", "aw", "Ai", "a", "A", "i", "I", "u", "U", "e", "E", "o", "O", "R")
_CONS = ("kh", "gh", "ch", "jh", "Th", "Dh", "th", "dh", "ph", "bh", "sh", "Sh", "rr", "zh",
         "k", "g", "q", "c", "j", "Y", "T", "D", "N", "t", "d", "n", "p", "b", "m", "y", "r",
         "l", "L", "v", "w", "s", "h", "f", "z")
_SIGNS = ("M", "H")
_PUNCT = (".", "-", "'", "&", "_")
_TOKEN_RE = re.compile("|".join(re.escape(t) for t in sorted(
    (*_VOWELS, *_CONS, *_SIGNS, *_PUNCT), key=len, reverse=True)))

# Devanagari letters of the key's consonants (other scripts are reached by block offset).
_DEVA_CONS = {
    "k": "क", "kh": "ख", "g": "ग", "gh": "घ", "q": "ङ", "c": "च", "ch": "छ", "j": "ज",
    "jh": "झ", "Y": "ञ", "T": "ट", "Th": "ठ", "D": "ड", "Dh": "ढ", "N": "ण", "t": "त",
    "th": "थ", "d": "द", "dh": "ध", "n": "न", "p": "प", "ph": "फ", "b": "ब", "bh": "भ",
    "m": "म", "y": "य", "r": "र", "l": "ल", "L": "ळ", "v": "व", "w": "व", "sh": "श",
    "Sh": "ष", "s": "स", "h": "ह", "f": "फ", "z": "ज", "rr": "ऱ", "zh": "ऴ",
}
# (independent letter, sign) of each key vowel, in Devanagari; "" sign = inherent vowel.
_DEVA_VOWEL = {
    "a": ("अ", ""), "A": ("आ", "ा"), "i": ("इ", "ि"), "I": ("ई", "ी"), "u": ("उ", "ु"),
    "U": ("ऊ", "ू"), "e": ("ए", "े"), "E": ("ए", "े"), "o": ("ओ", "ो"), "O": ("ओ", "ो"),
    "ai": ("ऐ", "ै"), "au": ("औ", "ौ"), "R": ("ऋ", "ृ"),
    "ae": ("ऐ", "ै"), "aw": ("ऑ", "ॉ"), "Ai": ("आइ", "ाइ"),
}
# Dravidian scripts distinguish short e / o (ऎ ॆ, ऒ ॊ offsets) from long ones.
_DRAV_VOWEL = {**_DEVA_VOWEL, "e": ("ऎ", "ॆ"), "o": ("ऒ", "ॊ"), "Ai": ("ऐ", "ै")}
_STOPS = frozenset({"k", "kh", "g", "gh", "c", "ch", "j", "jh", "T", "Th", "D", "Dh", "t", "th",
                    "d", "dh", "p", "ph", "b", "bh"})
_NASALS = frozenset({"q", "Y", "N", "n", "m"})
_VOICELESS_STOPS = frozenset({"k", "T", "p", "c"})
VIRAMA, ANUSVARA, VISARGA, NUKTA = "्", "ं", "ः", "़"


def tokenize(key: str) -> list[str]:
    """The key split into its symbols; raises ValueError on a character outside the alphabet."""
    out, pos = [], 0
    for m in _TOKEN_RE.finditer(key):
        if m.start() != pos:
            raise ValueError(f"bad phonetic key {key!r} at {pos}: {key[pos:m.start()]!r}")
        out.append(m.group())
        pos = m.end()
    if pos != len(key):
        raise ValueError(f"bad phonetic key {key!r} at {pos}: {key[pos:]!r}")
    return out


def _kind(tok: str) -> str:
    if tok in _VOWELS:
        return "V"
    if tok in _DEVA_CONS:
        return "C"
    return "S" if tok in _SIGNS else "P"


class _Word:
    """One word as a list of [kind, token] items, with per-language spelling passes."""

    def __init__(self, tokens: list[str]):
        self.items = [[_kind(t), t] for t in tokens]

    def kind(self, i: int) -> str | None:
        return self.items[i][0] if 0 <= i < len(self.items) else None

    def tok(self, i: int) -> str | None:
        return self.items[i][1] if 0 <= i < len(self.items) else None


def _consonant(lang: str, tok: str, word: _Word, i: int, loan: bool) -> str:
    """The (Devanagari-coded) letter of consonant ``tok`` at position ``i`` for ``lang``.

    Letters absent from a script are replaced by the one its writers use; Tamil letters are
    returned in Tamil directly (the Devanagari offset would miss most of them)."""
    prev, nxt = word.tok(i - 1), word.tok(i + 1)
    if lang == "ta":
        return _tamil_consonant(tok, i, prev, nxt, loan)
    if tok == "f":
        return {"hi": "फ" + NUKTA}.get(lang, "फ")
    if tok == "z":
        return {"hi": "ज" + NUKTA, "mr": "झ", "ml": "स"}.get(lang, "ज")
    if tok == "rr":
        return "ऱ" if lang == "ml" else "र"
    if tok == "zh":
        return {"ml": "ऴ", "mr": "ळ", "te": "ळ", "kn": "ळ"}.get(lang, "ल")
    if tok == "L" and lang in ("hi", "bn", "as"):
        return "ल"
    if tok in ("v", "w") and lang in ("bn", "as"):
        return "भ" if loan and tok == "v" else "ब"
    if lang == "ml" and loan and tok == "T" and (prev in ("s", "n") or nxt is None):
        # English t: സ്റ്റോർ, സെന്റർ, ഇന്റർനെറ്റ്
        return "ऱ" if prev == "n" else "ऱ" + VIRAMA + "ऱ"
    if lang == "ml" and loan and tok == "r" and prev not in _DEVA_CONS:
        return "ऱ"  # English r before a vowel: റോഡ്, ബേക്കറി (a chillu ർ elsewhere)
    if lang == "or" and tok == "y":
        return "\u0b5f"  # Odia writes ya as ୟ (ଯ is read ja)
    return _DEVA_CONS[tok]


_TA_CONS = {
    "k": "க", "kh": "க", "g": "க", "gh": "க", "q": "ங", "c": "ச", "ch": "ச", "j": "ஜ",
    "jh": "ஜ", "Y": "ஞ", "T": "ட", "Th": "ட", "D": "ட", "Dh": "ட", "N": "ண", "t": "த",
    "th": "த", "d": "த", "dh": "த", "p": "ப", "ph": "ப", "b": "ப", "bh": "ப", "m": "ம",
    "y": "ய", "r": "ர", "l": "ல", "L": "ள", "v": "வ", "w": "வ", "sh": "ஷ", "Sh": "ஷ",
    "s": "ஸ", "h": "ஹ", "f": "ஃப", "z": "ஸ", "rr": "ற", "zh": "ழ",
}


_TA_NASAL = {**dict.fromkeys(("k", "kh", "g", "gh"), "ங"),
             **dict.fromkeys(("c", "ch", "j", "jh"), "ஞ"),
             **dict.fromkeys(("T", "Th", "D", "Dh"), "ண"),
             **dict.fromkeys(("t", "th", "d", "dh"), "ந")}


def _tamil_consonant(tok: str, i: int, prev: str | None, nxt: str | None, loan: bool) -> str:
    if tok == "n":  # dental ந word-initially and before dental stops, alveolar ன elsewhere
        return "ந" if i == 0 or nxt in ("t", "th", "d", "dh") else "ன"
    if tok == "s" and not loan and nxt in _VOWELS:
        return "ச"  # native names: சரவணன், not ஸரவணன் (but தாஸ், not தாச்)
    return _TA_CONS[tok]


def _vowel_table(lang: str) -> dict[str, tuple[str, str]]:
    table = dict(_DRAV_VOWEL if lang in _DRAVIDIAN else _DEVA_VOWEL)
    if lang == "mr":
        table.update(ae=("ॲ", "ॅ"), Ai=("आई", "ाई"))
    elif lang in ("bn", "as"):
        table.update(ae=("अ्या", "्या"), aw=("अ", ""), Ai=("आइ", "ाइ"))
    elif lang == "ta":
        table.update(ae=("ए", "े"), aw=("आ", "ा"), R=("रु", "िरु"))
    elif lang in ("te", "kn"):
        table.update(ae=("अ्या", "्या"), aw=("आ", "ा"))
    elif lang == "ml":
        table.update(ae=("आ", "ा"), aw=("ओ", "ो"))
    elif lang in ("gu", "or"):
        table.update(ae=("ए", "े"), aw=("ओ", "ो"), Ai=("आइ", "ाइ"))
    return table


def _prepare(tokens: list[str], lang: str, loan: bool) -> list[str]:
    """Sequence rules before spelling: vowel-length habits, gemination, epenthesis."""
    toks = list(tokens)
    if lang in ("bn", "as") and loan:
        # Bengali spells the i / u of loanwords short (বেকারি, স্কুল) and the schwa of an
        # English -ar / -al syllable long (সেন্টার, টেলার্স, ডেন্টাল).
        toks = ["i" if t == "I" else "u" if t == "U" else t for t in toks]
        toks = ["A" if t == "a" and 0 < j < len(toks) - 1 and toks[j + 1] in ("r", "l") else t
                for j, t in enumerate(toks)]
    if lang in ("ta", "ml") and loan:
        # A voiceless stop between vowels is doubled: மெடிக்கல், ഹോട്ടൽ, பேக்கரி (Malayalam
        # also after r: പാർട്ടി).
        out: list[str] = []
        for j, t in enumerate(toks):
            before = toks[j - 1] if j else None
            if (t in _VOICELESS_STOPS and 0 < j < len(toks) - 1 and toks[j + 1] in _VOWELS
                    and (before in _VOWELS or (lang == "ml" and t == "T" and before == "r"))):
                out.append(t)
            out.append(t)
        toks = out
    if lang in ("ta", "ml", "kn") and loan and len(toks) > 2 and toks[-1] == "I":
        toks[-1] = "i"  # a final long i of a loanword is written short: பேக்கரி, ಬೇಕರಿ
    if lang == "ta" and len(toks) > 2 and toks[0] in _STOPS and toks[1] in ("r", "y", "l"):
        toks.insert(1, "i")  # Tamil breaks a word-initial cluster: பிரகாஷ், கிளாஸ்
    return toks


def _nasal_sign(lang: str, tok: str, nxt: str | None) -> str | None:
    """The anusvara that replaces nasal ``tok`` before consonant ``nxt`` (None: keep it)."""
    if nxt not in _STOPS:
        return None
    if lang in ("hi", "mr", "te", "kn", "gu", "or"):
        return ANUSVARA
    if lang in ("bn", "as") and tok == "q" and nxt in ("k", "kh"):
        return ANUSVARA  # ব্যাংক
    if lang == "ml" and nxt in ("g", "gh", "b", "bh"):
        return ANUSVARA  # ഗംഗ, മുംബൈ (voiceless stops keep the conjunct: കമ്പനി)
    return None


_ML_CHILLU = {"n": "ൻ", "N": "ൺ", "r": "ർ", "l": "ൽ", "L": "ൾ"}


def transliterate(key: str, lang: str, *, loan: bool = True) -> str:
    """``key`` (see the module docstring) spelled in the script of ``lang``, NFKD-normalised.

    ``loan``: English loanword habits (Bengali short i/u, Tamil / Malayalam gemination, Tamil
    ஸ for s); False for Indian names and native words.
    """
    if lang not in LANG_SCRIPT:
        raise ValueError(f"no transliteration rules for {lang!r}")
    toks = _prepare(tokenize(key), lang, loan)
    word = _Word(toks)
    vowels = _vowel_table(lang)
    off = _OFFSET[LANG_SCRIPT[lang]]
    out: list[str] = []  # pieces in Devanagari coding (Tamil letters already in Tamil)
    for i, (kind, tok) in enumerate(word.items):
        nxt_kind, nxt = word.kind(i + 1), word.tok(i + 1)
        if kind == "P":
            out.append("" if tok == "_" else tok)
            continue
        if kind == "S":
            if lang == "ta" and tok == "M":  # Tamil writes the homorganic nasal: ஷிண்டே
                out.append(_TA_NASAL.get(nxt or "", "ம") + VIRAMA)
            else:
                out.append(ANUSVARA if tok == "M" else VISARGA)
            continue
        if kind == "V":
            prev_kind = word.kind(i - 1)
            independent, sign = vowels[tok]
            out.append(sign if prev_kind == "C" else independent)
            continue
        # consonant
        if nxt_kind == "C" and tok in _NASALS:
            sign = _nasal_sign(lang, tok, nxt)
            if sign is not None:
                out.append(sign)
                continue
        letter = _consonant(lang, tok, word, i, loan)
        if lang in ("bn", "as") and tok == "y" and word.kind(i - 1) == "V":
            letter = "य" + NUKTA  # য় after a vowel
        if nxt_kind == "V":
            out.append(letter)
        elif nxt_kind == "C":
            if lang == "ml" and tok in ("r", "l") and nxt != "y":
                out.append(_ML_CHILLU[tok])  # ഫാർമസി, ഫിൽട്ടർ
            else:
                out.append(letter + VIRAMA)
        elif nxt == "_" and lang not in _DRAVIDIAN:
            out.append(letter)  # inherent vowel written: रायपुर
        else:  # end of word, before punctuation, or a Dravidian consonant before "_"
            if lang == "ml":
                out.append(_ML_CHILLU.get(tok) or (ANUSVARA if tok == "m" else letter + VIRAMA))
            elif lang in _DRAVIDIAN:
                out.append(letter + VIRAMA)
            else:
                out.append(letter)
    text = "".join(out)
    if lang == "mr":
        text = text.replace("ॅं", "ँ")  # बँक
    shifted = "".join(chr(ord(c) + off) if 0x0900 <= ord(c) < 0x0980 else c for c in text)
    if lang == "as":
        shifted = shifted.replace("র", "ৰ")  # Assamese ra
    return unicodedata.normalize("NFKD", shifted)
