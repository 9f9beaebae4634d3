"""An eval-only BM25 prototype (not part of vpack): tokenizer variants and Okapi BM25
over a list of chunk texts, scoring every chunk for a query (the corpora here have at
most a few thousand chunks, so a dictionary inverted index is plenty).

Tokenizers (all casefold the text first):

- ``words``: Unicode words, letters and digits only (``[^\\W_]+``): ``django.db.models``
  -> ``django db models``, ``user_name`` -> ``user name``.
- ``ident``: identifiers kept whole: runs of word characters joined by ``.`` or ``_``
  (``\\w+(?:\\.\\w+)*``; a sentence's final dot is not joined): ``django.db.models``
  stays one token, ``apt-get`` is two.
- ``ident+split``: both: every whole identifier that contains ``.`` or ``_``, and its
  ``words`` parts, so ``DJANGO_SETTINGS_MODULE`` matches both itself and ``settings``.

``stem=True`` applies the Snowball English stemmer (``snowballstemmer``) to every
token made only of letters (identifiers containing ``.``/``_``/digits are left as they
are). ``stop=True`` drops English stopwords (``STOPWORDS``, NLTK's English list)
from documents and queries, before stemming.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import cache
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

_WORDS = re.compile(r"[^\W_]+")
_IDENT = re.compile(r"\w+(?:\.\w+)*")


def _words(text: str) -> List[str]:
    return _WORDS.findall(text.casefold())


def _ident(text: str) -> List[str]:
    return _IDENT.findall(text.casefold())


def _ident_split(text: str) -> List[str]:
    out: List[str] = []
    for tok in _IDENT.findall(text.casefold()):
        parts = _WORDS.findall(tok)
        if len(parts) > 1:
            out.append(tok)
        out.extend(parts)
    return out


TOKENIZERS: Dict[str, Callable[[str], List[str]]] = {
    "words": _words,
    "ident": _ident,
    "ident+split": _ident_split,
}


# English stopwords: the Snowball project's list, with contractions as this module's
# tokenizers split them ("don't" -> "don", "t"), as NLTK ships it.
_STOP_TEXT = """i me my myself we our ours ourselves you your yours yourself yourselves he him
his himself she her hers herself it its itself they them their theirs themselves what which
who whom this that these those am is are was were be been being have has had having do does
did doing a an the and but if or because as until while of at by for with about against
between into through during before after above below to from up down in out on off over
under again further then once here there when where why how all any both each few more most
other some such no nor not only own same so than too very s t can will just don should now
d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan
shouldn wasn weren won wouldn"""
STOPWORDS = frozenset(re.findall(r"\S+", _STOP_TEXT))


def make_tokenizer(name: str, stem: bool = False, stop: bool = False) -> Callable[[str], List[str]]:
    base = TOKENIZERS[name]
    if stop:
        unstopped = base

        def base(text: str) -> List[str]:
            return [t for t in unstopped(text) if t not in STOPWORDS]

    if not stem:
        return base
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")

    @cache
    def one(tok: str) -> str:
        return stemmer.stemWord(tok) if tok.isalpha() else tok

    def tokenize(text: str) -> List[str]:
        return [one(t) for t in base(text)]

    return tokenize


class BM25:
    """Okapi BM25 with the Lucene IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (never
    negative). ``scores(query)`` returns one float per chunk (0 where no term matches)."""

    def __init__(
        self, texts: Sequence[str], tokenize: Callable[[str], List[str]], k1: float = 1.2, b: float = 0.75
    ) -> None:
        self.tokenize = tokenize
        self.n = len(texts)
        self._tfs: List[Counter[str]] = [Counter(tokenize(t)) for t in texts]
        self.lengths = np.array([sum(c.values()) for c in self._tfs], dtype=np.float64)
        self.avgdl = float(self.lengths.mean()) if self.n else 0.0
        self.postings: Dict[str, tuple] = {}
        raw: Dict[str, List[tuple]] = {}
        for i, tf in enumerate(self._tfs):
            for term, f in tf.items():
                raw.setdefault(term, []).append((i, f))
        for term, plist in raw.items():
            ids = np.fromiter((p[0] for p in plist), dtype=np.int64, count=len(plist))
            freqs = np.fromiter((p[1] for p in plist), dtype=np.float64, count=len(plist))
            self.postings[term] = (ids, freqs)
        self.set_params(k1, b)

    def set_params(self, k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self._norm = k1 * (1.0 - b + b * self.lengths / max(self.avgdl, 1e-9))

    def idf(self, term: str) -> float:
        plist = self.postings.get(term)
        df = 0 if plist is None else len(plist[0])
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def scores(self, query: str, terms: Optional[List[str]] = None) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float64)
        q = Counter(self.tokenize(query) if terms is None else terms)
        for term in q:  # each distinct query term once (BM25's usual query side)
            plist = self.postings.get(term)
            if plist is None:
                continue
            ids, freqs = plist
            out[ids] += self.idf(term) * freqs * (self.k1 + 1.0) / (freqs + self._norm[ids])
        return out
