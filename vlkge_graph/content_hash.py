"""Content hashes of an entity's modalities: the keys of the feature cache.

The snapshot stores them per entity and the feature cache is keyed by them, so an entity whose text
and images did not change is never encoded again, whichever machine or run encodes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

URL_SCHEMES = ("http://", "https://", "file://")


def is_url(ref: str) -> bool:
    """True for an image reference that is a URL rather than a local path."""
    return ref.lower().startswith(URL_SCHEMES)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_hash(text: object) -> str | None:
    """sha256 of the UTF-8 text; None when the entity has no (non-blank) text."""
    if not isinstance(text, str) or not text.strip():
        return None
    return _sha256(text.encode("utf-8"))


def image_ref_hash(ref: str) -> str:
    """sha256 of a local file's bytes; of ``url:<ref>`` for URLs, ``missing:<ref>`` for unreadable paths.

    A file that appears or changes later gets a new hash, so the cache never serves a stale vector.
    """
    if is_url(ref):
        return _sha256(f"url:{ref}".encode())
    try:
        with open(ref, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return _sha256(f"missing:{ref}".encode())


def images_hash(refs: Iterable[str], ref_hashes: dict[str, str] | None = None) -> str | None:
    """Hash of an entity's ordered image list (hash of the per-image hashes); None when it has none."""
    refs = list(refs)
    if not refs:
        return None
    digests = [(ref_hashes or {}).get(ref) or image_ref_hash(ref) for ref in refs]
    return _sha256("\n".join(digests).encode())


def image_refs(value: object) -> list[str]:
    """The entity's ``images`` cell as a list of non-empty strings (None, NaN, arrays are tolerated)."""
    if value is None or isinstance(value, float):
        return []
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value if isinstance(v, str | Path) and str(v)]


def resolve_ref(ref: str, base: Path | None) -> str:
    """A relative local path resolved against ``base`` (a snapshot directory); URLs unchanged."""
    if base is None or is_url(ref) or Path(ref).is_absolute():
        return ref
    return str(base / ref)


def entity_hashes(
    entities: pd.DataFrame, base: Path | None = None, workers: int = 8
) -> tuple[list[str | None], list[str | None]]:
    """``(text_hash, image_hash)`` per entity row; image files are read in parallel threads (I/O bound).

    Relative image paths are read relative to ``base``; the hash does not depend on how a path is
    spelt, only on the file's bytes.
    """
    texts = [text_hash(t) for t in entities["text"]]
    refs_per_entity = [image_refs(v) for v in entities["images"]]
    unique_refs: Sequence[str] = sorted({r for refs in refs_per_entity for r in refs})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = pool.map(lambda ref: image_ref_hash(resolve_ref(ref, base)), unique_refs)
        ref_hashes = dict(zip(unique_refs, digests, strict=True))
    images = [images_hash(refs, ref_hashes) for refs in refs_per_entity]
    return texts, images
