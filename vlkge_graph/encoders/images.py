"""Reading one image from a path or URL, turning every kind of failure into one exception type.

Real multimodal graphs reference images that are missing, truncated, not images at all or too big;
the encoders treat each of these as "this entity has no image", so they must all look alike here.
"""

from __future__ import annotations

import io
import urllib.request
import warnings

from PIL import Image, ImageOps

from vlkge_graph.content_hash import is_url
from vlkge_graph.image_limit import too_large

URL_TIMEOUT_S = 20


class ImageLoadError(Exception):
    """The image could not be read or decoded; the message says why."""


def load_image(ref: str, size: int | None = None) -> Image.Image:
    """An RGB image, EXIF-rotated; JPEGs decode at reduced resolution when ``size`` allows it."""
    try:
        source: str | io.BytesIO = ref
        if is_url(ref):
            with urllib.request.urlopen(ref, timeout=URL_TIMEOUT_S) as response:
                source = io.BytesIO(response.read())
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            if size is not None:
                image.draft("RGB", (2 * size, 2 * size))
            image.load()  # decode now: a truncated file fails here, not later in a worker
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "P", "PA"):  # transparent areas become white, not black
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            return image.convert("RGB")
    except FileNotFoundError:
        raise ImageLoadError("file not found") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"image too large: {too_large(exc)}") from None
    except Exception as exc:  # any decoder failure means "no usable image"
        raise ImageLoadError(f"{type(exc).__name__}: {exc}") from None
