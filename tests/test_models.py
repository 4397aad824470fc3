"""Backbones against direct reference formulas; fusion and imaginary parts exactly as the method notes."""

from __future__ import annotations

import pytest
import torch

from vlkge_graph.models import BACKBONES, KGEModel, build_model
from vlkge_graph.models import base as base_module
from vlkge_graph.models.complex import ComplEx
from vlkge_graph.models.distmult import DistMult
from vlkge_graph.models.fusion import AverageFusion, ConcatFusion, ModalityProjection, WeightedFusion
from vlkge_graph.models.rotate import RotatE
from vlkge_graph.models.transe import TransE
from vlkge_graph.models.vlkge import EntityRepresentation, ImaginaryGate

DIM = 6


def _cplx(x: torch.Tensor) -> torch.Tensor:
    re, im = x.chunk(2, dim=-1)
    return torch.complex(re, im)


def reference_score(backbone: torch.nn.Module, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> float:
    """Obviously-correct scores of single vectors, written from the papers' formulas."""
    if isinstance(backbone, TransE):
        if backbone.normalize:
            h, r, t = (x / torch.sqrt((x * x).sum()) for x in (h, r, t))
        d = h + r - t
        dist = d.abs().sum() if backbone.p == 1 else torch.sqrt((d * d).sum())
        return float(backbone.gamma - dist)
    if isinstance(backbone, DistMult):
        return float(sum(h[i] * r[i] * t[i] for i in range(len(h))))
    if isinstance(backbone, ComplEx):
        return float((_cplx(h) * _cplx(r) * _cplx(t).conj()).sum().real)
    if isinstance(backbone, RotatE):
        diff = (_cplx(h) * _cplx(r) - _cplx(t)).abs()  # r is [cos | sin] = e^{i theta}
        return float(backbone.gamma - (diff.sum() if backbone.p == 1 else torch.sqrt((diff**2).sum())))
    raise AssertionError(backbone)


BACKBONE_CASES = [
    ("transe", {"p": 1}), ("transe", {"p": 2}), ("transe", {"p": 1, "normalize": False}),
    ("transe", {"p": 2, "normalize": False, "gamma": 3.0}), ("distmult", {}), ("complex", {}),
    ("rotate", {"p": 1}), ("rotate", {"p": 2}),
]


def _backbone(name: str, options: dict) -> torch.nn.Module:
    torch.manual_seed(0)
    return BACKBONES[name](4, DIM, **options).double()  # reference comparisons at double precision


@pytest.mark.parametrize(("name", "options"), BACKBONE_CASES)
def test_score_matches_reference(name: str, options: dict) -> None:
    bb = _backbone(name, options)
    g = torch.Generator().manual_seed(1)
    h, t = (torch.randn(5, bb.entity_width, generator=g, dtype=torch.float64) for _ in range(2))
    r = bb.relation(torch.tensor([0, 1, 2, 3, 1])).detach()
    got = bb.score(h, r, t)
    want = torch.tensor([reference_score(bb, h[i], r[i], t[i]) for i in range(5)], dtype=torch.float64)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("name", "options"), BACKBONE_CASES)
def test_score_candidates_equals_pairwise_loop(name: str, options: dict, monkeypatch) -> None:
    monkeypatch.setattr(base_module, "BLOCK_ELEMENTS", 64)  # force many candidate blocks
    bb = _backbone(name, options)
    g = torch.Generator().manual_seed(2)
    h, t, cands = (torch.randn(n, bb.entity_width, generator=g, dtype=torch.float64) for n in (3, 3, 11))
    r = bb.relation(torch.tensor([0, 3, 1])).detach()
    tails, heads = bb.score_tails(h, r, cands), bb.score_heads(cands, r, t)
    assert tails.shape == heads.shape == (3, 11)
    for b in range(3):
        for n in range(11):
            assert tails[b, n].item() == pytest.approx(bb.score(h[b], r[b], cands[n]).item(), abs=1e-9)
            assert heads[b, n].item() == pytest.approx(bb.score(cands[n], r[b], t[b]).item(), abs=1e-9)


def test_rotate_relation_is_unit_rotation_and_gradients_are_finite_at_zero() -> None:
    bb = RotatE(2, DIM).double()
    rot = _cplx(bb.relation(torch.tensor([0, 1])))
    torch.testing.assert_close(rot.abs(), torch.ones(2, DIM, dtype=torch.float64))
    h = torch.randn(1, 2 * DIM, dtype=torch.float64, requires_grad=True)
    r = bb.relation(torch.tensor([0]))
    t = RotatE._rotate(h, r).detach()  # the exact answer: every difference is zero
    bb.score(h, r, t).sum().backward()
    assert torch.isfinite(h.grad).all()


def test_block_of_zero_candidates() -> None:
    bb = RotatE(2, DIM)
    assert bb.score_tails(torch.randn(3, 2 * DIM), bb.relation(torch.tensor([0, 1, 0])),
                          torch.empty(0, 2 * DIM)).shape == (3, 0)


# -- fusion ----------------------------------------------------------------------------------------

