"""Fast negative scoring and row-wise Adagrad give exactly what the slow, obvious forms give."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from vlkge_graph.models import build_model
from vlkge_graph.models.base import pairwise_l1
from vlkge_graph.models.kge import KGEModel
from vlkge_graph.training import native
from vlkge_graph.training.optim import RowwiseAdagrad
from vlkge_graph.training.sampling import Corruptions

NUM_ENTITIES, NUM_RELATIONS, DIM = 9, 3, 6

MODELS = [
    ("transe", {"p": 1}), ("transe", {"p": 2}), ("transe", {"p": 1, "normalize": False}),
    ("transe", {"p": 2, "normalize": False}), ("distmult", {}), ("complex", {}),
    ("rotate", {"p": 1}), ("rotate", {"p": 2}),
]


def _model(backbone: str, options: dict[str, Any], vl: bool, reciprocal: bool = False) -> KGEModel:
    """A float64 model in eval mode; ``vl``: text features on some entities, some entities unseen."""
    g = torch.Generator().manual_seed(5)
    features = {"text": (torch.randn(NUM_ENTITIES, 4, generator=g), torch.rand(NUM_ENTITIES, generator=g) > 0.3)}
    seen = torch.rand(NUM_ENTITIES, generator=g) > 0.25
    torch.manual_seed(0)
    model = build_model(backbone, NUM_ENTITIES, NUM_RELATIONS, DIM, features=features if vl else None,
                        seen=seen if vl else None, imaginary="gated" if vl else "table", reciprocal=reciprocal,
                        backbone_options=options, dropout=0.3)
    return model.double().eval()


def _corruptions(batch: int, k: int, chunk: int, sides: tuple[str, ...], seed: int,
                 per_positive: bool = False) -> tuple[torch.Tensor, Corruptions]:
    g = torch.Generator().manual_seed(seed)
    positives = torch.stack([torch.randint(NUM_ENTITIES, (batch,), generator=g),
                             torch.randint(NUM_RELATIONS, (batch,), generator=g),
                             torch.randint(NUM_ENTITIES, (batch,), generator=g)], dim=1)
    entities = torch.randint(NUM_ENTITIES, (-(-batch // chunk), k), generator=g)
    head = torch.rand(batch, 1 if per_positive else k, generator=g) < 0.5
    if sides != ("head", "tail"):
        head = torch.full_like(head, sides == ("head",))
    return positives, Corruptions(entities, head, torch.ones(batch, k, dtype=torch.bool), chunk)


@pytest.mark.parametrize(("backbone", "options"), MODELS)
@pytest.mark.parametrize("vl", [False, True], ids=["structure", "vl"])
@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("per_positive", [False, True], ids=["end_per_negative", "end_per_positive"])
def test_corruption_scores_equal_rebuilt_triple_scores(backbone: str, options: dict[str, Any], vl: bool,
                                                       chunk: int, per_positive: bool) -> None:
    model = _model(backbone, options, vl)
    for seed, sides in enumerate([("head", "tail"), ("tail",), ("head",)]):
        # 7 positives: the last chunk is short
        positives, corruptions = _corruptions(7, 5, chunk, sides, seed, per_positive)
        pos, neg = model.score_corruptions(positives, corruptions.entities, corruptions.head, chunk, sides)
        assert pos.shape == (7,) and neg.shape == (7, 5)
        torch.testing.assert_close(pos, model(positives))
        torch.testing.assert_close(neg, model(corruptions.triples(positives)))


def test_reciprocal_models_score_corruptions_forward() -> None:
    model = _model("complex", {}, vl=False, reciprocal=True)
    positives, corruptions = _corruptions(6, 4, 1, ("head", "tail"), 0)
    _, neg = model.score_corruptions(positives, corruptions.entities, corruptions.head)
    torch.testing.assert_close(neg, model(corruptions.triples(positives)))


@pytest.mark.parametrize(("backbone", "options", "vl", "chunk", "per_positive"), [
    ("rotate", {"p": 1}, True, 4, False), ("transe", {"p": 1, "normalize": False}, False, 1, True),
    ("transe", {"p": 1}, True, 1, False), ("distmult", {}, True, 1, True), ("complex", {}, False, 3, False),
    ("rotate", {"p": 2}, False, 1, True), ("distmult", {}, False, 2, False)])
@pytest.mark.parametrize("unseen_positive", [False, True])
def test_corruption_gradients_equal_rebuilt_triple_gradients(backbone: str, options: dict[str, Any], vl: bool,
                                                             chunk: int, per_positive: bool,
                                                             unseen_positive: bool) -> None:
    """Same loss, same gradient on every parameter (the sparse lookups and unseen entities included:
    structure-only models score unseen replacements late unless a positive is unseen too)."""
    grads = []
    for fast in (True, False):
        model = _model(backbone, options, vl=vl)
        if not vl:  # structure only, some entities unseen: their rows are zeroed in the lookup itself
            model.entities.seen[[2, 5]] = False
            model.entities.load_state_dict(model.entities.state_dict())
        model.entities.set_sparse(fast)
        positives, corruptions = _corruptions(8, 3, chunk, ("head", "tail"), 1, per_positive)
        positives[positives == 2], positives[positives == 5] = 0, 0
        corruptions.entities[0, 0] = 5  # an unseen replacement
        if unseen_positive:
            positives[0, 0] = 2
        if fast:
            pos, neg = model.score_corruptions(positives, corruptions.entities, corruptions.head, chunk)
        else:
            pos, neg = model(positives), model(corruptions.triples(positives))
        (pos.sum() - neg.square().sum()).backward()
        grads.append({n: p.grad.to_dense() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], msg=name)
    if not vl:
        unseen_rows = grads[0]["entities.structure.weight"][[2, 5]]
        assert torch.equal(unseen_rows, torch.zeros_like(unseen_rows))


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_pairwise_l1_equals_cdist_in_values_and_gradients(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape[:-2], 1, shape[-1], generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(*shape[:-2], 1, shape[-2], generator=g, dtype=torch.float64)
    got = pairwise_l1(x, y)
    assert got.grad_fn is not None and "PairwiseL1" in type(got.grad_fn).__name__
    want = torch.cdist(x, y, p=1)
    torch.testing.assert_close(got, want)
    got_grads = torch.autograd.grad((got * weights).sum(), (x, y))
    want_grads = torch.autograd.grad((want * weights).sum(), (x, y))
    for a, b in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_corruptions_expand_to_triples() -> None:
    positives = torch.tensor([[0, 0, 1], [2, 1, 3], [4, 2, 5]])
    corruptions = Corruptions(torch.tensor([[7, 8], [6, 9]]), torch.tensor([[True, False], [False, True],
                                                                           [True, True]]),
                              torch.ones(3, 2, dtype=torch.bool), chunk=2)
    assert corruptions.triples(positives).tolist() == [
        [[7, 0, 1], [0, 0, 8]], [[2, 1, 7], [8, 1, 3]], [[6, 2, 5], [9, 2, 5]]]


# -- row-wise Adagrad ------------------------------------------------------------------------------

def _adagrad_run(sparse: bool, rowwise: bool, dtype: torch.dtype = torch.float32,
                 **options: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    torch.manual_seed(0)
    table = torch.nn.Embedding(10, 4, sparse=sparse, dtype=dtype)
    dense = torch.nn.Linear(4, 1, dtype=dtype)
    params = list(table.parameters()) + list(dense.parameters())
    cls = RowwiseAdagrad if rowwise else torch.optim.Adagrad
    optimizer = cls(params, lr=0.3, **options)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        ids = torch.randint(0, 6, (12,), generator=g)  # duplicates; rows 6-9 never touched
        optimizer.zero_grad()
        dense(table(ids)).square().sum().backward()
        optimizer.step()
    return [p.detach().clone() for p in params], [optimizer.state[p]["sum"].clone() for p in params]


@pytest.fixture(params=["c_kernel", "torch_ops"])
def sparse_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the compiled sparse Adagrad kernel and again with the torch-op path."""
    native.library.cache_clear()
    if request.param == "torch_ops":
        monkeypatch.setenv("VLKGE_NATIVE", "0")
        assert native.library() is None
    elif native.library() is None:
        pytest.skip("the sparse Adagrad kernel could not be built here (no C compiler?): see the log")
    yield request.param
    native.library.cache_clear()


