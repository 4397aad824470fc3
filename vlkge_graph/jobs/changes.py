"""What changed in a scope since its active run: new, removed and edited entities, new and removed facts.

The active run (the scope's ``VlkgeRun {active: true}``) left its snapshot in ``<runs_dir>/<run_id>/snapshot``.
First the server's fingerprint of the scope (``vlkge.fingerprint``, see fingerprint.py) is compared with
the snapshot's: equal means nothing changed, without an export (about a second on WN18RR). Only when they
differ is the scope exported and compared entity by entity and fact by fact with the snapshot.
Nothing is written to the graph; the snapshot's fingerprint is cached in the run directory.
Drift (what promotes a refresh to a retrain) counts from the last retrain, not from the active run: after a
chain of refreshes the active run is the last refresh, and ten refreshes of 1% each are 10% of drift.
Image changes are changes of a node's image references; a file replaced in place under the same path is
not a change of the graph (the feature cache, keyed by file content, still sees it on the next retrain).
A rename is a change only for a run whose recipe encodes names (``features.name``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vlkge_graph.config import SyncConfig
from vlkge_graph.content_hash import image_refs, text_hash
from vlkge_graph.errors import ConfigError, VlkgeError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs.fingerprint import Fingerprint, name_of, plugin_available, server_fingerprint, tables_fingerprint
from vlkge_graph.snapshot import TABLE_FILES, read_manifest

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.json"
FACT_KEY = ["head", "relation", "tail"]


class NoBaselineError(VlkgeError):
    """The scope has no active run to compare with, or its run directory is not on this machine."""

    def __init__(self, message: str, short: str) -> None:
        super().__init__(message)
        self.short = short  # the fact without the advice, for job histories


@dataclass
class Changes:
    """The difference between a scope's graph now and its active run's snapshot."""

    scope: str
    run_id: str  # the active run compared with
    changed: bool
    method: str  # "fingerprint": decided by the fingerprints alone; "diff": the scope was exported and compared
    seconds: float
    base: dict[str, int]  # entities and facts in the run's snapshot
    now: dict[str, int]  # entities and facts in the graph now
    new_entities: list[str] = field(default_factory=list)
    removed_entities: list[str] = field(default_factory=list)
    changed_text: list[str] = field(default_factory=list)  # entities whose text changed
    changed_images: list[str] = field(default_factory=list)  # entities whose image references changed
    changed_names: list[str] = field(default_factory=list)  # renamed entities, when the run encodes names
    new_facts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FACT_KEY))
    removed_facts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FACT_KEY))
    filter_changed: bool = False  # the scope's graph filter is not the one the run exported with
    current: TableSet | None = None  # the export the diff was made from (None when the fingerprints decided)
    detailed: bool = True  # False: changed by the fingerprints, not compared (the lists are empty)
    #: The last retrain's run id, its entities and facts, and what is new since it (``new_entities``,
    #: ``new_facts``): the active run's own when it is not a refresh. Set by the detailed comparison.
    since_retrain: dict[str, Any] | None = None

    @property
    def changed_entities(self) -> list[str]:
        """Entities whose features' inputs changed: text, images, or (when the run encodes names) name."""
        return sorted(set(self.changed_text) | set(self.changed_images) | set(self.changed_names))

    @property
    def touched_entities(self) -> int:
        """New, removed and edited entities: what a job's ``min_changed_entities`` counts."""
        return len(self.new_entities) + len(self.removed_entities) + len(self.changed_entities)

    @property
    def drift(self) -> float:
        """The larger of the shares of new entities and of new facts since the last retrain (relative to its
        snapshot; the active run's snapshot when the comparison was not detailed)."""
        r = self.since_retrain or {"new_entities": len(self.new_entities), "new_facts": len(self.new_facts),
                                   **self.base}
        return max(r["new_entities"] / max(r["entities"], 1), r["new_facts"] / max(r["facts"], 1))

    def counts(self) -> dict[str, int]:
        return {"new_entities": len(self.new_entities), "removed_entities": len(self.removed_entities),
                "changed_entities": len(self.changed_entities), "new_facts": len(self.new_facts),
                "removed_facts": len(self.removed_facts)}

    def summary(self) -> str:
        if not self.changed:
            return (f"scope {self.scope}: unchanged since run {self.run_id} ({self.now['entities']:,} entities, "
                    f"{self.now['facts']:,} facts; {self.method} check, {self.seconds:.1f} s)")
        if not self.detailed:
            return (f"scope {self.scope}: changed since run {self.run_id} (the fingerprints differ; not compared "
                    f"in detail; {self.seconds:.1f} s)")
        parts = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in self.counts().items() if n)
        note = "; the graph filter changed" if self.filter_changed else ""
        since = self.since_retrain
        retrain = f" since retrain {since['run_id']}" if since and since["run_id"] != self.run_id else ""
        return (f"scope {self.scope}: changed since run {self.run_id}: {parts or 'no entity or fact differs'}{note} "
                f"(drift {self.drift:.1%}{retrain}; {self.method}, {self.seconds:.1f} s)")


