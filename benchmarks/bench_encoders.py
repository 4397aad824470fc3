"""Encoding throughput of the offline encoders: EfficientNet-Lite0 images/s and MiniLM texts/s.

Images are the Countries-MM flags (etl/data/countries-mm/flags) when present, else drawn 320x240
PNGs; texts are the Countries-MM descriptions, else generated sentences. Loading and decoding are
included in the image rate (that is what a real run pays); the feature cache is bypassed.

    python benchmarks/bench_encoders.py [--images 512] [--texts 2048] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from vlkge_graph.encoders import get_encoder, resolve_device

DATA = Path(__file__).resolve().parents[1] / "etl" / "data" / "countries-mm"


def image_refs(n: int, scratch: Path) -> list[str]:
    flags = sorted(str(p) for p in (DATA / "flags").glob("*.png"))
    if not flags:
        for i in range(64):
            image = Image.new("RGB", (320, 240), (i * 4 % 256, 80, 200))
            ImageDraw.Draw(image).ellipse((40 + i, 40, 200, 200), fill=(255, 200 - i, 0))
            image.save(scratch / f"{i}.png")
            flags.append(str(scratch / f"{i}.png"))
    return [flags[i % len(flags)] for i in range(n)]


def texts(n: int) -> list[str]:
    rows: list[str] = []
    if (DATA / "entities.csv").is_file():
        with open(DATA / "entities.csv", newline="", encoding="utf-8") as handle:
            rows = [r["text"] for r in csv.DictReader(handle) if r["text"]]
    rows = rows or [f"Entity number {i} is a country with a long and varied history." for i in range(100)]
    return [rows[i % len(rows)] for i in range(n)]


def rate(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """Items per wall-clock second, and CPU milliseconds per item (meaningful on a busy machine)."""
    fn(min(n, 32))  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    fn(n)
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    load = os.getloadavg()[0]
    table = Table(title=f"encoding throughput on {device} ({torch.get_num_threads()} threads, "
                        f"{os.cpu_count()} CPUs, load average {load:.1f} at start)")
    for column in ("encoder", "items", "items/s", "CPU ms/item"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as scratch:
        refs = image_refs(args.images, Path(scratch))
        image = get_encoder("efficientnet-lite0", "image", device)
        image_rate, image_cpu = rate(lambda n: image.encode(refs[:n], progress=False), args.images)  # type: ignore[union-attr]
    table.add_row("efficientnet-lite0 (images, incl. decoding)", str(args.images), f"{image_rate:.1f}",
                  f"{image_cpu:.1f}")
    sentences = texts(args.texts)
    text = get_encoder("minilm", "text", device)
    text_rate, text_cpu = rate(lambda n: text.encode(sentences[:n], progress=False), args.texts)  # type: ignore[union-attr]
    table.add_row("minilm (texts)", str(args.texts), f"{text_rate:.1f}", f"{text_cpu:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
