"""Singular common nouns of a caption without NLTK's tagger: an offline stand-in for the released noun step.

The released code keeps the tokens NLTK's perceptron tagger tags exactly "NN" (docs/web_wilss.md); the
tagger's model cannot be downloaded here. This approximation (reconstructed, documented in docs/fidelity.md)
reads WordNet instead:
- a token is a candidate if its surface form is a noun lemma (so regular plurals, tagged NNS, drop out), it is
  not a closed-class word (determiners, prepositions, numbers, ... tagged DT/IN/CD/...), and not an irregular
  plural (noun.exc, "people"); words unknown to WordNet are candidates unless they end in "s", as the
  tagger's guess for unknown lowercase words is NN or NNS;
- a candidate at least as often an adjective as a noun that stands before a noun (any number) is an adjective
  ("young men", but "stock photo");
- otherwise it is a noun if WordNet's tagged-sense counts make it more often a noun than an adjective and at
  least as often as a verb or adverb, or, when it is never an adjective, if it follows a determiner or an
  adjective ("a plant", "potted plant").
When the released noun files (`captions/nouns/`) exist, they are used instead and this module is not needed.
"""

from __future__ import annotations

import re

from wilss.web.wordnet import WordNet

TOKEN = re.compile(r"[a-z]+")
DETERMINERS = frozenset("a an the this that these those some any each every no another his her its their my "
                        "your our".split())
CLOSED_CLASS = DETERMINERS | frozenset(
    "of in on at to with by for from near next beside under over behind above below into onto up down out off "
    "around through across along against between among inside outside upon via and or but nor so yet is are "
    "was were be being been am it he she they we you i me him them us there here while as very also not one two "
    "three four five six seven eight nine ten eleven twelve several many few much more most other such what "
    "which who whose whom where when".split())
IRREGULAR_PLURALS = frozenset({"people"})      # WordNet noun lemmas that the Penn tagger tags NNS


def _known(word: str, wordnet: WordNet) -> bool:
    return any(wordnet.tagged_count(word, pos) for pos in ("noun", "verb", "adj", "adv"))


def _noun_form(word: str, wordnet: WordNet) -> bool:
    """A noun in any number, or an unknown word (which a tagger guesses to be a noun)."""
    return word not in CLOSED_CLASS and (bool(wordnet.morphy(word)) or not _known(word, wordnet))


def _mostly_adjective(word: str, wordnet: WordNet) -> bool:
    return wordnet.tagged_count(word, "adj") >= max(1, wordnet.tagged_count(word, "noun"))


def _singular_candidate(word: str, wordnet: WordNet) -> bool:
    if word in CLOSED_CLASS or word in IRREGULAR_PLURALS or word in wordnet.exceptions["noun"]:
        return False
    if not _known(word, wordnet):
        return not word.endswith("s") or word.endswith("ss")
    return word in wordnet.index["noun"]


def singular_nouns(caption: str, wordnet: WordNet) -> list[str]:
    """The caption's words that the released step would most likely keep as "NN", in order."""
    words = TOKEN.findall(caption.lower())
    nouns = []
    for position, word in enumerate(words):
        if not _singular_candidate(word, wordnet):
            continue
        counts = {pos: wordnet.tagged_count(word, pos) for pos in ("noun", "verb", "adj", "adv")}
        following = words[position + 1] if position + 1 < len(words) else ""
        if counts["adj"] >= counts["noun"] and following and _noun_form(following, wordnet):
            continue                                           # attributive adjective: "red car", "young men"
        previous = words[position - 1] if position else ""
        after_modifier = previous in DETERMINERS or (previous and _mostly_adjective(previous, wordnet))
        mostly_noun = counts["noun"] >= max(counts["verb"], counts["adv"]) and counts["noun"] > counts["adj"]
        if not _known(word, wordnet) or mostly_noun or (after_modifier and not counts["adj"]):
            nouns.append(word)
    return nouns
