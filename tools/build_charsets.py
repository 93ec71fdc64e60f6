#!/usr/bin/env python
"""Regenerate the per-language charsets ``src/mstr/configs/langs/<lang>.json``.

Usage (from the repository root)::

    .venv/bin/python tools/build_charsets.py              # write all 13 files
    .venv/bin/python tools/build_charsets.py --check      # exit 1 if a file differs from its spec
    .venv/bin/python tools/build_charsets.py --out /tmp/langs

The JSON files are *generated*: edit the specifications below, never the files.
``tests/test_charsets.py`` runs :func:`generated_files` in-process and compares, so they can't drift.

How a specification reads
-------------------------
Each language names its script's Unicode block (``block``) and, per field, the code-point ranges
it uses (``"0985-098C 098F-0990"``: inclusive, hex, space separated). Ranges are *tight*: every
code point in them must be assigned in the running Python's Unicode database (13.0 on Python
3.10), unless ``exclude`` lists it — so the output does not change with the Python version.
``exclude`` lists (range, reason) pairs: archaic, historic, Vedic, transliteration-only characters,
fractions, currency and number signs, abbreviation marks, and characters added after Unicode 13.
``common`` lists literal characters of Unicode's Common script (ASCII digits and punctuation,
the dandas, Arabic punctuation, ₹).

Rules the builder enforces (a :class:`BuildError` names the code point):

* every entry is one code point, NFKD-stable (``NFKD(c) == c``), not whitespace, not a format
  character (ZWJ/ZWNJ), not the dotted circle U+25CC;
* a precomposed character inside a range (Bengali ো, Tamil ொ, क़, آ …) is not written; its NFKD
  parts are, and they must all be in the charset;
* every assigned code point of ``block`` is *accounted for*: in the charset, decomposable into
  the charset, excluded with a reason, or of the Common script (the dandas inside Devanagari);
* an excluded character may not decompose into the charset (it would be covered anyway);
* script membership (:func:`mstr.scripts.script_of`): letters, diacritics, digits, virama and
  nukta belong to the language's script, punctuation to it or to Common, ``common`` to Common;
* no entry appears twice, within or across fields; virama and nukta are also diacritics.

Choices common to all Indic languages (per-language comments below give the rest):

* ``letters`` = independent vowels and consonants; ``diacritics`` = dependent vowel signs,
  virama, nukta, anusvara, candrabindu, visarga, length marks (spacing or not).
* Vocalic L (ऌ ॡ ॢ ॣ and their cousins), vocalic RR (ॠ, ॄ) and the avagraha are Sanskrit-only
  and excluded; vocalic R (ऋ ृ) is kept: it is in everyday words (कृष्ण, ঋতু, ಕೃಷಿ).
* OM signs (ॐ ૐ ௐ) and Gurmukhi ੴ are religious symbols, not letters of running text: excluded.
* Native digits are kept even where everyday text mostly uses ASCII digits (Tamil, Malayalam).
* Script-specific currency signs, fractions, number signs, isshar, abbreviation signs: excluded.
* ``common``: ASCII digits, the ASCII punctuation a sign or a newspaper headline carries
  (``! " # % & ' ( ) + , - . / : ; ? @``) and the rupee sign ₹ (Common script, on every price
  board in India); the dandas । ॥ for the languages that end sentences with them.
"""
from __future__ import annotations

import argparse
import json
import string
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from mstr.scripts import script_of  # noqa: E402

DEFAULT_OUT = ROOT / "src" / "mstr" / "configs" / "langs"
FIELDS = ("letters", "diacritics", "digits", "punctuation", "common")
DOTTED_CIRCLE = "\u25cc"


class BuildError(Exception):
    """A specification breaks one of the rules in the module docstring."""


@dataclass(frozen=True)
class LangSpec:
    """One language's charset, as ranges over its script block (see the module docstring)."""

    lang: str
    script: str
    block: str
    letters: str
    diacritics: str = ""
    digits: str = ""
    punctuation: str = ""
    common: str = ""
    exclude: tuple[tuple[str, str], ...] = ()
    virama: int | None = None
    nukta: int | None = None


# --- shared pieces -----------------------------------------------------------------------------