def _inputs():
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    v = torch.tensor([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0], [70.0, 80.0]])
    t = torch.tensor([[100.0, 200.0], [300.0, 400.0], [500.0, 600.0], [700.0, 800.0]])
    seen = torch.tensor([True, False, True, False])
    has_v = torch.tensor([True, True, False, False])
    has_t = torch.tensor([True, False, False, False])
    return s, v, t, seen, has_v, has_t


def test_average_fusion_formulas() -> None:
    s, v, t, seen, has_v, has_t = _inputs()
    out = AverageFusion(2, 2)(s, seen, [(v, has_v), (t, has_t)])
    torch.testing.assert_close(out[0], (s[0] + v[0] + t[0]) / 3)  # dense: (s + v + t) / 3
    torch.testing.assert_close(out[1], v[1] / 2)  # unseen image-only: v / 2
    torch.testing.assert_close(out[2], s[2])  # seen, structure only
    torch.testing.assert_close(out[3], torch.zeros(2))  # unseen, nothing


def test_concat_fusion_zero_blocks() -> None:
    s, v, t, seen, has_v, has_t = _inputs()
    fusion = ConcatFusion(2, 2)
    out = fusion(s, seen, [(v, has_v), (t, has_t)])
    assert fusion.width == 6 and out.shape == (4, 6)
    torch.testing.assert_close(out[0], torch.cat([s[0], v[0], t[0]]))
    torch.testing.assert_close(out[1], torch.cat([torch.zeros(2), v[1], torch.zeros(2)]))
    torch.testing.assert_close(out[3], torch.zeros(6))


def test_weighted_fusion_softmax_over_available_slots() -> None:
    s, v, t, seen, has_v, has_t = _inputs()
    fusion = WeightedFusion(2, 2)
    with torch.no_grad():
        fusion.logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    out = fusion(s, seen, [(v, has_v), (t, has_t)])
    w = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0)
    torch.testing.assert_close(out[0], w[0] * s[0] + w[1] * v[0] + w[2] * t[0])
    torch.testing.assert_close(out[1], v[1])  # the only available slot gets weight 1
    torch.testing.assert_close(out[2], s[2])
    torch.testing.assert_close(out[3], torch.zeros(2))
    out.sum().backward()
    assert torch.isfinite(fusion.logits.grad).all()


def test_projection_only_when_sizes_differ() -> None:
    assert isinstance(ModalityProjection(8, 8).linear, torch.nn.Identity)
    proj = ModalityProjection(3, 8)
    assert proj.linear.weight.shape == (8, 3) and proj.linear.bias is None
    adapted = ModalityProjection(8, 8, adapter=True)
    x = torch.randn(4, 8)
    torch.testing.assert_close(adapted(x), x)  # the adapter starts as the identity ...
    adapted(x).sum().backward()
    assert adapted.adapter.up.weight.grad.abs().sum() > 0  # ... and trains


def _representation(**kwargs) -> EntityRepresentation:
    torch.manual_seed(0)
    n = 4
    feats = {"image": (torch.randn(n, 3), torch.tensor([True, True, False, False])),
             "text": (torch.randn(n, DIM), torch.tensor([True, False, True, False]))}
    return EntityRepresentation(n, DIM, features=feats, seen=torch.tensor([True, False, True, True]), **kwargs)


def test_unseen_entity_uses_features_only() -> None:
    rep = _representation()
    idx = torch.tensor([1])
    v = rep.projections["image"](rep.values_image[idx])
    torch.testing.assert_close(rep(idx), v / 2)  # unseen image-only entity
    rep(torch.arange(4)).sum().backward()
    assert rep.structure.weight.grad[1].abs().sum() == 0  # its structural row is never used
    assert rep.structure.weight.grad[0].abs().sum() > 0


def test_structure_only_mode_is_plain_embedding() -> None:
    rep = EntityRepresentation(5, DIM)
    idx = torch.tensor([4, 0, 2])
    torch.testing.assert_close(rep(idx), rep.structure(idx))


@pytest.mark.parametrize("fusion", ["average", "concat", "weighted"])
def test_structure_only_unseen_entities_are_masked_in_every_fusion(fusion: str) -> None:
    """The structure-only shortcut (no fusion arithmetic) gives what the fusion gives: zero when unseen."""
    seen = torch.tensor([True, False, True, True, False])
    rep = EntityRepresentation(5, DIM, seen=seen, fusion=fusion, is_complex=True)
    idx = torch.tensor([[4, 0], [1, 2]])
    want = torch.cat([rep.structure(idx), rep.imaginary(idx)], dim=-1) * seen[idx].unsqueeze(-1)
    torch.testing.assert_close(rep(idx), want)
    torch.testing.assert_close(rep()[idx], want)


def test_seen_mask_shortcut_follows_loaded_state() -> None:
    """Loading a state with unseen entities into an all-seen model masks them from then on."""
    masked = EntityRepresentation(4, DIM, seen=torch.tensor([True, False, True, True]))
    plain = EntityRepresentation(4, DIM)
    assert plain.all_seen and not masked.all_seen
    plain.load_state_dict(masked.state_dict())
    assert not plain.all_seen
    torch.testing.assert_close(plain(torch.tensor([1, 0]))[0], torch.zeros(DIM))


