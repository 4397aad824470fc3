"""Training core: data coding, vectorised negative sampling, losses, recipes, exact resume, a real run."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import socket
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from rich.console import Console

from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.evaluation.index import CandidatePools, FilterIndex
from vlkge_graph.models import build_model
from vlkge_graph.training import api, losses
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.loop import Trainer, seed_everything
from vlkge_graph.training.recipe import TrainingSpec, load_recipe, parse_recipe
from vlkge_graph.training.sampling import NegativeSampler, head_probabilities, is_known

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and OpenMP threads on a busy 2-core box slow them 10x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_tables(num_entities: int = 12, seed: int = 0) -> TableSet:
    """A random little graph with every entity in training and a few valid / test triples."""
    g = torch.Generator().manual_seed(seed)
    n = 90
    h, t = torch.randint(0, num_entities, (n,), generator=g), torch.randint(0, num_entities, (n,), generator=g)
    r = torch.randint(0, 3, (n,), generator=g)
    ids = [f"e{i}" for i in range(num_entities)]
    triples = pd.DataFrame({"head": [ids[i] for i in h], "relation": [f"r{i}" for i in r],
                            "tail": [ids[i] for i in t]}).drop_duplicates().reset_index(drop=True)
    split = ["train"] * len(triples)
    split[-10:-5], split[-5:] = ["valid"] * 5, ["test"] * 5
    triples["split"] = split
    ring = pd.DataFrame({"head": ids, "relation": "r0", "tail": ids[1:] + ids[:1], "split": "train"})
    triples = pd.concat([ring, triples]).drop_duplicates(["head", "relation", "tail"]).reset_index(drop=True)
    entities = pd.DataFrame({"id": ids, "label": "E", "name": ids, "text": None,
                             "images": [[] for _ in ids]})
    relations = pd.DataFrame({"relation": ["r0", "r1", "r2"], "type": ["R0", "R1", "R2"]})
    return TableSet("tiny", entities, relations, triples)


# -- data ------------------------------------------------------------------------------------------

def test_training_data_codes_tables_in_table_order() -> None:
    tables = tiny_tables()
    data = TrainingData.from_tables(tables)
    assert data.num_entities == 12 and data.num_relations == 3
    for split in ("train", "valid", "test"):
        rows = tables.triples[tables.triples["split"] == split]
        decoded = [(data.entity_ids[h], data.relation_ids[r], data.entity_ids[t])
                   for h, r, t in data.splits[split].tolist()]
        assert decoded == list(zip(rows["head"], rows["relation"], rows["tail"], strict=True))
    assert data.seen().all()


def test_kvsall_queries_are_distinct_real_triples() -> None:
    data = TrainingData.from_tables(tiny_tables())
    queries, directions = data.kvsall_queries()
    train = {tuple(x) for x in data.train.tolist()}
    assert all(tuple(q) in train for q in queries.tolist())
    tails = {(h, r) for h, r, _ in data.train.tolist()}
    heads = {(t, r) for _, r, t in data.train.tolist()}
    assert int((directions == 1).sum()) == len(tails) and int((directions == 0).sum()) == len(heads)


# -- sampling --------------------------------------------------------------------------------------

def _dense_known(num_entities: int, num_relations: int, fraction: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    all_triples = torch.cartesian_prod(torch.arange(num_entities), torch.arange(num_relations),
                                       torch.arange(num_entities))
    return all_triples[torch.rand(len(all_triples), generator=g) < fraction]


def test_is_known_matches_python_set() -> None:
    known = _dense_known(7, 2, 0.4)
    index = FilterIndex.from_triples(known, 7, 2)
    probe = _dense_known(7, 2, 0.5)
    truth = {tuple(x) for x in known.tolist()}
    assert is_known(index, probe).tolist() == [tuple(x) in truth for x in probe.tolist()]


@pytest.mark.parametrize("corruption", ["uniform", "bernoulli"])
def test_filtered_sampling_never_returns_a_known_positive(corruption: str) -> None:
    known = _dense_known(8, 2, 0.6)  # most corruptions are true triples
    index = FilterIndex.from_triples(known, 8, 2)
    for resample in (0, 10):
        sampler = NegativeSampler(8, 2, 50, train=known, corruption=corruption, side_per="negative", known=index,
                                  max_resample=resample)
        neg, valid = sampler.sample(known[:40], torch.Generator().manual_seed(0))
        assert neg.shape == (40, 50, 3) and valid.shape == (40, 50)
        assert not is_known(index, neg[valid]).any()
        changed = (neg != known[:40, None]).sum(-1)
        assert (changed[valid] == 1).all()  # exactly one end replaced
        assert valid.any()
    assert (~valid).sum() < 40 * 50 * 0.4  # resampling rescued most draws


def test_uniform_sampling_is_uniform_over_entities_and_ends() -> None:
    n, draws = 20, 40_000
    pos = torch.tensor([[0, 0, 0]])
    neg, valid = NegativeSampler(n, 1, draws, side_per="negative").sample(pos, torch.Generator().manual_seed(1))
    assert valid.all()
    head_changed = (neg[0, :, 0] != 0).float().mean().item()
    assert abs(head_changed - 0.5 * (n - 1) / n) < 0.015  # half the draws, minus redraws of 0
    tails, _ = NegativeSampler(n, 1, draws, sides=["tail"]).sample(pos, torch.Generator().manual_seed(2))
    assert (tails[0, :, 0] == 0).all()
    counts = torch.bincount(tails[0, :, 2], minlength=n).double()
    chi2 = ((counts - draws / n) ** 2 / (draws / n)).sum().item()
    assert chi2 < 60  # 19 degrees of freedom: p < 1e-5 for a uniform sampler


@pytest.mark.parametrize("corruption", ["uniform", "bernoulli"])
def test_end_per_positive_corrupts_one_end_for_all_negatives(corruption: str) -> None:
    """``side_per="positive"``: one coin per positive (PyKEEN's scheme), fair over positives, and filtering
    still never returns a known triple."""
    known = _dense_known(8, 2, 0.6)
    index = FilterIndex.from_triples(known, 8, 2)
    sampler = NegativeSampler(8, 2, 50, train=known, corruption=corruption, side_per="positive", known=index)
    positives = known[:40]
    corruptions = sampler.draw(positives, torch.Generator().manual_seed(0))
    assert corruptions.head.shape == (40, 1) and corruptions.valid.shape == (40, 50)
    neg, valid = sampler.sample(positives, torch.Generator().manual_seed(0))
    assert torch.equal(neg, corruptions.triples(positives))
    assert not is_known(index, neg[valid]).any() and valid.any()
    heads_kept = (neg[..., 0] == positives[:, None, 0]) | ~valid
    tails_kept = (neg[..., 2] == positives[:, None, 2]) | ~valid
    assert torch.equal(tails_kept.all(1) | heads_kept.all(1), torch.ones(40, dtype=torch.bool))
    assert torch.equal(heads_kept.all(1) & ~tails_kept.all(1), ~corruptions.head[:, 0] & ~tails_kept.all(1))
    pos = torch.tensor([[0, 0, 0]]).repeat(20_000, 1)
    share = NegativeSampler(20, 1, 3, side_per="positive").draw(pos, torch.Generator().manual_seed(1)).head
    assert share.float().mean().item() == pytest.approx(0.5, abs=0.015)
    with pytest.raises(ValueError, match="side_per"):
        NegativeSampler(8, 2, 5, side_per="triple")


def test_bernoulli_prefers_corrupting_the_one_side() -> None:
    one_to_many = torch.tensor([[0, 0, t] for t in range(1, 10)])
    many_to_one = torch.tensor([[h, 1, 0] for h in range(1, 4)])
    probs = head_probabilities(torch.cat([one_to_many, many_to_one]), 10, 3, "bernoulli")
    assert probs[0].item() == pytest.approx(0.9)  # tph 9, hpt 1: corrupt the head
    assert probs[1].item() == pytest.approx(0.25)  # tph 1, hpt 3
    assert probs[2].item() == 0.5  # unused relation


def test_candidate_pools_and_tail_only_corruption() -> None:
    train = torch.tensor([[0, 0, 5], [1, 0, 6], [2, 1, 7], [3, 1, 8], [3, 1, 9]])
    pools = {"tail": CandidatePools.from_triples(train, 2, "tail")}
    sampler = NegativeSampler(10, 2, 200, sides=["tail"], pools=pools)
    neg, _ = sampler.sample(train, torch.Generator().manual_seed(0))
    assert (neg[..., 0] == train[:, None, 0]).all()
    assert set(neg[:2, :, 2].unique().tolist()) == {5, 6}
    assert set(neg[2:, :, 2].unique().tolist()) == {7, 8, 9}


@pytest.mark.parametrize("sharing", [4, 7])
def test_shared_negatives_share_replacements_within_chunks(sharing: int) -> None:
    known = _dense_known(8, 2, 0.6)
    index = FilterIndex.from_triples(known, 8, 2)
    sampler = NegativeSampler(8, 2, 50, train=known, corruption="bernoulli", side_per="negative", known=index,
                              sharing=sharing)
    positives = known[:30]
    corruptions = sampler.draw(positives, torch.Generator().manual_seed(0))
    assert corruptions.entities.shape == (-(-30 // sharing), 50) and corruptions.chunk == sharing
    ends = corruptions.ends()
    for b in range(30):  # every positive of a chunk corrupts with the chunk's pool, in order
        assert torch.equal(ends[b], corruptions.entities[b // sharing])
    neg, valid = sampler.sample(positives, torch.Generator().manual_seed(0))
    assert torch.equal(neg, corruptions.triples(positives)) and torch.equal(valid, corruptions.valid)
    assert torch.equal(valid, ~is_known(index, neg))  # filtered per positive: masked, never redrawn
    assert valid.any() and (~valid).any()
    changed = (neg != positives[:, None]).sum(-1)
    assert (changed <= 1).all()


def test_shared_negatives_keep_fair_head_tail_choices() -> None:
    n, draws = 50, 20_000
    positives = torch.tensor([[0, 0, 1], [2, 1, 3]]).repeat(8, 1)
    probs = head_probabilities(torch.tensor([[0, 0, t] for t in range(1, 10)] + [[1, 1, 3]]), n, 2, "bernoulli")
    sampler = NegativeSampler(n, 2, draws, corruption="bernoulli", side_per="negative",
                              train=torch.tensor([[0, 0, t] for t in range(1, 10)] + [[1, 1, 3]]), sharing=4)
    corruptions = sampler.draw(positives, torch.Generator().manual_seed(3))
    assert torch.equal(sampler.sample(positives, torch.Generator().manual_seed(3))[0],
                       corruptions.triples(positives))
    for rel in (0, 1):
        share = corruptions.head[positives[:, 1] == rel].float().mean().item()
        assert share == pytest.approx(probs[rel].item(), abs=0.01)
    # positives of one chunk choose their ends independently of each other
    assert not torch.equal(corruptions.head[0], corruptions.head[2])
    counts = torch.bincount(corruptions.entities.reshape(-1), minlength=n).double()
    expected = corruptions.entities.numel() / n
    assert ((counts - expected) ** 2 / expected).sum().item() < 110  # 49 degrees of freedom: p < 1e-5


def test_shared_negatives_reject_relation_pools() -> None:
    train = torch.tensor([[0, 0, 5], [1, 0, 6]])
    with pytest.raises(ValueError, match="pools"):
        NegativeSampler(10, 1, 4, sides=["tail"], pools={"tail": CandidatePools.from_triples(train, 1, "tail")},
                        sharing=2)


# -- losses ----------------------------------------------------------------------------------------

def test_logistic_loss_mean_and_sum_with_masked_negatives() -> None:
    pos, neg = torch.tensor([1.0, -2.0]), torch.tensor([[0.5, 3.0], [-1.0, 2.0]])
    valid = torch.tensor([[True, False], [True, True]])
    terms = [math.log1p(math.exp(-1.0)), math.log1p(math.exp(2.0)), math.log1p(math.exp(0.5)),
             math.log1p(math.exp(-1.0)), math.log1p(math.exp(2.0))]
    assert losses.logistic(pos, neg, valid, "sum").item() == pytest.approx(sum(terms))
    assert losses.logistic(pos, neg, valid, "mean").item() == pytest.approx(sum(terms) / 5)


def test_margin_and_self_adversarial_losses() -> None:
    pos, neg = torch.tensor([1.0, 0.0]), torch.tensor([[0.5, 3.0], [-1.0, 2.0]])
    assert losses.margin_ranking(pos, neg, margin=1.0, reduction="sum").item() == pytest.approx(
        0.5 + 3.0 + 0.0 + 3.0)
    got = losses.self_adversarial(pos, neg, temperature=0.5)
    p = torch.softmax(0.5 * neg, -1)
    want = 0.5 * (-F.logsigmoid(pos) - (p * F.logsigmoid(-neg)).sum(-1))
    assert got.item() == pytest.approx(want.mean().item())
    masked = losses.self_adversarial(pos, neg, torch.tensor([[True, False], [True, True]]), 0.5)
    want0 = 0.5 * (-F.logsigmoid(pos[0]) - F.logsigmoid(-neg[0, 0]))
    assert masked.item() == pytest.approx((want0 + want[1]).item() / 2)


def test_cross_entropy_one_and_k_vs_all() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    assert losses.cross_entropy(scores, torch.tensor([2, 0])).item() == pytest.approx(
        F.cross_entropy(scores, torch.tensor([2, 0])).item())
    multi = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    want = -(0.5 * F.log_softmax(scores[0], -1)[1:].sum() + F.log_softmax(scores[1], -1)[0]) / 2
    assert losses.cross_entropy(scores, multi).item() == pytest.approx(want.item())
    assert losses.binary_cross_entropy(scores, multi).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(scores, multi).item())


def test_n3_uses_complex_moduli() -> None:
    x = torch.tensor([[3.0, 0.0, 4.0, 1.0]])  # complex coordinates 3+4i and 0+1i
    assert losses.regularization((x,), "n3", is_complex=True).item() == pytest.approx(125 + 1, rel=1e-5)
    assert losses.regularization((x,), "n3", is_complex=False).item() == pytest.approx(27 + 64 + 1)


# -- recipes ---------------------------------------------------------------------------------------

def test_shipped_recipes_parse() -> None:
    paths = sorted((ROOT / "training").glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        recipe = load_recipe(path)
        assert recipe.name == path.stem and recipe.dataset


@pytest.mark.parametrize(("text", "message"), [
    ("dataset: x\ntraining: {epocs: 3}\n", "training.*epocs"),
    ("dataset: x\nmodel: {dim: many}\n", "model.dim.*expected int"),
    ("dataset: x\nmodel: {backbone: transr}\n", "model.backbone.*transr"),
    ("dataset: x\ntraining: {mode: 1vsall, loss: logistic}\n", "training.loss"),
    ("dataset: x\ntraining: {batch_size: 0}\n", "batch_size"),
    ("dataset: x\nfeatures: {audio: whisper}\n", "features"),
    ("dataset: x\nmodel: {backbone: distmult, options: {gamma: 3.0}}\n", "model.options.*gamma"),
    ("dataset: x\ntraining: {negative_sharing: -1}\n", "negative_sharing"),
    ("dataset: x\ntraining: {negative_sharing: 8, candidate_pools: true}\n", "negative_sharing"),
    ("dataset: x\ntraining: {mode: 1vsall, loss: cross_entropy, negative_sharing: 8}\n", "negative_sharing"),
])
def test_recipe_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_recipe(path)
    assert str(path) in str(info.value)


def test_a_recipe_without_dataset_needs_one_from_the_command(tmp_path: Path) -> None:
    """``dataset:`` may be left out (``train --triples`` or ``--dataset`` gives it), but not everywhere."""
    path = tmp_path / "nodata.yaml"
    path.write_text("model: {dim: 4}\n")
    assert load_recipe(path).dataset == ""
    with pytest.raises(ConfigError, match=r"training recipe 'nodata' names no dataset: add dataset: to it, or "
                                          r"give --dataset or --triples"):
        api.train(path, device="cpu", progress=False)


# -- the loop --------------------------------------------------------------------------------------

SPECS = {
    "negatives": TrainingSpec(mode="negatives", loss="logistic", num_negatives=4, batch_size=16, epochs=4,
                              optimizer="adagrad", lr=0.1, corruption="bernoulli"),
    "1vsall": TrainingSpec(mode="1vsall", loss="cross_entropy", batch_size=16, epochs=4, optimizer="adam",
                           lr=0.01, regularizer="n3", regularization_weight=0.01),
    "kvsall": TrainingSpec(mode="kvsall", loss="bce", batch_size=16, epochs=4, optimizer="adam", lr=0.01,
                           label_smoothing=0.1),
}


def _trainer(spec: TrainingSpec, directory: Path | None, backbone: str = "complex") -> Trainer:
    data = TrainingData.from_tables(tiny_tables())
    seed_everything(spec.seed)
    model = build_model(backbone, data.num_entities, data.num_relations, 8, dropout=0.2)
    return Trainer(model, data, spec, evaluator=lambda m: m(data.splits["valid"]).mean().item(),
                   checkpoint_dir=directory, progress=False)


@pytest.mark.parametrize("mode", sorted(SPECS))
def test_resume_continues_bitwise_identically(tmp_path: Path, mode: str) -> None:
    spec = SPECS[mode]
    straight = _trainer(spec, tmp_path / "straight")
    straight.fit()
    interrupted = _trainer(spec.__class__(**{**spec.__dict__, "epochs": 2}), tmp_path / "resumed")
    interrupted.fit()
    resumed = _trainer(spec, tmp_path / "resumed")
    resumed.fit()
    assert resumed.state.epoch == straight.state.epoch == 4
    assert [h["loss"] for h in resumed.state.history] == [h["loss"] for h in straight.state.history]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "resumed" / "best.pt").exists()


def test_cosine_schedule_anneals_every_step_and_resumes_exactly(tmp_path: Path) -> None:
    spec = replace(SPECS["1vsall"], lr_schedule="cosine")
    straight = _trainer(spec, tmp_path / "straight")
    seen: list[float] = []
    step = straight.optimizer.step

    def recording_step(*args, **kwargs):
        seen.append(straight.optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    straight.optimizer.step = recording_step  # type: ignore[method-assign]
    straight.fit()
    total = straight.state.step
    assert seen[0] == spec.lr and len(seen) == total
    assert all(a > b for a, b in itertools.pairwise(seen))
    assert seen[-1] == pytest.approx(spec.lr * 0.5 * (1 + math.cos(math.pi * (total - 1) / total)))
    interrupted = _trainer(spec, tmp_path / "resumed")
    train_epoch = interrupted.train_epoch

    def killed_in_epoch_three(*args, **kwargs):
        if interrupted.state.epoch == 2:
            raise KeyboardInterrupt
        return train_epoch(*args, **kwargs)

    interrupted.train_epoch = killed_in_epoch_three  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    resumed = _trainer(spec, tmp_path / "resumed")
    resumed.fit()
    assert resumed.state.step == total
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_logs_one_plain_line_per_epoch_when_not_a_terminal() -> None:
    spec = replace(SPECS["1vsall"], epochs=4, eval_every=2)
    trainer = _trainer(spec, None)
    out = StringIO()
    trainer.console, trainer.progress = Console(file=out, force_terminal=False, width=200), True
    trainer.fit()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    for epoch, line in enumerate(lines, 1):
        assert re.fullmatch(rf"epoch {epoch}/4  loss \d+\.\d{{4}}  (valid MRR -?\d+\.\d{{4}}  )?\d+\.\d s", line), line
    assert ["valid MRR" in line for line in lines] == [False, True, False, True]
    assert "loop.py" not in out.getvalue()


def test_training_shows_one_bar_with_loss_and_validation_on_a_terminal() -> None:
    trainer = _trainer(replace(SPECS["1vsall"], epochs=3, eval_every=2), None)
    out = StringIO()
    trainer.console, trainer.progress = Console(file=out, force_terminal=True, width=200), True
    trainer.fit()
    final = out.getvalue().rsplit("\r", 1)[-1]  # the bar's last rendering stays on screen
    assert "training (epochs)" in final and "3/3" in final and "loss " in final, final
    assert re.search(r"valid MRR -?\d\.\d{4} \(epoch 3\)", final), final
    assert "loop.py" not in out.getvalue() and "epoch 1/3" not in out.getvalue()


def test_early_stopping_restores_best_weights() -> None:
    spec = TrainingSpec(mode="1vsall", loss="cross_entropy", batch_size=16, epochs=30, patience=2,
                        optimizer="adam", lr=0.01)
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.9])
    trainer = _trainer(spec, None)
    snapshots = []

    def evaluator(model: torch.nn.Module) -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    trainer.evaluator = evaluator
    state = trainer.fit()
    assert state.stopped_early and state.epoch == 4 and state.best_epoch == 2
    assert all(torch.equal(v, snapshots[1][k]) for k, v in trainer.model.state_dict().items())


def test_shared_negatives_train_a_toy_graph() -> None:
    spec = TrainingSpec(mode="negatives", loss="logistic", num_negatives=6, batch_size=32, epochs=25,
                        optimizer="adagrad", lr=0.2, negative_sharing=8, side_per="negative")
    trainer = _trainer(spec, None, backbone="distmult")
    assert trainer.sampler is not None and trainer.sampler.chunk == 8
    state = trainer.fit()
    assert state.history[-1]["loss"] < 0.7 * state.history[0]["loss"]


@pytest.mark.parametrize("sharing", [0, 5])
def test_sparse_row_updates_train_exactly_like_dense_ones(monkeypatch: pytest.MonkeyPatch, sharing: int) -> None:
    """Negatives mode with Adagrad updates only touched rows; the weights equal a dense run's."""
    spec = replace(SPECS["negatives"], negative_sharing=sharing)
    sparse = _trainer(spec, None)
    assert sparse.model.entities.structure.sparse
    sparse.fit()
    monkeypatch.setattr(Trainer, "_sparse_rows", lambda self: False)
    dense = _trainer(spec, None)
    assert not dense.model.entities.structure.sparse
    dense.fit()
    a, b = sparse.model.state_dict(), dense.model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


def kinships_or_skip() -> TableSet:
    from vlkge_graph.errors import SourceMissingError
    from vlkge_graph.etl.readers import read_dataset

    try:
        return read_dataset("kinships")
    except SourceMissingError as exc:
        pytest.skip(f"Kinships not available: {exc}")


def test_tiny_kinships_run_reduces_loss_and_beats_random() -> None:
    data = TrainingData.from_tables(kinships_or_skip())
    spec = TrainingSpec(mode="negatives", loss="logistic", num_negatives=8, batch_size=512, epochs=6,
                        optimizer="adagrad", lr=0.1)
    seed_everything(0)
    model = build_model("distmult", data.num_entities, data.num_relations, 32, init_std=0.1)
    trainer = Trainer(model, data, spec, progress=False)
    state = trainer.fit()
    assert state.history[-1]["loss"] < 0.9 * state.history[0]["loss"]
    model.eval()
    from vlkge_graph.evaluation.ranking import rank_queries

    mrr = rank_queries(model.score_fn(), data.splits["test"], data.filter_index()).summary()["mrr"]
    random_mrr = sum(1 / k for k in range(1, data.num_entities + 1)) / data.num_entities  # ~0.05
    assert mrr > 3 * random_mrr


def test_train_and_evaluate_commands_write_metrics(tmp_path: Path) -> None:
    kinships_or_skip()
    recipe = parse_recipe({"dataset": "kinships", "name": "kin-test",
                           "model": {"backbone": "complex", "dim": 16},
                           "training": {"mode": "1vsall", "loss": "cross_entropy", "optimizer": "adam",
                                        "lr": 0.02, "batch_size": 1024, "epochs": 2}})
    out = tmp_path / "run"
    metrics = api.train(recipe, output=out, progress=False)
    written = json.loads((out / "metrics.json").read_text())
    test_mrr = written["test"]["overall"]["mrr"]
    assert test_mrr == pytest.approx(metrics["test"]["overall"]["mrr"]) and test_mrr > 0.1
    assert {"hits@1", "hits@3", "hits@10"} <= set(written["test"]["overall"])
    assert (out / "model.pt").exists() and (out / "checkpoints" / "last.pt").exists()
    again = api.evaluate(out, progress=False)
    assert again["test"]["overall"]["mrr"] == pytest.approx(test_mrr)


# -- DistributedDataParallel on two CPU processes (gloo) -------------------------------------------

def _ddp_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    trainer = _trainer(SPECS["negatives"], None, backbone="transe")
    trainer.fit()
    torch.save({"model": trainer.model.state_dict(), "world": trainer.world},
               os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_cpu_processes_stay_in_sync(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{i}.pt") for i in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert all(torch.equal(r0["model"][k], r1["model"][k]) for k in r0["model"])
    fresh = _trainer(SPECS["negatives"], None, backbone="transe").model.state_dict()
    assert any(not torch.equal(fresh[k], r0["model"][k]) for k in fresh)  # it did train


def test_n3_also_regularises_reciprocal_relations() -> None:
    from vlkge_graph.training.objective import Objective

    model = build_model("complex", 5, 2, 4, reciprocal=True)
    batch = torch.tensor([[0, 1, 2]])
    spec = SPECS["1vsall"]
    h, _, t, t2, inverse, h2 = Objective(model, spec)._factors(batch)
    torch.testing.assert_close(inverse, model.backbone.relation(torch.tensor([3])))
    assert torch.equal(h, h2) and torch.equal(t, t2)
    assert len(Objective(model, SPECS["negatives"])._factors(batch)) == 3
