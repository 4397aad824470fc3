"""The zero-shot VLM baseline for the report (evaluation/zero_shot.py), where the run's encoders allow it.

It needs one vision-language model for both modalities (the images' features and the prompts' texts in
one space) and that model's text tower loaded here; otherwise the report says why it is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlkge_graph.encoders.registry import get_encoder, parse_spec

if TYPE_CHECKING:
    from vlkge_graph.training.api import TrainedRun

#: Encoder kinds whose image and text towers share one embedding space.
VISION_LANGUAGE = ("open_clip", "hf-clip", "hf-blip")
#: The prompt of relation ``r`` for candidate answer name ``{}``.
PROMPT = "{relation} {{}}"


@dataclass
class Baseline:
    """The baseline's test metrics (tail queries, each relation's answers as candidates), or why there are none."""

    metrics: dict[str, float] | None = None
    reason: str | None = None
    encoder: str | None = None


def zero_shot_baseline(run: TrainedRun) -> Baseline:
    """Rank each test triple's tail among its relation's answers by cosine of the head's image features (the
    model's frozen input) and the prompt's text features."""
    from vlkge_graph.evaluation.zero_shot import zero_shot_evaluate

    encoders = run.recipe.features or {}
    image, text = encoders.get("image"), encoders.get("text")
    if not image or image != text or parse_spec(image)[0] not in VISION_LANGUAGE:
        return Baseline(reason=f"the run's encoders (image: {image or 'none'}, text: {text or 'none'}) are not one "
                               f"vision-language model with a shared image-text space ({', '.join(VISION_LANGUAGE)} "
                               "for both), so there is no zero-shot baseline to compare with")
    images = getattr(run.model.entities, "values_image", None)
    if images is None:
        return Baseline(reason="the run's model has no image features, so there is no zero-shot baseline")
    try:
        encoder = get_encoder(text, "text", run.device)
    except Exception as exc:  # weights absent offline, backend not installed: the report says so
        return Baseline(reason=f"the text encoder {text} could not be loaded here ({type(exc).__name__}: {exc})")
    data = run.data
    names = [n if isinstance(n, str) and n else i for i, n in
             zip(data.entity_ids, run.tables.entities.set_index("id").loc[list(data.entity_ids), "name"], strict=True)]
    prompts = {r: PROMPT.format(relation=name.replace("_", " ")) for r, name in enumerate(data.relation_ids)}
    result = zero_shot_evaluate(images, prompts, names, data.splits["test"],
                                data.candidate_pools("tail", ("train", "valid", "test")), encoder,  # type: ignore[arg-type]
                                filter_index=data.filter_index(), device=run.device,
                                relation_names=list(data.relation_ids))
    return Baseline(metrics=result.summary(), encoder=text)
