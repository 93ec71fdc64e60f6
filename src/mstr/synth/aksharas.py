"""The ``random``, ``rare`` and ``cluster`` modes of the text sampler: well-formed strings of a
script built from its charset's parts rather than drawn from a word list.

:class:`RandomTextModes` is a mixin of :class:`mstr.synth.vocab.TextSampler` (as
:class:`mstr.synth.signvocab.SignModes` is): its methods use the sampler's charset tables
(``_indic``, ``_letters``, ``_marks``, ``_script_chars``, ``_fallback`` …) and its ``_word``.
Indic scripts get random aksharas (consonant, optional virama + consonant conjunct, nukta only
on consonants that take one, optional vowel sign, optional anusvara / candrabindu / visarga);
Urdu random letters with occasional harakat; Latin random letters and digits.
"""
from __future__ import annotations

import unicodedata

import numpy as np

from mstr.synth.clusters import cluster_index

__all__ = ["RandomTextModes", "pick"]


def pick(rng: np.random.Generator, seq):
    """One element of ``seq``, drawn uniformly from ``rng``."""
    return seq[int(rng.integers(len(seq)))]


class RandomTextModes:
    """Random well-formed text of the sampler's script (a mixin; see the module docstring)."""

    def _mode_random(self, rng: np.random.Generator) -> str:
        target = int(rng.integers(1, min(self.max_len, 12) + 1))
        if self._indic is not None:
            out = ""
            for _ in range(target):
                a = self._akshara(rng)
                if len(out) + len(a) > self.max_len:
                    break
                out += a
                if len(out) >= target:
                    break
            return out or pick(rng, self._fallback)
        if self.script == "Arab":
            return self._arabic_string(rng, target)
        # Latin: letters and digits, in one of several case styles.
        pool = self._letters or self._fallback
        style = rng.random()
        chars = []
        for _ in range(target):
            if self._ascii_digits and rng.random() < 0.15:
                chars.append(pick(rng, self._ascii_digits))
                continue
            c = pick(rng, pool)
            if style < 0.4:
                c = c.lower()
            elif style < 0.7:
                c = c.upper()
            chars.append(c)
        return "".join(chars)

    def _arabic_string(self, rng: np.random.Generator, n: int) -> str:
        """``n`` code points of random letters, a letter now and then carrying a haraka."""
        letters = self._letters or self._fallback
        out: list[str] = []
        while len(out) < n:
            out.append(pick(rng, letters))
            if self._marks and len(out) < n and rng.random() < 0.12:
                out.append(pick(rng, self._marks))
        return "".join(out)

    def _akshara(self, rng: np.random.Generator, *, consonant: str | None = None,
                 vowel_unit: str | None = None, modifier: str | None = None,
                 force_virama: bool = False, force_nukta: bool = False,
                 force_conjunct: bool = False, addak: bool = False) -> str:
        """One well-formed akshara (the keyword arguments force a part, for the rare mode)."""
        P = self._indic
        assert P is not None
        r = rng.random()
        forced = (consonant or vowel_unit or force_virama or force_nukta or force_conjunct
                  or addak)
        if not forced and modifier is None and P.vowels and r < 0.12:
            s = pick(rng, P.vowels)
            if P.modifiers and rng.random() < 0.15:
                s += pick(rng, P.modifiers)
            return s
        if not forced and modifier is None and P.others and r < 0.15:
            return pick(rng, P.others)
        if not P.consonants:
            return pick(rng, P.vowels or self._fallback)
        nukta_ok = P.nukta and P.nukta in self._covered and P.nukta_consonants
        if force_nukta and nukta_ok:
            c1 = consonant if consonant in P.nukta_consonants else pick(rng, P.nukta_consonants)
        else:
            c1 = consonant or pick(rng, P.consonants)
        s = c1
        if nukta_ok and c1 in P.nukta_consonants and (force_nukta or rng.random() < 0.15):
            s += P.nukta
        virama_ok = P.virama and P.virama in self._covered
        if virama_ok and (force_conjunct or rng.random() < 0.25):
            for _ in range(1 + int(rng.random() < 0.15)):
                c = pick(rng, P.consonants)
                s += P.virama + c
                if nukta_ok and c in P.nukta_consonants and rng.random() < 0.1:
                    s += P.nukta
        if virama_ok and (force_virama or (vowel_unit is None and modifier is None
                                           and not addak and rng.random() < 0.1)):
            return s + P.virama  # dead consonant: nothing may follow within the akshara
        if vowel_unit is not None:
            s += vowel_unit
        elif P.vowel_units and rng.random() < 0.65:
            s += pick(rng, P.vowel_units)
        if modifier is not None:
            s += modifier
        elif P.modifiers and rng.random() < 0.15:
            s += pick(rng, P.modifiers)
        if addak or (P.addak and rng.random() < 0.05):
            # Gurmukhi addak geminates the next consonant, so a consonant must follow.
            s += pick(rng, P.addak) + pick(rng, P.consonants)
            if P.vowel_units and rng.random() < 0.5:
                s += pick(rng, P.vowel_units)
        return s

    def _rare_piece(self, rng: np.random.Generator, c: str) -> str:
        """A short well-formed string containing the script character ``c``."""
        cat = unicodedata.category(c)
        if cat == "Nd":
            digits = self._native_digits or (c,)
            n = int(rng.integers(0, 4))
            s = [pick(rng, digits) for _ in range(n)]
            s.insert(int(rng.integers(0, n + 1)), c)
            return "".join(s)
        P = self._indic
        if P is None:
            if self.script == "Arab" and cat[0] == "M":
                return pick(rng, self._letters or self._fallback) + c
            return c
        kind = P.classify(c)
        if kind == "consonant":
            return self._akshara(rng, consonant=c)
        if kind == "vowel":
            return c + (pick(rng, P.modifiers) if P.modifiers and rng.random() < 0.2 else "")
        if kind == "vowel_sign":
            units = P.units_with(c) or (c,)
            return self._akshara(rng, vowel_unit=pick(rng, units))
        if kind == "virama":
            return self._akshara(rng, force_conjunct=rng.random() < 0.5, force_virama=True) \
                if rng.random() < 0.5 else self._akshara(rng, force_conjunct=True)
        if kind == "nukta":
            return self._akshara(rng, force_nukta=True)
        if kind == "modifier":
            if P.vowels and rng.random() < 0.2:
                return pick(rng, P.vowels) + c
            return self._akshara(rng, modifier=c)
        if kind == "addak":
            return self._akshara(rng, addak=True)
        return c  # other letters (avagraha, chillu, khanda ta…), punctuation

    def _mode_cluster(self, rng: np.random.Generator) -> str:
        unit, word = cluster_index(self).draw(rng)
        if word is None:
            return self._rare_piece(rng, unit) if len(unit) == 1 else (unit or
                                                                       pick(rng, self._fallback))
        if unit not in word:  # Latin upper-case letter found through its lower case
            return word.upper()
        return word

    def _mode_rare(self, rng: np.random.Generator) -> str:
        if not self._script_chars:
            return self._mode_random(rng)
        c = pick(rng, self._script_chars)
        piece = self._rare_piece(rng, c)
        cat = unicodedata.category(c)
        if cat == "Nd" or rng.random() < 0.4:
            # the piece alone, or with a neighbouring random akshara / letter
            if self._indic is not None and cat != "Nd" and rng.random() < 0.5:
                extra = self._akshara(rng)
                piece = piece + extra if rng.random() < 0.5 else extra + piece
            return piece  # too long for max_len: sample_mode draws again
        w = self._word(rng)
        if not w or len(w) + len(piece) > self.max_len:
            return piece
        if cat[0] == "P":
            return w + piece
        if self._indic is None:
            if self.script == "Arab":
                # insert at a letter boundary (never between a letter and its harakat)
                cuts = [i for i in range(len(w) + 1)
                        if i == len(w) or unicodedata.category(w[i])[0] != "M"]
            else:
                # Latin: replace one letter, or insert
                i = int(rng.integers(len(w)))
                if rng.random() < 0.5:
                    return w[:i] + piece + w[i + 1:]
                cuts = list(range(len(w) + 1))
            i = pick(rng, cuts)
            return w[:i] + piece + w[i:]
        # Indic: insert at an akshara boundary: before a consonant / vowel letter that does not
        # follow a virama, or at either end.
        P = self._indic
        starts = set(P.consonants) | set(P.vowels) | set(P.others)
        cuts = [0, len(w)] + [i for i in range(1, len(w))
                              if w[i] in starts and w[i - 1] != P.virama]
        if P.addak:
            cuts = [i for i in cuts if i == 0 or w[i - 1] not in P.addak]
        i = pick(rng, cuts)
        return w[:i] + piece + w[i:]