def test_complex_table_imaginary_masks_unseen() -> None:
    rep = _representation(is_complex=True, imaginary="table")
    out = rep(torch.arange(4))
    assert out.shape == (4, 2 * DIM)
    torch.testing.assert_close(out[1, DIM:], torch.zeros(DIM))
    torch.testing.assert_close(out[0, DIM:], rep.imaginary.weight[0])


def _gated_gradients(init: str) -> tuple[float, float, torch.Tensor]:
    rep = _representation(is_complex=True, imaginary="gated", imag_init=init)
    model = KGEModel(rep, ComplEx(2, DIM))
    triples = torch.tensor([[0, 0, 1], [1, 1, 2], [3, 0, 1]])  # entities 1, 3 have no (seen) text
    model(triples).sum().backward()
    imag = rep(torch.tensor([1, 3]))[:, DIM:]
    return float(rep.gate.proj.weight.grad.abs().sum()), float(rep.gate.gate.grad.abs()), imag


def test_default_gated_imag_init_learns() -> None:
    proj_grad, gate_grad, imag = _gated_gradients("learn")
    assert proj_grad > 0 and gate_grad > 0
    assert imag.abs().sum() > 0


def test_reference_zero_init_never_trains() -> None:
    proj_grad, gate_grad, imag = _gated_gradients("reference_zero")
    assert proj_grad == 0 and gate_grad == 0
    torch.testing.assert_close(imag, torch.zeros_like(imag))


def test_gated_mode_gives_free_vectors_to_seen_text_entities_only() -> None:
    rep = _representation(is_complex=True, imaginary="gated")
    out = rep(torch.arange(4))
    torch.testing.assert_close(out[0, DIM:], rep.imaginary.weight[0])  # seen, has text
    torch.testing.assert_close(out[2, DIM:], rep.imaginary.weight[2])
    torch.testing.assert_close(out[1, DIM:], rep.gate(out[1:2, :DIM])[0])  # unseen image-only
    torch.testing.assert_close(out[3, DIM:], rep.gate(out[3:4, :DIM])[0])  # no text


@pytest.mark.parametrize("fusion", ["average", "concat"])
def test_projected_imaginary_parts_are_fused_like_the_real_ones(fusion: str) -> None:
    rep = _representation(is_complex=True, imaginary="projected", fusion=fusion)
    out = rep(torch.arange(4))
    width = rep.width
    assert out.shape == (4, 2 * width)
    image = rep.projections["image"](rep.values_image)
    text = rep.projections["text"](rep.values_text)
    for half, table in enumerate((rep.structure, rep.imaginary)):
        part = slice(half * DIM, (half + 1) * DIM)
        expected = rep.fusion(table.weight * rep.seen.unsqueeze(-1), rep.seen,
                              [(image[:, part], rep.present_image), (text[:, part], rep.present_text)])
        torch.testing.assert_close(out[:, half * width:(half + 1) * width], expected)
    # an unseen entity's imaginary part comes from its features, not from the (untrained) table
    assert out[1, width:].abs().sum() > 0
    rep.imaginary.weight.data[1] += 5.0
    torch.testing.assert_close(rep(torch.tensor([1]))[0], out[1])


def test_gate_rejects_unknown_init() -> None:
    with pytest.raises(ValueError, match="reference_zero"):
        ImaginaryGate(4, "zeros")  # type: ignore[arg-type]


# -- the assembled model ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("fusion", ["average", "concat", "weighted"])
def test_model_queries_agree_with_triple_scores(name: str, fusion: str) -> None:
    torch.manual_seed(0)
    feats = {"text": (torch.randn(7, 5), torch.rand(7) > 0.3)}
    model = build_model(name, 7, 3, DIM, features=feats, seen=torch.rand(7) > 0.2, fusion=fusion,
                        imaginary="gated")
    q = torch.tensor([[0, 1, 2], [3, 2, 4], [6, 0, 5]])
    rows = torch.arange(3)
    scores = model(q)
    torch.testing.assert_close(model.score_queries(q, "tail")[rows, q[:, 2]], scores)
    torch.testing.assert_close(model.score_queries(q, "head")[rows, q[:, 0]], scores)
    fn = model.score_fn()
    torch.testing.assert_close(fn(q, "tail"), model.score_queries(q, "tail").detach())


def test_reciprocal_head_queries_use_inverse_relations() -> None:
    torch.manual_seed(0)
    model = build_model("complex", 5, 2, DIM, reciprocal=True)
    assert model.backbone.num_relations == 4 and model.num_relations == 2
    q = torch.tensor([[0, 1, 2]])
    inverse = model(torch.tensor([[2, 3, 0]]))  # (t, r + R, h)
    torch.testing.assert_close(model.score_queries(q, "head")[0, 0], inverse[0])


def test_model_rejects_mismatched_parts() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        KGEModel(EntityRepresentation(3, DIM), ComplEx(2, DIM))