def active_run(graph: Graph, scope: str) -> dict[str, Any] | None:
    """The scope's active (visible) run: ``run_id`` and ``published_at``, or None."""
    rows = graph.query("MATCH (r:VlkgeRun {scope: $scope, active: true}) RETURN r.run_id AS run_id, "
                       "toString(r.published_at) AS published_at ORDER BY r.published_at DESC LIMIT 1", scope=scope)
    return rows[0] if rows else None


def active_run_dir(graph: Graph, sync: SyncConfig) -> Path:
    """The active run's directory, with errors that say what to do when there is none."""
    scope = sync.scope_name
    run = active_run(graph, scope)
    if run is None:
        raise NoBaselineError(f"scope {scope!r} has no active run in this database: run a sync first "
                              "(`vlkge-graph sync`, or a job with action: retrain)", "the scope has no active run")
    run_dir = Path(sync.runs_dir) / run["run_id"]
    if not (run_dir / "snapshot").is_dir():
        raise NoBaselineError(f"the active run {run['run_id']!r} of scope {scope!r} has no snapshot in {run_dir}/ "
                              "(the run directory was deleted, or the sync ran with another runs_dir or on another "
                              "machine): set sync.runs_dir to where it is, or run a sync",
                              f"the active run's snapshot is not in {run_dir}/")
    return run_dir


def detect_changes(graph: Graph, sync: SyncConfig, *, run_dir: Path | None = None, detail: bool = True,
                   use_plugin: bool | None = None) -> Changes:
    """Compare the scope's graph with ``run_dir``'s snapshot (default: the active run's).

    ``detail=False`` stops at the fingerprints (``changed`` set, no lists). Without the plugin's
    ``vlkge.fingerprint`` (or with ``use_plugin=False``) every check exports and compares.
    """
    started = time.perf_counter()
    flt = sync.graph
    if flt is None:
        raise ConfigError("sync.graph: say which labels are entities, e.g. graph: {entity_labels: [Person]}")
    run_dir = run_dir or active_run_dir(graph, sync)
    manifest = read_manifest(run_dir / "snapshot")
    filter_changed = json.loads(json.dumps(asdict(flt))) != manifest.source.get("filter")
    names = reads_names(run_dir)
    base = _snapshot_fingerprint(run_dir, manifest.data_hash, names)
    use_plugin = plugin_available(graph) if use_plugin is None else use_plugin
    now: Fingerprint | None = None
    if use_plugin:
        now = server_fingerprint(graph, flt, names=names)
        if not filter_changed and now.to_dict() in [base["snapshot"], *base["equivalent"]]:
            return Changes(sync.scope_name, run_dir.name, False, "fingerprint", time.perf_counter() - started,
                           _counts(base["snapshot"]), _counts(now.to_dict()))
        if not detail:
            return Changes(sync.scope_name, run_dir.name, True, "fingerprint", time.perf_counter() - started,
                           _counts(base["snapshot"]), _counts(now.to_dict()), filter_changed=filter_changed,
                           detailed=False)
    else:
        log.info("the server has no vlkge.fingerprint (build the plugin: scripts/build-plugin.sh): "
                 "exporting scope %s to compare it", sync.scope_name)
    changes = _diff(graph, sync, run_dir, base, names)
    changes.filter_changed = filter_changed
    changes.changed = changes.changed or filter_changed
    if not changes.changed and now is not None:  # equal content, other digest (e.g. a duplicate fact): remember
        _remember_equivalent(run_dir, base, now)
    changes.seconds = time.perf_counter() - started
    return changes


