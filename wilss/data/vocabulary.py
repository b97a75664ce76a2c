"""Words for the 20 VOC classes: the released caption vocabulary, synonyms, plurals, and caption multi-labelling.

Web-WILSS labels a new-class web image with every class whose vocabulary W^c (synonyms and plurals) occurs in
the image's caption (the paper's method, reconstructed: the released code has no multi-labelling and the paper's W^c is
not published, so the word lists below are ours). The released `captions/pascal_classes.txt` names classes with
one word each (RELEASED_WORDS); the list the released script used to write it swaps dog and diningtable
(docs/web_wilss.md, "Released vs reconstructed"), which `read_class_file` undoes unless asked to keep the
released bug.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from wilss.data.tasks import VOC_CLASSES
from wilss.errors import WilssError

CLASS_NAMES = VOC_CLASSES[1:]            # index k holds VOC class k + 1
CLASS_INDEX = {name: index for index, name in enumerate(VOC_CLASSES) if index}

# One word per class, in VOC order: the vocabulary of the released pascal_classes.txt.
RELEASED_WORDS = ("airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "table",
                  "dog", "horse", "motorbike", "person", "plant", "sheep", "sofa", "train", "monitor")
# The released script's list (psc_classes): entries 11 and 12 are swapped, so the class file it wrote names
# every diningtable image "dog" and every dog image "table".
RELEASED_BUGGY_WORDS = RELEASED_WORDS[:10] + ("dog", "table") + RELEASED_WORDS[12:]

# Natural-language name of each class, for sentence embeddings and generated captions.
DISPLAY_NAMES = dict(zip(CLASS_NAMES, (
    "airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dining table", "dog",
    "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train", "tv monitor")))

# Singular words and phrases naming each class, most common first; W^c is these, their plurals and the VOC name.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "aeroplane": ("airplane", "plane", "jet", "airliner", "aircraft", "jetliner"),
    "bicycle": ("bicycle", "bike", "cycle", "mountain bike"),
    "bird": ("bird", "parrot", "eagle", "duck", "seagull", "owl", "pigeon", "sparrow", "swan", "goose"),
    "boat": ("boat", "ship", "sailboat", "yacht", "canoe", "kayak", "ferry", "vessel"),
    "bottle": ("bottle", "wine bottle", "water bottle", "beer bottle"),
    "bus": ("bus", "school bus", "double decker bus", "coach"),
    "car": ("car", "sedan", "taxi", "suv", "automobile", "sports car", "jeep"),
    "cat": ("cat", "kitten", "kitty", "tabby"),
    "chair": ("chair", "armchair", "stool", "office chair"),
    "cow": ("cow", "calf", "bull", "ox"),
    "diningtable": ("dining table", "table", "kitchen table", "dinner table"),
    "dog": ("dog", "puppy", "pup", "terrier", "retriever", "labrador", "poodle", "bulldog", "hound"),
    "horse": ("horse", "pony", "stallion", "mare", "foal"),
    "motorbike": ("motorbike", "motorcycle", "scooter", "moped", "dirt bike"),
    "person": ("person", "man", "woman", "boy", "girl", "child", "kid", "guy", "lady", "rider",
               "player", "baby", "gentleman", "human"),
    "pottedplant": ("potted plant", "plant", "houseplant", "house plant", "flower pot", "flowerpot"),
    "sheep": ("sheep", "lamb", "ram", "ewe"),
    "sofa": ("sofa", "couch", "settee", "loveseat"),
    "train": ("train", "locomotive", "railway", "tram", "subway"),
    "tvmonitor": ("tv monitor", "monitor", "television", "tv", "screen", "computer monitor",
                  "computer screen"),
}

IRREGULAR_PLURALS = {"man": "men", "woman": "women", "child": "children", "person": "people",
                     "gentleman": "gentlemen", "sheep": "sheep", "ox": "oxen", "goose": "geese",
                     "calf": "calves", "lady": "ladies",
                     "baby": "babies", "pony": "ponies", "kitty": "kitties", "railway": "railways",
                     "tv": "tvs", "bus": "buses", "school bus": "school buses", "double decker bus":
                     "double decker buses"}

WORD = re.compile(r"[a-z]+")
LONGEST_PHRASE = 3


def plural(phrase: str) -> str:
    """English plural of a singular word or phrase (inflecting its last word)."""
    if phrase in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[phrase]
    *head, last = phrase.split(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join([*head, last])


@lru_cache(maxsize=1)
def _phrase_classes() -> dict[tuple[str, ...], int]:
    """Word tuple of every synonym and its plural -> VOC class index."""
    table: dict[tuple[str, ...], int] = {}
    for name, words in SYNONYMS.items():
        for word in (*words, name):
            for form in (word, plural(word)):
                table[tuple(form.split(" "))] = CLASS_INDEX[name]
    return table


def labels_of(caption: str) -> list[int]:
    """Sorted VOC class indices (1..20) named in a caption by any synonym, singular or plural."""
    words = WORD.findall(caption.lower())
    table = _phrase_classes()
    found = set()
    for start in range(len(words)):
        for length in range(1, LONGEST_PHRASE + 1):
            phrase = tuple(words[start:start + length])
            if len(phrase) == length and phrase in table:
                found.add(table[phrase])
    return sorted(found)


def read_class_file(path: Path, released_bug: bool = False) -> dict[str, list[str]]:
    """`pascal_classes.txt` ("<source id>.png <word> ...") -> {source id: class names in VOC spelling}.

    The released file was written with RELEASED_BUGGY_WORDS, so "dog" there means diningtable and "table" means
    dog; that is undone unless `released_bug`, which reads the words as the released filter did.
    """
    path = Path(path)
    if not path.is_file():
        raise WilssError(f"class file '{path}' is missing. It lists the classes of every source image "
                         "('<id>.png <word> ...', Web-WILSS captions/pascal_classes.txt); put it in the web root.")
    words = RELEASED_WORDS if released_bug else RELEASED_BUGGY_WORDS
    meaning = dict(zip(words, CLASS_NAMES))
    classes: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        unknown = [word for word in fields[1:] if word not in meaning]
        if unknown:
            raise WilssError(f"{path}:{number}: unknown class word(s) {unknown}; the released vocabulary is "
                             f"{', '.join(RELEASED_WORDS)}.")
        classes[Path(fields[0]).stem] = [meaning[word] for word in fields[1:]]
    return classes


def class_file_line(source_id: str, class_names: list[str]) -> str:
    """One line of pascal_classes.txt as the released script wrote it (its word list, trailing space)."""
    buggy = dict(zip(CLASS_NAMES, RELEASED_BUGGY_WORDS))
    return f"{source_id}.png " + "".join(f"{buggy[name]} " for name in class_names)