ASCII_DIGITS = string.digits
#: what an Indian signboard, headline or price tag carries besides letters
INDIC_ASCII_PUNCT = "!\"#%&'()+,-./:;?@"
RUPEE = "\u20b9"  # ₹
DANDAS = "\u0964\u0965"  # । ॥ (Unicode script Common; shared by the North Indian scripts)
ARABIC_PUNCT = "\u060c\u061b\u061f"  # ، ؛ ؟ (Unicode script Common)
INDIC_COMMON = ASCII_DIGITS + INDIC_ASCII_PUNCT + RUPEE


# --- the specifications ------------------------------------------------------------------------

SPECS: tuple[LangSpec, ...] = (
    # English: the 52 ASCII letters, case-sensitive, nothing accented (NFKD would split é into
    # e + U+0301, a combining mark of no script here). No native digits: ASCII digits and all 32
    # ASCII punctuation characters are Common.
    LangSpec(
        lang="en", script="Latn",
        block="0041-005A 0061-007A",
        letters="0041-005A 0061-007A",
        common=ASCII_DIGITS + string.punctuation,
    ),
    # Assamese (Bengali script). Differs from Bengali by its RA: Assamese writes ৰ (U+09F0) where
    # Bengali writes র (U+09B0), and has WA ৱ (U+09F1); Bengali র is excluded so a label typed with
    # it is reported, not silently accepted. ৎ, ড় ঢ় য় (ড/ঢ/য + nukta) are everyday Assamese.
    # Sentences end with the danda.
    LangSpec(
        lang="as", script="Beng",
        block="0980-09FF",
        letters="0985-098C 098F-0990 0993-09A8 09AA-09B0 09B2 09B6-09B9 09CE 09DC-09DD 09DF "
                "09F0-09F1",
        diacritics="0981-0983 09BC 09BE-09C4 09C7-09C8 09CB-09CD 09D7",
        digits="09E6-09EF",
        common=INDIC_COMMON + DANDAS,
        exclude=(
            ("09B0", "Bengali RA: Assamese writes ৰ (U+09F0)"),
            ("0980", "ANJI: a historic invocation sign"),
            ("098C 09E0-09E3 09C4", "vocalic L / vocalic RR: Sanskrit only"),
            ("09BD", "avagraha: Sanskrit only"),
            ("09F2-09F3 09FB", "historic currency signs (rupee mark, rupee sign, ganda)"),
            ("09F4-09F9", "historic currency numerators and denominators"),
            ("09FA", "isshar: a religious invocation sign"),
            ("09FC", "Vedic anusvara"),
            ("09FD", "abbreviation sign"),
            ("09FE", "sandhi mark: Sanskrit manuscripts"),
        ),
        virama=0x09CD, nukta=0x09BC,
    ),
    # Bengali: the modern alphabet with ৎ (khanda ta) and ড় ঢ় য় (stored as ড/ঢ/য + nukta ়).
    # ো ৌ are stored as ে + া and ে + ৗ, so the AU length mark ৗ (U+09D7) is a diacritic.
    # Assamese ৰ ৱ are excluded (Assamese only). The taka sign ৳ is a currency sign: excluded.
    LangSpec(
        lang="bn", script="Beng",
        block="0980-09FF",
        letters="0985-098C 098F-0990 0993-09A8 09AA-09B0 09B2 09B6-09B9 09CE 09DC-09DD 09DF",
        diacritics="0981-0983 09BC 09BE-09C4 09C7-09C8 09CB-09CD 09D7",
        digits="09E6-09EF",
        common=INDIC_COMMON + DANDAS,
        exclude=(
            ("09F0-09F1", "Assamese RA and WA"),
            ("0980", "ANJI: a historic invocation sign"),
            ("098C 09E0-09E3 09C4", "vocalic L / vocalic RR: Sanskrit only"),
            ("09BD", "avagraha: Sanskrit only"),
            ("09F2-09F3 09FB", "currency signs (rupee mark, taka sign, ganda)"),
            ("09F4-09F9", "historic currency numerators and denominators"),
            ("09FA", "isshar: a religious invocation sign"),
            ("09FC", "Vedic anusvara"),
            ("09FD", "abbreviation sign"),
            ("09FE", "sandhi mark: Sanskrit manuscripts"),
        ),
        virama=0x09CD, nukta=0x09BC,
    ),
    # Gujarati: modern alphabet incl. ળ and the loanword vowels ઍ ઑ / ૅ ૉ (English words:
    # ઑફિસ); the nukta is kept for Perso-Arabic and English loans (ઝ઼, ફ઼). Gujarati ends
    # sentences with a full stop, not a danda, so no dandas.
    LangSpec(
        lang="gu", script="Gujr",
        block="0A80-0AFF",
        letters="0A85-0A8D 0A8F-0A91 0A93-0AA8 0AAA-0AB0 0AB2-0AB3 0AB5-0AB9",
        diacritics="0A81-0A83 0ABC 0ABE-0AC5 0AC7-0AC9 0ACB-0ACD",
        digits="0AE6-0AEF",
        common=INDIC_COMMON,
        exclude=(
            ("0A8C 0AE0-0AE3 0AC4", "vocalic L / vocalic RR: Sanskrit only"),
            ("0ABD", "avagraha: Sanskrit only"),
            ("0AD0", "OM: a religious symbol"),
            ("0AF0", "abbreviation sign"),
            ("0AF1", "Gujarati rupee sign (currency)"),
            ("0AF9 0AFA-0AFF", "ZHA and the marks for transliterating Arabic: not modern Gujarati"),
        ),
        virama=0x0ACD, nukta=0x0ABC,
    ),
    # Hindi: vowels अ–औ with ऋ and the English-loan ऍ ऑ (ॅ ॉ signs); consonants क–ह (ळ is
    # Marathi/Vedic, not Hindi); nukta letters क़ ख़ ग़ ज़ ड़ ढ़ फ़ are stored as consonant + ़.
    # Excluded: Dravidian transliteration vowels ऎ ऒ ॆ ॊ, Kashmiri/Bihari/Sindhi additions, Vedic
    # accents, the abbreviation sign ॰ (brief says: no abbreviation marks). Dandas end sentences.
    LangSpec(
        lang="hi", script="Deva",
        block="0900-097F",
        letters="0905-090D 090F-0911 0913-0939 0958-095E",
        diacritics="0901-0903 093C 093E-0943 0945 0947-0949 094B-094D",
        digits="0966-096F",
        common=INDIC_COMMON + DANDAS,
        exclude=(
            ("0933 0934", "LLA ळ / LLLA ऴ: Marathi, Vedic and transliteration, not Hindi"),
            ("0900", "inverted candrabindu: Vedic"),
            ("0904", "short A ऄ: Awadhi/transliteration"),
            ("090C 0960-0963 0944", "vocalic L / vocalic RR: Sanskrit only"),
            ("090E 0912 0946 094A", "short E / short O: transliteration of Dravidian languages"),
            ("093A 093B 094F 0955-0957 0973-0977", "Kashmiri and Bihari vowels"),
            ("093D", "avagraha: Sanskrit only"),
            ("094E", "prishthamatra E: historic"),
            ("0950", "OM: a religious symbol"),
            ("0951-0954", "Vedic stress accents"),
            ("0970", "abbreviation sign ॰"),
            ("0971", "high spacing dot: transliteration"),
            ("0972", "candra A ॲ: Marathi, not Hindi"),
            ("0978-097F", "Marwari DDA, ZHA, Sindhi implosives, glottal stop: other languages"),
        ),
        virama=0x094D, nukta=0x093C,
    ),
    # Kannada: modern alphabet (ಅ–ಔ with ಋ, ಕ–ಹ with ಳ). Two-part vowel signs are stored split:
    # ೀ = ಿ + ೕ, ೇ = ೆ + ೕ, ೈ = ೆ + ೖ, ೊ = ೆ + ೂ, ೋ = ೆ + ೂ + ೕ, so the length marks ೕ ೖ are
    # diacritics. The nukta is kept for loans (ಜ಼ ಫ಼). Archaic ಱ ೞ, candrabindu, Vedic signs and the
    # characters added after Unicode 13 are excluded. Full stop, no dandas.
    LangSpec(
        lang="kn", script="Knda",
        block="0C80-0CFF",
        letters="0C85-0C8C 0C8E-0C90 0C92-0CA8 0CAA-0CB3 0CB5-0CB9",
        diacritics="0C82-0C83 0CBC 0CBE-0CC4 0CC6-0CC8 0CCA-0CCD 0CD5-0CD6",
        digits="0CE6-0CEF",
        common=INDIC_COMMON,
        exclude=(
            ("0CB1 0CDE", "RRA ಱ and LLLA ೞ: archaic"),
            ("0C80 0C81", "candrabindu: not in Kannada orthography"),
            ("0C84", "siddham sign: historic"),
            ("0C8C 0CE0-0CE3 0CC4", "vocalic L / vocalic RR: Sanskrit only"),
            ("0CBD", "avagraha: Sanskrit only"),
            ("0CF1-0CF2", "jihvamuliya, upadhmaniya: Vedic"),
            ("0CDC 0CDD 0CF3", "added after Unicode 13: archaic shrii, nakaara pollu, Vedic anusvara"),
        ),
        virama=0x0CCD, nukta=0x0CBC,
    ),
    # Malayalam: modern (reformed) orthography: vowels with ഋ, consonants ക–ഹ with ള ഴ റ, and
    # the six atomic chillus ൺ ൻ ർ ൽ ൾ ൿ (U+0D7A–0D7F). ൊ ോ ൌ are stored as െ + ാ, േ + ാ and
    # െ + ൗ, so the AU length mark ൗ (also the modern AU sign on its own) is a diacritic. Excluded:
    # archaic ഩ ഺ, the dot reph ൎ and old chillus ൔ ൕ ൖ of traditional orthography, the
    # vertical-bar/circular viramas, Vedic anusvara, fractions and number signs. Full stop.
    LangSpec(
        lang="ml", script="Mlym",
        block="0D00-0D7F",
        letters="0D05-0D0C 0D0E-0D10 0D12-0D3A 0D7A-0D7F",
        diacritics="0D02-0D03 0D3E-0D44 0D46-0D48 0D4A-0D4D 0D57",
        digits="0D66-0D6F",
        common=INDIC_COMMON,
        exclude=(
            ("0D29 0D3A", "NNNA ഩ, TTTA ഺ: archaic"),
            ("0D4E 0D54-0D56", "dot reph and chillu M/Y/LLL: traditional orthography"),
            ("0D00 0D04", "combining/Vedic anusvara"),
            ("0D01", "candrabindu: not in Malayalam orthography"),
            ("0D0C 0D60-0D63 0D44", "vocalic L / vocalic RR: Sanskrit only"),
            ("0D3B 0D3C", "vertical-bar and circular virama: historic"),
            ("0D3D", "avagraha: Sanskrit only"),
            ("0D4F 0D79", "para sign, date mark"),
            ("0D58-0D5E 0D70-0D78", "fractions and numbers"),
            ("0D5F", "archaic II"),
        ),
        virama=0x0D4D,
    ),
    # Marathi (Devanagari): as Hindi, plus ळ (a native consonant) and the candra A ॲ of modern
    # loanword spelling (ॲप); ऍ ऑ ॅ ॉ too. The nukta is needed for the eyelash RA: ऱ्य is
    # encoded ऱ + ्, and NFKD(ऱ) = र + ़. Marathi prints a full stop in prose but dandas stay
    # common in verse, religious text and signboards: kept.
    LangSpec(
        lang="mr", script="Deva",
        block="0900-097F",
        letters="0905-090D 090F-0911 0913-0939 0958-095E 0972",
        diacritics="0901-0903 093C 093E-0943 0945 0947-0949 094B-094D",
        digits="0966-096F",
        common=INDIC_COMMON + DANDAS,
        exclude=(
            ("0900", "inverted candrabindu: Vedic"),
            ("0904", "short A ऄ: Awadhi/transliteration"),
            ("090C 0960-0963 0944", "vocalic L / vocalic RR: Sanskrit only"),
            ("090E 0912 0946 094A", "short E / short O: transliteration of Dravidian languages"),
            ("093A 093B 094F 0955-0957 0973-0977", "Kashmiri and Bihari vowels"),
            ("093D", "avagraha: Sanskrit only"),
            ("094E", "prishthamatra E: historic"),
            ("0950", "OM: a religious symbol"),
            ("0951-0954", "Vedic stress accents"),
            ("0970", "abbreviation sign ॰"),
            ("0971", "high spacing dot: transliteration"),
            ("0978-097F", "Marwari DDA, ZHA, Sindhi implosives, glottal stop: other languages"),
        ),
        virama=0x094D, nukta=0x093C,
    ),
    # Odia: vowels with ଋ, consonants କ–ହ with ଳ, ଵ and ୱ (both spellings of WA occur: ବିଶ୍ୱ),
    # ୟ (an atomic letter), ଡ଼ ଢ଼ (stored as ଡ/ଢ + ଼). ୈ ୋ ୌ are stored as େ + ୖ, େ + ା, େ + ୗ, so
    # both length marks are diacritics. Excluded: isshar, fractions, the overline sign and the
    # dot signs added after Unicode 13. Dandas end sentences.
    LangSpec(
        lang="or", script="Orya",
        block="0B00-0B7F",
        letters="0B05-0B0C 0B0F-0B10 0B13-0B28 0B2A-0B30 0B32-0B33 0B35-0B39 0B5C-0B5D 0B5F "
                "0B71",
        diacritics="0B01-0B03 0B3C 0B3E-0B44 0B47-0B48 0B4B-0B4D 0B56-0B57",
        digits="0B66-0B6F",
        common=INDIC_COMMON + DANDAS,
        exclude=(
            ("0B0C 0B60-0B63 0B44", "vocalic L / vocalic RR: Sanskrit only"),
            ("0B3D", "avagraha: Sanskrit only"),
            ("0B55", "overline sign: rare, added in Unicode 13"),
            ("0B53-0B54", "dot above / double dot above: added after Unicode 13"),
            ("0B70", "isshar: a religious invocation sign"),
            ("0B72-0B77", "fractions"),
        ),
        virama=0x0B4D, nukta=0x0B3C,
    ),
    # Punjabi (Gurmukhi): the 35 letters (ੳ ਅ ੲ ਸ ਹ … ੜ, with IRI ੲ and URA ੳ, the vowel
    # carriers of the alphabet chart), the precomposed vowels ਆ–ਔ, the nukta letters ਸ਼ ਖ਼ ਗ਼ ਜ਼
    # ਫ਼ ਲ਼ (stored as letter + ਼), the signs bindi ਂ, tippi ੰ, addak ੱ, visarga ਃ (abbreviations)
    # and the virama (pairin ੍ਹ ੍ਰ ੍ਵ). Excluded: adak bindi and udaat, yakash (Gurbani),
    # ੴ (a religious symbol), the abbreviation sign. Dandas end sentences.
    LangSpec(
        lang="pa", script="Guru",
        block="0A00-0A7F",
        letters="0A05-0A0A 0A0F-0A10 0A13-0A28 0A2A-0A30 0A32-0A33 0A35-0A36 0A38-0A39 "
                "0A59-0A5C 0A5E 0A72-0A73",
        diacritics="0A02-0A03 0A3C 0A3E-0A42 0A47-0A48 0A4B-0A4D 0A70-0A71",
        digits="0A66-0A6F",
        common=INDIC_COMMON + DANDAS,
        exclude=(
            ("0A01", "adak bindi: archaic"),
            ("0A51", "udaat: Gurbani"),
            ("0A74", "EK ONKAR ੴ: a religious symbol"),
            ("0A75", "yakash: archaic subjoined YA"),
            ("0A76", "abbreviation sign"),
        ),
        virama=0x0A4D, nukta=0x0A3C,
    ),
    # Tamil: 12 vowels (ஔ is stored as ஒ + ௗ), the aytham ஃ (a letter in Tamil grammar, used
    # for loans: ஃபேன்), 18 native consonants and the Grantha letters ஜ ஶ ஷ ஸ ஹ (ஶ in ஶ்ரீ).
    # ொ ோ ௌ are stored as ெ + ா, ே + ா, ெ + ௗ, so the AU length mark ௗ is a diacritic. Tamil
    # has no nukta. Excluded: the anusvara (Saurashtra transliteration), ௐ, number signs,
    # day/month/year/debit/credit signs, the rupee sign. Full stop, no dandas.
    LangSpec(
        lang="ta", script="Taml",
        block="0B80-0BFF",
        letters="0B83 0B85-0B8A 0B8E-0B90 0B92-0B95 0B99-0B9A 0B9C 0B9E-0B9F 0BA3-0BA4 "
                "0BA8-0BAA 0BAE-0BB9",
        diacritics="0BBE-0BC2 0BC6-0BC8 0BCA-0BCD 0BD7",
        digits="0BE6-0BEF",
        common=INDIC_COMMON,
        exclude=(
            ("0B82", "anusvara: Saurashtra transliteration, not Tamil"),
            ("0BD0", "OM ௐ: a religious symbol"),
            ("0BF0-0BF2", "numbers ten, hundred, thousand"),
            ("0BF3-0BF8 0BFA", "day, month, year, debit, credit, as-above and number signs"),
            ("0BF9", "Tamil rupee sign (currency)"),
        ),
        virama=0x0BCD,
    ),
    # Telugu: vowels with ఋ, consonants క–హ with ళ. ై is stored as ె + ౖ, so the AI length
    # mark is a diacritic. Excluded as archaic: bandi RA ఱ, LLLA ఴ, arasunna ఁ (half-nasal),
    # the TSA/DZA/RRRA letters, Vedic/combining signs; also the nukta and nakaara pollu (added in
    # Unicode 14, not in Python 3.10), fractions, tuumu, siddham. Full stop, no dandas.
    LangSpec(
        lang="te", script="Telu",
        block="0C00-0C7F",
        letters="0C05-0C0C 0C0E-0C10 0C12-0C28 0C2A-0C39",
        diacritics="0C02-0C03 0C3E-0C44 0C46-0C48 0C4A-0C4D 0C56",
        digits="0C66-0C6F",
        common=INDIC_COMMON,
        exclude=(
            ("0C31 0C34", "RRA ఱ and LLLA ఴ: archaic"),
            ("0C01", "candrabindu (arasunna): archaic"),
            ("0C00 0C04", "combining candrabindu / anusvara above: Vedic"),
            ("0C0C 0C60-0C63 0C44", "vocalic L / vocalic RR: Sanskrit only"),
            ("0C3D", "avagraha: Sanskrit only"),
            ("0C55", "length mark: no modern spelling needs it"),
            ("0C58-0C5A", "TSA, DZA, RRRA: historic"),
            ("0C3C 0C5C 0C5D", "nukta, archaic shrii, nakaara pollu: added after Unicode 13"),
            ("0C77", "siddham sign: historic"),
            ("0C78-0C7E", "fraction digits"),
            ("0C7F", "tuumu sign"),
        ),
        virama=0x0C4D,
    ),
    # Urdu (Arabic script, the Arabic block only: the Supplement/Extended blocks hold no Urdu).
    # Letters: the Urdu alphabet ا ب پ ت ٹ ث ج چ ح خ د ڈ ذ ر ڑ ز ژ س ش ص ض ط ظ ع غ ف ق ک گ ل م ن
    # ں و ہ ھ ء ی ے, plus ۃ (Arabic loans: زکوٰۃ) and Arabic YEH ي, because NFKD(ئ) = ي + ٔ.
    # آ أ ؤ ئ ۂ ۓ are stored as base + maddah ٓ / hamza above ٔ. Diacritics: the harakat
    # (zabar, zer, pesh, the three tanwin — فوراً — shadda, jazm), maddah, hamza above and the
    # superscript alef ٰ (اعلیٰ). Digits: the Extended Arabic-Indic ۰–۹ that Urdu uses.
    # Punctuation: the Urdu full stop ۔ and the Arabic percent sign ٪; ، ؛ ؟ are Common.
    # Excluded: Arabic-only forms Urdu spells otherwise (ك ه ى ة, Arabic-Indic digits), the
    # letters of Sindhi, Pashto, Persian, Kurdish, Kashmiri…, Quranic annotation marks, honorific
    # signs, format characters. Tatweel (U+0640, Common) is a justification device: not included.
    LangSpec(
        lang="ur", script="Arab",
        block="0600-06FF",
        letters="0621 0627-0628 062A-063A 0641-0642 0644-0646 0648 064A 0679 067E 0686 0688 "
                "0691 0698 06A9 06AF 06BA 06BE 06C1 06C3 06CC 06D2 "
                "0622-0624 0626 06C2 06D3",
        diacritics="064B-0654 0670",
        digits="06F0-06F9",
        punctuation="066A 06D4",
        common=INDIC_COMMON + ARABIC_PUNCT,
        exclude=(
            ("0600-0605 061C", "format characters (number signs, letter mark)"),
            ("0606-060B", "mathematical signs, per-mille signs, Afghani sign"),
            ("060D-060F 061D-061E 066B-066D", "date separator, poetic and other marks"),
            ("0610-061A 06D6-06ED", "honorific signs and Quranic annotation marks"),
            ("0620 063B-063F", "Kashmiri and Persian-family letter variants"),
            ("0625 0655", "hamza below: Arabic, not Urdu"),
            ("0629", "TEH MARBUTA ة: Urdu writes ۃ or ت"),
            ("0643", "Arabic KAF ك: Urdu writes ک"),
            ("0647", "Arabic HEH ه: Urdu writes ہ or ھ"),
            ("0649", "ALEF MAKSURA ى: Urdu writes ی"),
            ("0656-065F", "other vowel marks (Quranic, Kashmiri, Pashto)"),
            ("0660-0669", "Arabic-Indic digits: Urdu uses ۰–۹ (U+06F0–06F9)"),
            ("066E-066F 0671-0678", "dotless letters, wasla, wavy and high hamza forms"),
            ("067A-067D 067F-0685 0687 0689-0690 0692-0697 0699-06A8 06AA-06AE 06B0-06B9 "
             "06BB-06BD 06BF", "letters of Sindhi, Pashto, Kurdish, Uyghur and others"),
            ("06C0 06C4-06CB 06CD-06D1 06D5 06EE-06EF 06FA-06FC 06FF",
             "letters of Persian, Kurdish, Uyghur, Kazakh and others"),
            ("06FD-06FE", "Sindhi ampersand and postposition signs"),
        ),
    ),
)