def reads_names(run_dir: Path) -> bool:
    """Whether the run's recipe encodes entity names (``features.name``), so a rename changes its input."""
    from vlkge_graph.jobs.sync import RECIPE_FILE, TRAIN

    try:
        recipe = json.loads((run_dir / TRAIN / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return "name" in (recipe.get("features") or {})


def _diff(graph: Graph, sync: SyncConfig, run_dir: Path, base: dict[str, Any], names: bool) -> Changes:
    from vlkge_graph.graph.export import export_tables

    assert sync.graph is not None
    current = export_tables(graph, sync.graph, sync.scope_name)
    old_entities, old_triples, _ = _snapshot_frames(run_dir)
    old_ids, new_ids = set(old_entities["id"]), set(current.entities["id"])
    both = old_entities.merge(current.entities[["id", "name", "text", "images"]], on="id", suffixes=("_old", ""))
    text_now = [text_hash(t) for t in both["text"]]
    changed_text = both["id"][[a != b for a, b in zip(both["text_hash"], text_now, strict=True)]]
    changed_images = both["id"][[image_refs(a) != image_refs(b)
                                 for a, b in zip(both["images_old"], both["images"], strict=True)]]
    changed_names = both["id"][[name_of(a) != name_of(b) for a, b in zip(both["name_old"], both["name"],
                                                                        strict=True)]] if names else []
    facts = old_triples[FACT_KEY].drop_duplicates().merge(current.triples[FACT_KEY].drop_duplicates(), how="outer",
                                                          on=FACT_KEY, indicator=True)
    new_facts = facts.loc[facts["_merge"] == "right_only", FACT_KEY].reset_index(drop=True)
    removed_facts = facts.loc[facts["_merge"] == "left_only", FACT_KEY].reset_index(drop=True)
    changes = Changes(sync.scope_name, run_dir.name, False, "diff", 0.0, _counts(base["snapshot"]),
                      {"entities": len(current.entities), "facts": len(current.triples)},
                      new_entities=sorted(new_ids - old_ids), removed_entities=sorted(old_ids - new_ids),
                      changed_text=sorted(changed_text), changed_images=sorted(changed_images),
                      changed_names=sorted(changed_names),
                      new_facts=new_facts, removed_facts=removed_facts, current=current)
    changes.changed = any(changes.counts().values())
    changes.since_retrain = _since_retrain(run_dir, old_ids, old_triples, current)
    return changes


def last_retrain_dir(run_dir: Path) -> Path:
    """The run a chain of refreshes started from (``run_dir`` itself unless it is a refresh): a refresh's
    ``run.json`` names it (``retrain``); runs from before that record are followed parent by parent, while
    their directories are on this machine."""
    from vlkge_graph.jobs.sync import RunState

    seen = {run_dir.name}
    while True:
        state = RunState.load(run_dir)
        steps = [state.retrain, state.parent] if state.kind == "refresh" else []
        step = next((run_dir.parent / name for name in steps
                     if name and name not in seen and (run_dir.parent / name / "snapshot").is_dir()), None)
        if step is None:
            return run_dir
        seen.add(step.name)
        run_dir = step


def _since_retrain(run_dir: Path, old_ids: set[str], old_triples: pd.DataFrame,
                   current: TableSet) -> dict[str, Any]:
    """The last retrain's size and what is new since it (see :attr:`Changes.since_retrain`); ``old_ids`` and
    ``old_triples``: ``run_dir``'s snapshot, already read, which is the retrain's unless it is a refresh."""
    retrain = last_retrain_dir(run_dir)
    if retrain != run_dir:
        snapshot = retrain / "snapshot"
        old_ids = set(pd.read_parquet(snapshot / TABLE_FILES["entities"], columns=["id"])["id"].astype(str))
        old_triples = pd.read_parquet(snapshot / TABLE_FILES["triples"], columns=FACT_KEY)
    facts = current.triples[FACT_KEY].drop_duplicates().merge(old_triples[FACT_KEY].drop_duplicates(), how="left",
                                                              on=FACT_KEY, indicator=True)
    return {"run_id": retrain.name, "entities": len(old_ids), "facts": len(old_triples),
            "new_entities": len(set(current.entities["id"]) - old_ids),
            "new_facts": int((facts["_merge"] == "left_only").sum())}


def _snapshot_frames(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The snapshot's entities (id, name, text, images as exported, text_hash), facts and relation -> type map,
    read straight from its Parquet files (image paths as the graph holds them, not resolved)."""
    snapshot = run_dir / "snapshot"
    entities = pd.read_parquet(snapshot / TABLE_FILES["entities"],
                               columns=["id", "name", "text", "images", "text_hash"])
    entities = pd.DataFrame({  # object columns: None stays None (pandas' string columns turn it into NaN)
        "id": entities["id"].astype(str).tolist(),
        "name": pd.Series([name_of(n) for n in entities["name"]], dtype=object),
        "text": pd.Series([t if isinstance(t, str) else None for t in entities["text"]], dtype=object),
        "images": pd.Series([image_refs(v) for v in entities["images"]], dtype=object),
        "text_hash": pd.Series([h if isinstance(h, str) else None for h in entities["text_hash"]], dtype=object)})
    triples = pd.read_parquet(snapshot / TABLE_FILES["triples"], columns=FACT_KEY)
    relations = pd.read_parquet(snapshot / TABLE_FILES["relations"], columns=["relation", "type"])
    return entities, triples, dict(zip(relations["relation"], relations["type"], strict=True))


def cache_snapshot_fingerprint(run_dir: Path) -> None:
    """Compute and cache a run's snapshot fingerprint now (under a second on WN18RR), so the first change
    check after the run needs only the server's."""
    _snapshot_fingerprint(run_dir, read_manifest(run_dir / "snapshot").data_hash, reads_names(run_dir))


def _snapshot_fingerprint(run_dir: Path, data_hash: str, names: bool) -> dict[str, Any]:
    """``{"snapshot": fingerprint, "equivalent": [server fingerprints seen with equal content]}``, cached in
    the run directory per snapshot data hash (and whether names are digested)."""
    path = run_dir / FINGERPRINT_FILE
    try:
        cached = json.loads(path.read_text())
        if cached.get("data_hash") == data_hash and cached.get("names", False) == names:
            return cached
    except (OSError, ValueError):
        pass
    entities, triples, types = _snapshot_frames(run_dir)
    cached = {"data_hash": data_hash, "names": names,
              "snapshot": tables_fingerprint(entities, triples, types, names=names).to_dict(), "equivalent": []}
    _write_json(path, cached)
    return cached


def _remember_equivalent(run_dir: Path, base: dict[str, Any], now: Fingerprint) -> None:
    if now.to_dict() not in base["equivalent"]:
        base["equivalent"] = [*base["equivalent"], now.to_dict()][-8:]
        _write_json(run_dir / FINGERPRINT_FILE, base)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _counts(fingerprint: dict[str, Any]) -> dict[str, int]:
    return {"entities": int(fingerprint["entities"]), "facts": int(fingerprint["facts"])}
