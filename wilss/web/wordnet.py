"""A small reader of the WordNet 3.0 noun database and the released replay filter's noun similarity.

The released filter (`utils/measure_noun.py::cos`, docs/web_wilss.md) lemmatises a noun, takes its first
noun synset, and describes it by a vector indexed by hypernym depth: every synset of its hypernym closure adds
0.05 * depth at index = its max depth. Two nouns are compared by the cosine of their vectors. This module
reimplements that from the database files (Debian package `wordnet-base`, the data NLTK's reader uses), so no
NLTK corpus download is needed; lemmatisation follows NLTK's `morphy` (exception list, then suffix rules) and
`WordNetLemmatizer` (shortest morphy form). The released code recomputed the deepest hypernym path over all of
WordNet on every call; it is computed once here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from wilss.errors import WilssError

DEFAULT_ROOT = Path("/usr/share/wordnet")
ENV_VAR = "WILSS_WORDNET"
POS_FILES = {"noun": "noun", "verb": "verb", "adj": "adj", "adv": "adv"}
# NLTK's noun detachment rules, in its order.
NOUN_SUFFIXES = (("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
                 ("shes", "sh"), ("men", "man"), ("ies", "y"))
VERB_SUFFIXES = (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
                 ("ing", ""))
DEPTH_WEIGHT = 0.05


@dataclass(frozen=True)
class IndexEntry:
    """One line of an index file: the lemma's synset offsets in sense order and its tagged-sense count."""

    offsets: tuple[int, ...]
    tagged_senses: int


def _read_index(path: Path) -> dict[str, IndexEntry]:
    entries = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(" "):                       # licence header
                continue
            fields = line.split()
            synset_count, pointer_count = int(fields[2]), int(fields[3])
            tagged = int(fields[5 + pointer_count])
            entries[fields[0]] = IndexEntry(tuple(int(x) for x in fields[len(fields) - synset_count:]), tagged)
    return entries


def _read_hypernyms(path: Path) -> tuple[dict[int, tuple[int, ...]], dict[int, tuple[int, ...]]]:
    """Per noun synset offset: its hypernyms ('@') and its instance hypernyms ('@i')."""
    hypernyms, instance_of = {}, {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(" "):
                continue
            fields = line.split(" | ", 1)[0].split()
            offset, word_count = int(fields[0]), int(fields[3], 16)
            position = 4 + 2 * word_count
            pointer_count = int(fields[position])
            pointers = fields[position + 1: position + 1 + 4 * pointer_count]
            symbols, targets = pointers[0::4], pointers[1::4]
            hypernyms[offset] = tuple(int(t) for s, t in zip(symbols, targets) if s == "@")
            instance_of[offset] = tuple(int(t) for s, t in zip(symbols, targets) if s == "@i")
    return hypernyms, instance_of


def _read_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
    with open(path, encoding="utf-8") as handle:
        return {fields[0]: tuple(fields[1:]) for fields in (line.split() for line in handle) if fields}


class WordNet:
    """Nouns of WordNet 3.0 (plus the other parts of speech's indexes, for telling nouns from other words)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.index = {pos: _read_index(self.root / f"index.{name}") for pos, name in POS_FILES.items()}
        self.exceptions = {pos: _read_exceptions(self.root / f"{name}.exc") for pos, name in POS_FILES.items()
                           if pos in ("noun", "verb")}
        self.hypernyms, self.instance_hypernyms = _read_hypernyms(self.root / "data.noun")
        self._depths: dict[int, int] = {}
        # Length of the longest hypernym path (synsets counted, so depth + 1): the vectors' length.
        self.vector_length = 1 + max(self.max_depth(offset) for offset in self.hypernyms)

    # ---- morphology (NLTK's morphy and WordNetLemmatizer, restricted to one part of speech)
    def morphy(self, form: str, pos: str = "noun") -> list[str]:
        """Base forms of `form` found in the index, in NLTK's order."""
        index = self.index[pos]
        if form in self.exceptions[pos]:
            return _unique_in(index, (form, *self.exceptions[pos][form]))
        suffixes = NOUN_SUFFIXES if pos == "noun" else VERB_SUFFIXES
        forms = _detach(suffixes, [form])
        found = _unique_in(index, [form, *forms])
        while not found and forms:
            forms = _detach(suffixes, forms)
            found = _unique_in(index, forms)
        return found

    def first_synset(self, word: str) -> int | None:
        """First noun synset as the released code picked it: lemmatise, then look the lemma up (lowercased)."""
        lemmas = self.morphy(word)
        lemma = min(lemmas, key=len) if lemmas else word
        for form in self.morphy(lemma.lower()):
            return self.index["noun"][form].offsets[0]
        return None

    # ---- the hypernym-depth vector
    def max_depth(self, offset: int) -> int:
        """Longest path to the root over hypernyms and instance hypernyms (NLTK's `Synset.max_depth`)."""
        if offset not in self._depths:
            parents = self.hypernyms[offset] + self.instance_hypernyms[offset]
            self._depths[offset] = 1 + max(self.max_depth(p) for p in parents) if parents else 0
        return self._depths[offset]

    def hypernym_closure(self, offset: int) -> set[int]:
        """All synsets reachable by hypernym ('@') links, the synset itself excluded."""
        seen: set[int] = set()
        frontier = list(self.hypernyms[offset])
        while frontier:
            current = frontier.pop()
            if current not in seen and current != offset:
                seen.add(current)
                frontier.extend(self.hypernyms[current])
        return seen

    def depth_vector(self, word: str) -> np.ndarray:
        vector = np.zeros(self.vector_length)
        offset = self.first_synset(word)
        if offset is not None:
            for ancestor in self.hypernym_closure(offset):
                depth = self.max_depth(ancestor)
                vector[depth] += DEPTH_WEIGHT * depth
        return vector

    def similarity(self, word1: str, word2: str) -> float:
        """Cosine of the two depth vectors; NaN (never above a threshold) when either is all zeros, as released."""
        first, second = self.depth_vector(word1), self.depth_vector(word2)
        norm = float(np.linalg.norm(first) * np.linalg.norm(second))
        return float(first @ second) / norm if norm > 0 else math.nan

    # ---- part of speech
    def tagged_count(self, word: str, pos: str) -> int:
        """How often `word` (or its base form, for nouns and verbs) was tagged with `pos` in SemCor; 0 if never."""
        bases = self.morphy(word, pos) if pos in self.exceptions else ([word] if word in self.index[pos] else [])
        return max((self.index[pos][base].tagged_senses + 1 for base in bases), default=0)


def _detach(suffixes, forms: list[str]) -> list[str]:
    return [form[: -len(old)] + new for form in forms for old, new in suffixes if form.endswith(old)]


def _unique_in(index: dict, forms) -> list[str]:
    return list(dict.fromkeys(form for form in forms if form in index))


def wordnet_root(path: Path | None = None) -> Path:
    """The WordNet database directory: `path`, else $WILSS_WORDNET, else the Debian location."""
    root = Path(path or os.environ.get(ENV_VAR) or DEFAULT_ROOT)
    if not (root / "data.noun").is_file():
        raise WilssError(
            f"WordNet 3.0 database not found in '{root}' (no data.noun). Install it with "
            "`apt-get install -y wordnet-base` (or `make setup` as root), or point --wordnet / $WILSS_WORDNET at "
            "a directory holding index.noun, data.noun and noun.exc."
        )
    return root


@lru_cache(maxsize=2)
def load_wordnet(path: Path | None = None) -> WordNet:
    return WordNet(wordnet_root(path))
