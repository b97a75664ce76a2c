"""Captions for the synthetic web images, in the style of an image captioner, with their part-of-speech tags.

A caption names the drawn objects with varied wording: synonyms and plurals of the class names
(`wilss.data.vocabulary`), counts, adjectives, an opening such as "a blurry photo of", a relation to a second
object and a scene ("a blurry photo of two dogs next to a wooden table in a living room"). Captions of images
without a VOC object name other things ("a red ball on the grass", "a sunset over the ocean").

Every word carries the Penn Treebank tag a tagger would give it, so the generator can also write the released
noun files (the words tagged exactly NN, reference §9.2 step 2) without a tagger.
"""

from __future__ import annotations

import numpy as np

from wilss.data.vocabulary import CLASS_NAMES, SYNONYMS, plural

Tagged = tuple[tuple[str, str], ...]     # (word, Penn tag) pairs


def _tagged(text: str) -> Tagged:
    """"a/DT photo/NN of/IN" -> (("a", "DT"), ("photo", "NN"), ("of", "IN"))."""
    return tuple(tuple(item.rsplit("/", 1)) for item in text.split())   # type: ignore[misc]


def _options(*texts: str) -> tuple[Tagged, ...]:
    return tuple(_tagged(text) for text in texts)


NO_OPENING_SHARE = 0.45
OPENINGS = _options(
    "a/DT photo/NN of/IN", "a/DT picture/NN of/IN", "a/DT blurry/JJ photo/NN of/IN", "a/DT closeup/NN of/IN",
    "an/DT image/NN of/IN", "a/DT view/NN of/IN", "a/DT black/JJ and/CC white/JJ photo/NN of/IN",
    "a/DT painting/NN of/IN", "a/DT cartoon/NN of/IN", "a/DT screenshot/NN of/IN", "a/DT drawing/NN of/IN",
    "a/DT stock/NN photo/NN of/IN",
)
ADJECTIVES = ("small", "large", "red", "white", "old", "cute", "black", "brown", "little", "big", "colorful",
              "vintage", "wooden", "beautiful", "young", "green", "blue")
COUNTS = _options("two/CD", "three/CD", "four/CD", "several/JJ", "many/JJ", "some/DT", "a/DT group/NN of/IN",
                  "a/DT couple/NN of/IN")
VERBS = _options("sitting/VBG", "standing/VBG", "parked/VBN", "lying/VBG", "seen/VBN", "shown/VBN")
RELATIONS = _options("next/JJ to/TO", "on/IN", "with/IN", "near/IN", "beside/IN", "in/IN front/NN of/IN",
                     "behind/IN", "on/IN top/NN of/IN", "and/CC", "under/IN")
SCENES = _options(
    "in/IN a/DT field/NN", "on/IN the/DT street/NN", "at/IN the/DT beach/NN", "in/IN a/DT living/NN room/NN",
    "on/IN a/DT white/JJ background/NN", "at/IN night/NN", "in/IN the/DT snow/NN", "on/IN the/DT grass/NN",
    "in/IN the/DT water/NN", "in/IN the/DT city/NN", "in/IN a/DT park/NN", "on/IN a/DT sunny/JJ day/NN",
    "in/IN a/DT kitchen/NN", "at/IN the/DT airport/NN", "on/IN a/DT farm/NN", "in/IN the/DT garden/NN",
)
# Things that are not VOC classes: what the distractors and the captioner's misses name.
OTHER_THINGS = ("ball", "cup", "laptop", "building", "tree", "pizza", "clock", "lamp", "book", "flower", "truck",
                "mountain", "bridge", "kite", "umbrella", "guitar", "phone", "sandwich", "cake", "house", "road",
                "keyboard", "vase", "bench", "sign", "toy", "logo", "bag", "shoe", "window", "fence", "box",
                "castle", "statue", "hat", "basket", "fountain", "tower")