@pytest.mark.parametrize("options", [{}, {"lr_decay": 0.1, "initial_accumulator_value": 0.2, "maximize": True}])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rowwise_adagrad_equals_dense_adagrad(options: dict[str, Any], dtype: torch.dtype, sparse_path: str) -> None:
    want_params, want_sums = _adagrad_run(sparse=False, rowwise=False, dtype=dtype, **options)
    got_params, got_sums = _adagrad_run(sparse=True, rowwise=True, dtype=dtype, **options)
    for got, want in zip(got_params + got_sums, want_params + want_sums, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    dense_params, _ = _adagrad_run(sparse=False, rowwise=True, dtype=dtype, **options)  # torch's own step
    assert all(torch.equal(a, b) for a, b in zip(dense_params, want_params, strict=True))


def test_sparse_adagrad_kernel_runs_on_cpu_tables_only(sparse_path: str) -> None:
    """The kernel takes CPU float tables (duplicate rows summed) and declines what it cannot do."""
    param, total = torch.zeros(5, 3), torch.zeros(5, 3)
    ids, values = torch.tensor([4, 1, 4]), torch.ones(3, 3)
    used = native.sparse_adagrad_(param, total, ids, values, clr=0.5, eps=0.0, maximize=False)
    assert used == (sparse_path == "c_kernel")
    if used:
        assert total[4].tolist() == [4.0] * 3 and total[1].tolist() == [1.0] * 3 and total[0].abs().sum() == 0
        assert param[4].tolist() == [-0.5] * 3 and param[1].tolist() == [-0.5] * 3
        with pytest.raises(IndexError, match="outside"):
            native.sparse_adagrad_(param, total, torch.tensor([5]), torch.ones(1, 3), 0.5, 0.0, False)
    assert not native.sparse_adagrad_(param.half(), total.half(), ids, values.half(), 0.5, 0.0, False)


def test_rowwise_adagrad_rejects_weight_decay_with_sparse_gradients() -> None:
    with pytest.raises(RuntimeError, match="weight_decay"):
        _adagrad_run(sparse=True, rowwise=True, weight_decay=0.1)
