"""The VL-KGE entity representation: a structural table fused with frozen vision-language features.

Structure-only KGE is the special case without features. Entities absent from the training triples
(``seen`` false) get no structural vector, so their embedding comes from their features alone:
this is what lets a trained model embed new entities without retraining (inductive inference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn

from vlkge_graph.models.fusion import FUSIONS, ModalityProjection

#: modality name -> (features ``[num_entities, f]`` float, present ``[num_entities]`` bool).
Features = Mapping[str, tuple[Tensor, Tensor]]
ImaginaryMode = Literal["table", "gated", "projected"]
ImaginaryInit = Literal["learn", "reference_zero"]

#: The modality whose owners get a free imaginary vector in the gated (inductive) mode.
TEXT = "text"


class ImaginaryGate(nn.Module):
    """``Im(e) = tanh(g) * P Re(e)``: an imaginary part computed from the real part.

    ``init="reference_zero"`` reproduces the VL-KGE reference code (``P = 0``, ``g = 0``). There both
    gradients are zero (dL/dP carries ``tanh(g) = 0``, dL/dg carries ``P Re(e) = 0``), so the branch
    never trains and those imaginary parts stay 0: ComplEx then degenerates to DistMult for them.
    The default ``"learn"`` starts from an orthogonal ``P`` and ``g = 0.5``, so both receive gradients.
    """

    def __init__(self, width: int, init: ImaginaryInit = "learn") -> None:
        super().__init__()
        self.proj = nn.Linear(width, width, bias=False)
        self.gate = nn.Parameter(torch.zeros(()))
        if init == "reference_zero":
            nn.init.zeros_(self.proj.weight)
        elif init == "learn":
            nn.init.orthogonal_(self.proj.weight)
            nn.init.constant_(self.gate, 0.5)
        else:
            raise ValueError(f"imaginary init must be 'learn' or 'reference_zero', got {init!r}")

    def forward(self, real: Tensor) -> Tensor:
        return torch.tanh(self.gate) * self.proj(real)


class EntityRepresentation(nn.Module):
    """Entity ids -> vectors ``[real]`` (real backbones) or ``[real | imaginary]`` (complex ones).

    - ``features``: frozen modality features with presence masks (kept on the module's device as
      non-persistent buffers: checkpoints hold parameters only, features come from the feature cache).
    - ``seen``: bool per entity, true when it occurs in a training triple; default all true.
    - ``imaginary="table"`` (transductive): a free imaginary vector per entity (zero when unseen).
      ``"gated"`` (inductive, reference code): entities with a text feature get a free vector, all
      others ``tanh(g) P Re(e)`` (:class:`ImaginaryGate`). Unlike the reference, an *unseen* text entity
      also uses the gate, since its free vector was never trained.
    - ``imaginary="projected"`` (inductive): the imaginary part is fused exactly like the real one, from
      a free imaginary vector (seen entities) and a second half of each modality's projection. An entity
      embedded from its features alone then gets a full complex vector; with the gate, its imaginary
      part is a linear function of its real part.
    - ``structure=False``: no entity uses its structural vector; every one is embedded from its features
      alone, exactly as an unseen one is (the fully inductive model).
    - ``structure_dropout=p``: while training, each looked-up entity drops its structural vector with
      probability ``p`` (a fresh draw per lookup), so the features-only path is trained, not only the
      fused one; evaluation uses the structure of every seen entity.
    - ``projection``: ``"linear"`` (the paper's) or ``"mlp"`` (:class:`~vlkge_graph.models.fusion.FeatureMLP`).
    """

    def __init__(self, num_entities: int, dim: int, *, features: Features | None = None,
                 seen: Tensor | None = None, fusion: str = "average", is_complex: bool = False,
                 imaginary: ImaginaryMode = "table", imag_init: ImaginaryInit = "learn",
                 adapter: bool = False, init_std: float = 0.1, structure: bool = True,
                 structure_dropout: float = 0.0, projection: str = "linear") -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {sorted(FUSIONS)}")
        if imaginary not in ("table", "gated", "projected"):
            raise ValueError(f"imaginary must be 'table', 'gated' or 'projected', got {imaginary!r}")
        features = dict(features or {})
        if not 0.0 <= structure_dropout <= 1.0:
            raise ValueError(f"structure_dropout must be in [0, 1], got {structure_dropout}")
        if imaginary == "projected" and is_complex and not features:
            raise ValueError("imaginary='projected' needs modality features to project")
        if (not structure or structure_dropout > 0) and not features:
            raise ValueError("structure=False and structure_dropout need modality features to embed from")
        self.use_structure = structure
        self.structure_dropout = structure_dropout
        self.num_entities = num_entities
        self.dim = dim
        self.init_std = init_std
        self.modalities = sorted(features)
        self.is_complex = is_complex
        self.imaginary_mode = imaginary
        #: Projected imaginary parts: each modality's projection also yields the imaginary half.
        self.projected = is_complex and imaginary == "projected"
        self.structure = nn.Embedding(num_entities, dim)
        seen = torch.ones(num_entities, dtype=torch.bool) if seen is None else seen.to(torch.bool)
        if seen.shape != (num_entities,):
            raise ValueError(f"seen mask has shape {tuple(seen.shape)}, expected ({num_entities},)")
        self.register_buffer("seen", seen)
        self.projections = nn.ModuleDict()
        for name in self.modalities:
            values, present = features[name]
            if values.ndim != 2 or values.shape[0] != num_entities or present.shape != (num_entities,):
                raise ValueError(f"modality {name!r}: features {tuple(values.shape)} and mask "
                                 f"{tuple(present.shape)} do not match {num_entities} entities")
            self.register_buffer(f"values_{name}", values.float(), persistent=False)
            self.register_buffer(f"present_{name}", present.to(torch.bool), persistent=False)
            width = 2 * dim if self.projected else dim
            self.projections[name] = ModalityProjection(values.shape[1], width, adapter, projection)
        self.fusion = FUSIONS[fusion](dim, len(self.modalities))
        self.imaginary: nn.Embedding | None = None
        self.gate: ImaginaryGate | None = None
        if is_complex:
            self.imaginary = nn.Embedding(num_entities, dim if self.projected else self.fusion.width)
            if imaginary == "gated":
                self.gate = ImaginaryGate(self.fusion.width, imag_init)
                has_text = features[TEXT][1].to(torch.bool) if TEXT in features else torch.zeros_like(seen)
                self.register_buffer("free_imaginary", has_text & seen & structure)
        #: Structure only, through a fusion without parameters: the fusion reduces to the seen mask.
        self.plain = not self.modalities and not list(self.fusion.parameters())
        self._refresh_all_seen()
        self.register_load_state_dict_post_hook(self._refresh_all_seen)
        self.reset_parameters()

    @property
    def width(self) -> int:
        """Size of the real part (the backbone's ``dim``)."""
        return self.fusion.width

    def reset_parameters(self) -> None:
        nn.init.normal_(self.structure.weight, std=self.init_std)
        if self.imaginary is not None:
            nn.init.normal_(self.imaginary.weight, std=self.init_std)

    def _refresh_all_seen(self, *_: object) -> None:
        """Cache whether every entity is seen (then the ``seen`` masks are no-ops and are skipped);
        refreshed after ``load_state_dict``, the only way ``seen`` changes."""
        self.all_seen = bool(self.seen.all())

    def set_sparse(self, sparse: bool) -> None:
        """Let id lookups return sparse gradients (only the rows a batch touched), for optimisers that
        update touched rows only; whole-table reads (``idx=None``) stay dense."""
        self.structure.sparse = sparse
        if self.imaginary is not None:
            self.imaginary.sparse = sparse

    def modality(self, name: str, idx: Tensor | slice) -> tuple[Tensor, Tensor]:
        """Projected features and presence mask of modality ``name`` for entity ids ``idx``."""
        values = getattr(self, f"values_{name}")[idx]
        return self.projections[name](values), getattr(self, f"present_{name}")[idx]

    def _masked(self, values: Tensor, rows: Tensor | slice) -> Tensor:
        """``values`` (read at ``rows``) with the rows of unseen entities zeroed; skipped when all are seen.

        A fresh id lookup is zeroed in place at its few unseen rows: its backward then costs one copy of
        the gradient, where a multiplication by the mask costs a full pass each way (a third of a
        WN18RR training step went there). A whole-table read (a slice, a view of the parameter) is
        multiplied instead, since a view of a leaf cannot be written in place.
        """
        if self.all_seen:
            return values
        if isinstance(rows, slice):
            return values * self.seen[rows].unsqueeze(-1).to(values.dtype)
        unseen = ~self.seen[rows]
        if values.is_cuda:  # no host sync for the positions
            return values.masked_fill_(unseen.unsqueeze(-1), 0)
        return values.index_fill_(0, unseen.nonzero().squeeze(1), 0)

    def keep(self, rows: Tensor | slice) -> Tensor:
        """Bool per row: does the entity use its structural vector here? Seen, structure on, and (while
        training) not dropped by ``structure_dropout``."""
        seen = self.seen[rows]
        if not self.use_structure:
            return torch.zeros_like(seen)
        if self.training and self.structure_dropout > 0:
            seen = seen & (torch.rand(seen.shape, device=seen.device) >= self.structure_dropout)
        return seen

    def _table(self, table: nn.Embedding, idx: Tensor | slice) -> Tensor:
        """Rows ``idx`` of a structural table (zeros, without a lookup or gradient, when structure is off)."""
        if not self.use_structure:
            return table.weight.new_zeros(self.seen[idx].shape[0], table.embedding_dim)
        return table.weight[idx] if isinstance(idx, slice) else table(idx)

    def real(self, idx: Tensor | slice, zero_unseen: bool = True, keep: Tensor | None = None) -> Tensor:
        """The fused real part ``r_e``; structure only with a parameter-free fusion is just the
        (masked) structural vector, so the fusion's arithmetic is skipped. ``keep``: the rows that use
        their structural vector (default :meth:`keep`)."""
        structure = self._table(self.structure, idx)
        if self.plain:
            return self._masked(structure, idx) if zero_unseen else structure
        mods = [self.modality(name, idx) for name in self.modalities]
        return self.fusion(structure, self.keep(idx) if keep is None else keep, mods)

    def _projected(self, rows: Tensor | slice, keep: Tensor) -> Tensor:
        """``[real | imaginary]`` of ``imaginary="projected"``: both parts fused the same way, each from
        its own table and its half of every modality's projection."""
        mods = [self.modality(name, rows) for name in self.modalities]
        parts = []
        for half, table in enumerate((self.structure, self.imaginary)):
            assert table is not None
            views = [(values[..., half * self.dim:(half + 1) * self.dim], present) for values, present in mods]
            parts.append(self.fusion(self._table(table, rows), keep, views))
        return torch.cat(parts, dim=-1)

    def forward(self, idx: Tensor | None = None, *, zero_unseen: bool = True) -> Tensor:
        """Vectors of entity ids ``idx`` (any shape), or of every entity when ``idx`` is None.

        Ids are looked up flat (so unseen rows can be zeroed in place) with one ``F.embedding`` per
        table (sparse gradients when enabled), and ``None`` reads whole tables without a gather (the
        all-entity case of 1-vs-all training), which keeps the backward pass a dense add.
        ``zero_unseen=False`` (structure only): unseen entities keep their raw, meaningless table rows,
        for a caller that replaces their scores itself (:meth:`KGEModel.score_corruptions`).
        """
        if not zero_unseen and not self.plain:
            raise ValueError("only a structure-only representation can leave unseen entities unmasked")
        rows: Tensor | slice = slice(None) if idx is None else idx.reshape(-1)
        keep = None if self.plain else self.keep(rows)
        if self.projected:
            assert keep is not None
            both = self._projected(rows, keep)
            return both if idx is None else both.view(*idx.shape, -1)
        real = self.real(rows, zero_unseen, keep)
        if self.imaginary is not None:
            free = self.imaginary.weight if idx is None else self.imaginary(rows)
            if self.gate is None and keep is not None and self.drops_structure:
                imag = free * keep.unsqueeze(-1).to(free.dtype)
            elif self.gate is None:
                imag = self._masked(free, rows) if zero_unseen else free
            else:
                free_rows = self.free_imaginary[rows] if keep is None else self.free_imaginary[rows] & keep
                imag = torch.where(free_rows.unsqueeze(-1), free, self.gate(real))
            real = torch.cat([real, imag], dim=-1)
        return real if idx is None else real.view(*idx.shape, -1)

    @property
    def drops_structure(self) -> bool:
        """Are seen entities represented without their structure here (structure off, or dropout while
        training)? Else ``keep`` is the ``seen`` mask and the paper's masking path applies unchanged."""
        return not self.use_structure or (self.training and self.structure_dropout > 0)