SCENERY = _options(
    "a/DT sunset/NN over/IN the/DT ocean/NN", "an/DT empty/JJ room/NN", "a/DT landscape/NN with/IN mountains/NNS",
    "text/NN on/IN a/DT white/JJ background/NN", "an/DT abstract/JJ pattern/NN", "a/DT map/NN of/IN the/DT "
    "city/NN", "a/DT close/JJ up/RP of/IN a/DT texture/NN", "a/DT blurry/JJ picture/NN of/IN a/DT wall/NN",
    "a/DT cloudy/JJ sky/NN", "a/DT forest/NN in/IN autumn/NN", "the/DT logo/NN of/IN a/DT company/NN",
)
# Tags of non-final words of multi-word names ("potted plant"); others are nouns.
MODIFIER_TAGS = {"potted": "JJ", "double": "JJ", "sports": "NNS", "dirt": "NN"}
PLURAL_SHARE = 0.3
ADJECTIVE_SHARE = 0.4
SCENE_SHARE = 0.5
VERB_SHARE = 0.3


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _common_first(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    """A synonym, the common (earlier) ones more often: weights 1, 1/2, 1/3, ..."""
    weights = 1 / np.arange(1, len(words) + 1)
    return words[int(rng.choice(len(words), p=weights / weights.sum()))]


def _name(phrase: str, many: bool) -> Tagged:
    words = (plural(phrase) if many else phrase).split(" ")
    head = tuple((word, MODIFIER_TAGS.get(word, "NN")) for word in words[:-1])
    return head + ((words[-1], "NNS" if many else "NN"),)


def _noun_phrase(rng: np.random.Generator, phrase: str) -> Tagged:
    """"a small dog", "the dog", "two white dogs": a determiner or a count, maybe an adjective, the name."""
    many = rng.random() < PLURAL_SHARE
    adjective = ((_pick(rng, ADJECTIVES), "JJ"),) if rng.random() < ADJECTIVE_SHARE else ()
    first = adjective[0][0] if adjective else phrase
    if many:
        opening = _pick(rng, COUNTS)
    else:
        opening = (("the", "DT"),) if rng.random() < 0.2 else (("an" if first[0] in "aeiou" else "a", "DT"),)
    return opening + adjective + _name(phrase, many)


def _class_phrase(rng: np.random.Generator, class_id: int) -> Tagged:
    return _noun_phrase(rng, _common_first(rng, SYNONYMS[CLASS_NAMES[class_id - 1]]))


def _sentence(rng: np.random.Generator, subjects: list[Tagged]) -> Tagged:
    """Opening, first subject, maybe a verb, the other subjects joined by relations, maybe a scene."""
    words: Tagged = () if rng.random() < NO_OPENING_SHARE else _pick(rng, OPENINGS)
    words += subjects[0]
    if rng.random() < VERB_SHARE:
        words += _pick(rng, VERBS)
    for subject in subjects[1:]:
        words += _pick(rng, RELATIONS) + subject
    if rng.random() < SCENE_SHARE:
        words += _pick(rng, SCENES)
    return words


def objects_caption(rng: np.random.Generator, class_ids: list[int]) -> Tagged:
    """A caption naming every drawn class, in a random order."""
    order = [class_ids[int(k)] for k in rng.permutation(len(class_ids))]
    return _sentence(rng, [_class_phrase(rng, class_id) for class_id in order])


def other_things_caption(rng: np.random.Generator) -> Tagged:
    """A caption of an image without VOC objects: other things, or scenery."""
    if rng.random() < 0.3:
        return _pick(rng, SCENERY)
    things = [_noun_phrase(rng, _pick(rng, OTHER_THINGS)) for _ in range(1 + int(rng.random() < 0.3))]
    return _sentence(rng, things)


def text_of(caption: Tagged) -> str:
    return " ".join(word for word, _ in caption)


def nouns_of(caption: Tagged) -> list[str]:
    """The words tagged exactly NN, as the released noun files keep them."""
    return [word for word, tag in caption if tag == "NN"]