SPEC_BY_LANG: dict[str, LangSpec] = {s.lang: s for s in SPECS}


# --- building ----------------------------------------------------------------------------------

def parse_ranges(text: str) -> list[int]:
    """``"0985-098C 09B2"`` → the code points, in the order written."""
    cps: list[int] = []
    for item in text.split():
        lo, _, hi = item.partition("-")
        a, b = int(lo, 16), int(hi or lo, 16)
        if b < a:
            raise BuildError(f"range {item!r} runs backwards")
        cps.extend(range(a, b + 1))
    return cps


def _u(cp: int) -> str:
    return f"U+{cp:04X} {unicodedata.name(chr(cp), '<unassigned>')}"


def excluded(spec: LangSpec) -> dict[int, str]:
    """Excluded code point → reason."""
    out: dict[int, str] = {}
    for ranges, reason in spec.exclude:
        for cp in parse_ranges(ranges):
            if cp in out:
                raise BuildError(f"{spec.lang}: {_u(cp)} is excluded twice")
            out[cp] = reason
    return out


def _check_entry(spec: LangSpec, field: str, ch: str) -> None:
    cp = ord(ch)
    if unicodedata.normalize("NFKD", ch) != ch:
        raise BuildError(f"{spec.lang}.{field}: {_u(cp)} is not in NFKD form")
    if ch.isspace() or unicodedata.category(ch) == "Cf" or ch == DOTTED_CIRCLE:
        raise BuildError(f"{spec.lang}.{field}: {_u(cp)} is whitespace, a format character or ◌")
    want = {"common": {"Zyyy"}, "punctuation": {spec.script, "Zyyy"}}.get(field, {spec.script})
    if script_of(ch) not in want:
        raise BuildError(f"{spec.lang}.{field}: {_u(cp)} is of script {script_of(ch)}, "
                         f"expected {' or '.join(sorted(want))}")


