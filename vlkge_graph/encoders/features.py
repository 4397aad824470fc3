"""Entity table -> per-modality feature matrices with presence masks, aligned with the entity order.

This is the trainer's input (``{"image": (X, mask), "text": (X, mask)}``, and ``"name"``: the entity's
name alone through a text encoder, where a recipe asks for it). Features are looked up in
the on-disk cache by (encoder id, content hash) first; only entities whose text or images are new
are encoded, and identical contents are encoded once. An entity whose images all fail to load simply
has no image feature; the failures are counted and reported.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from torch import Tensor

from vlkge_graph.content_hash import entity_hashes, image_refs, text_hash
from vlkge_graph.encoders.base import ImageEncoder, TextEncoder
from vlkge_graph.encoders.cache import FeatureCache
from vlkge_graph.encoders.precomputed import PrecomputedFeatures
from vlkge_graph.encoders.registry import AnyEncoder, get_encoder
from vlkge_graph.errors import ConfigError, DataError
from vlkge_graph.etl.sources import cache_dir
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.snapshot import read_snapshot

EncoderArg = str | AnyEncoder | None
FEATURES_FILE = "features.json"


@dataclass
class ModalityReport:
    """What happened to one modality: how many entities came from the cache, were encoded, failed."""

    modality: str
    encoder: str
    encoder_id: str
    dim: int
    entities: int
    with_input: int = 0
    from_cache: int = 0
    encoded: int = 0
    missing: int = 0
    failed_images: int = 0
    failure_examples: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        text = (f"{self.modality} [{self.encoder}, {self.dim}-d]: {self.with_input:,}/{self.entities:,} entities "
                f"have it; {self.from_cache:,} from cache, {self.encoded:,} encoded, {self.missing:,} left "
                f"without a feature ({self.seconds:.1f} s)")
        if self.failed_images:
            ref, why = self.failure_examples[0]
            text += f"; {self.failed_images:,} unreadable image(s), e.g. {ref}: {why}"
        return text


class EncodedFeatures(dict[str, tuple[Tensor, Tensor]]):
    """``modality -> (float32 [n_entities, d], bool present [n_entities])`` plus a per-modality report."""

    def __init__(self) -> None:
        super().__init__()
        self.summary: dict[str, ModalityReport] = {}


def encode_features(
    source: TableSet | str | Path,
    image_encoder: EncoderArg = None,
    text_encoder: EncoderArg = None,
    device: str | torch.device | None = None,
    *,
    name_encoder: EncoderArg = None,
    use_cache: bool = True,
    progress: bool = True,
    console: Console | None = None,
) -> EncodedFeatures:
    """Features of every entity of ``source`` (a TableSet or a snapshot directory), in entity order.

    Encoders are given as specs (``"efficientnet-lite0"``, ``"open_clip:ViT-B-32"``, ...) or as encoder
    objects (reused, e.g. across calls); ``None`` skips that modality. ``name_encoder``: a text encoder for
    the ``name`` slot (the entity's name alone; cached by the name's hash). Results are float32 on the CPU.
    """
    tables = _tables(source)
    entities = tables.entities
    text_hashes, image_hashes = _hashes(entities)
    features = EncodedFeatures()
    console = console or Console(stderr=True, quiet=not progress)
    # (feature slot, encoder kind, column read, encoder, content hashes)
    slots = [("image", "image", "images", image_encoder, image_hashes),
             ("text", "text", "text", text_encoder, text_hashes)]
    if name_encoder is not None:
        slots.append(("name", "text", "name", name_encoder, [text_hash(n) for n in entities["name"]]))
    for modality, kind, column, arg, keys in slots:
        if arg is None:
            continue
        encoder = get_encoder(arg, kind, device) if isinstance(arg, str) else arg
        if encoder.modality != kind:
            raise ConfigError(f"{encoder.spec} encodes {encoder.modality}, not {kind} (the {modality} features)")
        start = time.perf_counter()
        report = ModalityReport(modality, encoder.spec, encoder.encoder_id, encoder.dim, len(entities))
        if isinstance(encoder, PrecomputedFeatures):
            values, present = encoder.lookup(entities["id"].astype(str).tolist())
            report.with_input = report.from_cache = int(present.sum())
        else:
            values, present = _encode_modality(encoder, entities, keys, report, use_cache, progress, console,
                                               column)
        report.seconds = time.perf_counter() - start
        features[modality] = (values, present)
        features.summary[modality] = report
        console.print(report.line(), markup=False)
    return features


def save_features(features: EncodedFeatures, directory: Path) -> None:
    """Write the matrices, masks and reports into ``directory`` (the encode stage's artifact)."""
    directory.mkdir(parents=True, exist_ok=True)
    for modality, (values, present) in features.items():
        np.save(directory / f"{modality}.values.npy", values.numpy())
        np.save(directory / f"{modality}.present.npy", present.numpy())
    reports = {m: asdict(r) for m, r in features.summary.items()}
    (directory / FEATURES_FILE).write_text(json.dumps(reports, indent=2), encoding="utf-8")


def load_features(directory: Path) -> EncodedFeatures:
    """What :func:`save_features` wrote, without loading any encoder."""
    try:
        reports = json.loads((directory / FEATURES_FILE).read_text(encoding="utf-8"))
        features = EncodedFeatures()
        for modality, report in reports.items():
            values = torch.from_numpy(np.load(directory / f"{modality}.values.npy"))
            present = torch.from_numpy(np.load(directory / f"{modality}.present.npy"))
            features[modality] = (values, present)
            features.summary[modality] = ModalityReport(**{**report, "failure_examples": [
                tuple(x) for x in report.get("failure_examples", [])]})
        return features
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{directory}: no readable encoded features ({FEATURES_FILE}); run the encode stage "
                        f"again: {exc}") from exc


