"""The pixel limit above which an image counts as too large to read (a probable decompression bomb).

Kept in a module of its own, free of torch, because the dataset readers and the encoders both apply it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image


@contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Inside, images over ``max_pixels`` are too large (PIL's decompression-bomb guard, which the readers
    and the encoders treat as an unusable image); None keeps PIL's default of about 89 megapixels.

    PIL keeps the limit in one process-wide setting, so it is set for the block and restored after it.
    """
    if max_pixels is None:
        yield
        return
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def too_large(exc: Exception) -> str:
    """A decompression-bomb error or warning of PIL as ``N pixels, over the limit of M; ...``."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else str(exc)
    return (f"{size}, over the limit of {Image.MAX_IMAGE_PIXELS:,}; raise max_image_pixels in the recipe or "
            "vlkge.yaml if you trust it")