def build_charset(spec: LangSpec) -> dict:
    """The JSON object of one language (keys in schema order), after checking every rule."""
    excl = excluded(spec)
    block = set(parse_ranges(spec.block))
    for cp in excl:
        if cp not in block:
            raise BuildError(f"{spec.lang}: excluded {_u(cp)} lies outside the block {spec.block}")
    fields: dict[str, list[str]] = {}
    precomposed: list[int] = []
    for field in FIELDS:
        if field == "common":
            cps = [ord(c) for c in spec.common]
        else:
            cps = [cp for cp in parse_ranges(getattr(spec, field)) if cp not in excl]
        chars: set[str] = set()
        for cp in cps:
            ch = chr(cp)
            if unicodedata.category(ch) == "Cn":
                raise BuildError(f"{spec.lang}.{field}: U+{cp:04X} is unassigned (ranges must be "
                                 "tight, or the code point excluded)")
            if field != "common" and unicodedata.normalize("NFKD", ch) != ch:
                precomposed.append(cp)
                continue
            if ch in chars:
                raise BuildError(f"{spec.lang}.{field}: {_u(cp)} is listed twice")
            _check_entry(spec, field, ch)
            chars.add(ch)
        fields[field] = sorted(chars)
    seen: dict[str, str] = {}
    for field in FIELDS:
        for ch in fields[field]:
            if ch in seen:
                raise BuildError(f"{spec.lang}: {_u(ord(ch))} is in both {seen[ch]} and {field}")
            seen[ch] = field
    for cp in precomposed:
        parts = unicodedata.normalize("NFKD", chr(cp))
        lacking = [p for p in parts if p not in seen]
        if lacking:
            raise BuildError(f"{spec.lang}: {_u(cp)} is used but its NFKD part(s) "
                             f"{', '.join(_u(ord(p)) for p in lacking)} are not in the charset")
    data: dict = {"lang": spec.lang, "script": spec.script, **fields}
    for key in ("virama", "nukta"):
        cp = getattr(spec, key)
        if cp is not None:
            if chr(cp) not in fields["diacritics"]:
                raise BuildError(f"{spec.lang}: {key} {_u(cp)} is not among the diacritics")
            data[key] = chr(cp)
    for cp in excl:
        ch = chr(cp)
        if unicodedata.category(ch) != "Cn" and all(p in seen for p in unicodedata.normalize("NFKD", ch)):
            raise BuildError(f"{spec.lang}: excluded {_u(cp)} is covered by the charset anyway")
    missing = unaccounted(spec, data)
    if missing:
        raise BuildError(f"{spec.lang}: not accounted for (add to a field or to exclude, with a "
                         f"reason): {'; '.join(_u(cp) for cp in missing)}")
    return data