def _tables(source: TableSet | str | Path) -> TableSet:
    return source if isinstance(source, TableSet) else read_snapshot(source)[0]


def _hashes(entities: pd.DataFrame) -> tuple[list[str | None], list[str | None]]:
    """The snapshot's content hashes when present, otherwise computed from texts and image files."""
    if {"text_hash", "image_hash"} <= set(entities.columns):
        return ([_str_or_none(v) for v in entities["text_hash"]],
                [_str_or_none(v) for v in entities["image_hash"]])
    return entity_hashes(entities)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _encode_modality(
    encoder: ImageEncoder | TextEncoder,
    entities: pd.DataFrame,
    keys: list[str | None],
    report: ModalityReport,
    use_cache: bool,
    progress: bool,
    console: Console,
    column: str,
) -> tuple[Tensor, Tensor]:
    """Cache lookup, then encode each distinct missing content once, store it, assemble in entity order
    (images or texts read from ``column``)."""
    first_row: dict[str, int] = {}
    for row, key in enumerate(keys):
        if key is not None:
            first_row.setdefault(key, row)
    unique = list(first_row)
    report.with_input = sum(k is not None for k in keys)
    cache = (FeatureCache(cache_dir("features", encoder.encoder_id), encoder.dim)
             if use_cache and encoder.cacheable else None)
    vectors, found = cache.get(unique) if cache else (np.zeros((len(unique), encoder.dim), np.float32),
                                                     np.zeros(len(unique), bool))
    todo = [i for i in range(len(unique)) if not found[i]]
    if todo:
        rows = [first_row[unique[i]] for i in todo]
        if isinstance(encoder, ImageEncoder):
            new, ok = _encode_images(encoder, [image_refs(entities[column].iat[r]) for r in rows],
                                     report, progress, console)
        else:
            new = encoder.encode([str(entities[column].iat[r]) for r in rows], progress=progress, console=console)
            ok = torch.ones(len(rows), dtype=torch.bool)
        todo_ok = np.asarray(todo)[ok.numpy()]
        vectors[todo_ok] = new[ok].numpy()
        found[todo_ok] = True
        if cache is not None:
            cache.put([unique[i] for i in todo_ok], vectors[todo_ok])
    slot = {key: i for i, key in enumerate(unique)}
    out = torch.zeros(len(keys), encoder.dim)
    present = torch.zeros(len(keys), dtype=torch.bool)
    entity_rows = [r for r, k in enumerate(keys) if k is not None and found[slot[k]]]
    if entity_rows:
        slots = [slot[keys[r]] for r in entity_rows]  # type: ignore[index]
        out[entity_rows] = torch.from_numpy(vectors[slots])
        present[entity_rows] = True
    encoded_keys = {unique[i] for i in todo} & {unique[i] for i in range(len(unique)) if found[i]}
    report.encoded = sum(k in encoded_keys for k in keys)
    report.from_cache = int(present.sum()) - report.encoded
    report.missing = report.with_input - int(present.sum())
    return out, present


def _encode_images(
    encoder: ImageEncoder, refs_per_item: list[list[str]], report: ModalityReport, progress: bool,
    console: Console,
) -> tuple[Tensor, Tensor]:
    """Mean of the readable images of each item; ``ok`` is False where none could be read."""
    ref_slot: dict[str, int] = {}
    for refs in refs_per_item:
        for ref in refs:
            ref_slot.setdefault(ref, len(ref_slot))
    flat, flat_ok = encoder.encode(list(ref_slot), progress=progress, console=console)
    report.failed_images += len(encoder.failures)
    report.failure_examples.extend(encoder.failures[:5 - len(report.failure_examples)])
    item_index = [i for i, refs in enumerate(refs_per_item) for r in refs if flat_ok[ref_slot[r]]]
    ref_index = [ref_slot[r] for refs in refs_per_item for r in refs if flat_ok[ref_slot[r]]]
    sums = torch.zeros(len(refs_per_item), encoder.dim).index_add_(
        0, torch.tensor(item_index, dtype=torch.long), flat[torch.tensor(ref_index, dtype=torch.long)])
    counts = torch.bincount(torch.tensor(item_index, dtype=torch.long), minlength=len(refs_per_item))
    return sums / counts.clamp(min=1).unsqueeze(1), counts > 0