def unaccounted(spec: LangSpec, data: dict) -> list[int]:
    """Assigned code points of the block that are neither in the charset (directly or through
    their NFKD parts), nor excluded, nor of the Common script."""
    have = {ch for field in FIELDS for ch in data[field]}
    excl = excluded(spec)
    out = []
    for cp in parse_ranges(spec.block):
        ch = chr(cp)
        if unicodedata.category(ch) == "Cn" or cp in excl or script_of(ch) != spec.script:
            continue
        if not all(p in have for p in unicodedata.normalize("NFKD", ch)):
            out.append(cp)
    return out


def build_all() -> dict[str, dict]:
    """lang → JSON object, for every language in :data:`SPECS` (in that order)."""
    return {spec.lang: build_charset(spec) for spec in SPECS}


def render(data: dict) -> str:
    """The file text: one key per line, lists on one line, characters unescaped, final newline."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
             for key, value in data.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def generated_files() -> dict[str, str]:
    """File name (``hi.json``) → the exact text the build writes."""
    return {f"{lang}.json": render(data) for lang, data in build_all().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder to write <lang>.json into (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file in --out differs from its spec")
    args = parser.parse_args(argv)
    try:
        files = generated_files()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = []
    for name, text in files.items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for name, text in files.items():
        data = json.loads(text)
        n = sum(len(data[f]) for f in FIELDS)
        counts = " ".join(f"{f}={len(data[f])}" for f in FIELDS)
        print(f"{name:8s} {data['script']}  {n:4d} entries  ({counts})")
    if args.check:
        if stale:
            print(f"out of date: {', '.join(stale)} (run tools/build_charsets.py)", file=sys.stderr)
            return 1
        print("all charsets up to date")
    else:
        print(f"wrote {len(stale)} file(s) to {args.out}" if stale else "nothing to write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
