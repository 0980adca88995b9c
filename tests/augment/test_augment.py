"""Style augmentation: the distribution (fit, sample, files), the per-sample transform, the batch module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.augment.distribution import (
    StyleDistribution,
    fit_style_distribution,
    join_statistics,
    load_style_distribution,
    split_statistics,
)
from painterly.augment.transform import StyleAugment, StyleAugmentBatch, StyleAugmenter
from painterly.errors import ConfigError, WeightsError
from painterly.methods.arbitrary import BOTTLENECK
from painterly.ops import mean_std
from tests.conftest import gradient_image, make_tiny_encoder
from tests.methods.test_arbitrary import tiny_stylizer

CHANNELS = 8  # relu4_1 of the tiny VGG16


def encode(image: torch.Tensor) -> torch.Tensor:
    return ENCODER(image)[BOTTLENECK]


ENCODER = make_tiny_encoder([BOTTLENECK]).eval()


@pytest.fixture(scope="module")
def distribution() -> StyleDistribution:
    paintings = [gradient_image(64, 80, seed=seed) ** (1 + seed) for seed in range(3)]
    return fit_style_distribution(paintings, encode, names=["a", "b", "c"], crops_per_painting=8, crop_size=32, rank=4)


def augment(cls: type, distribution: StyleDistribution, **options: object) -> StyleAugment | StyleAugmentBatch:
    module = cls(distribution=distribution, **options)
    module.augmenter.use_stylizer(tiny_stylizer())
    return module  # type: ignore[no-any-return]


def test_statistics_round_trip_and_the_fit_matches_the_sample_moments(distribution: StyleDistribution) -> None:
    means, deviations = torch.rand(5, CHANNELS, 1, 1), torch.rand(5, CHANNELS, 1, 1) + 0.1
    back = split_statistics(join_statistics(means, deviations))
    assert torch.allclose(back[0], means) and torch.allclose(back[1], deviations, rtol=1e-5)
    assert distribution.channels == CHANNELS and distribution.rank == 4 and distribution.sources == ("a", "b", "c")
    # many samples reproduce the fitted mean and the total variance (low rank + residual)
    samples = join_statistics(*distribution.sample(20000, torch.Generator().manual_seed(0)))
    assert torch.allclose(samples.mean(0), distribution.mean, atol=0.05 * float(distribution.mean.abs().max()))
    expected = distribution.factors.square().sum(1) + distribution.residual
    assert torch.allclose(samples.var(0), expected, rtol=0.1, atol=1e-4)
    # temperature 0 gives the mean
    zero = join_statistics(*distribution.sample(3, torch.Generator().manual_seed(1), temperature=0.0))
    assert torch.allclose(zero, distribution.mean.expand(3, -1), atol=1e-5)


def test_the_fit_against_a_plain_covariance() -> None:
    paintings = [gradient_image(48, 48, seed=seed) for seed in range(2)]
    full = fit_style_distribution(paintings, encode, crops_per_painting=12, crop_size=32, rank=15)
    rows = []
    generator = torch.Generator().manual_seed(0)
    from painterly.augment.distribution import random_crops

    for painting in paintings:
        rows += [
            join_statistics(*mean_std(encode(crop), 1e-5)) for crop in random_crops(painting, 12, generator, size=32)
        ]
    samples = torch.cat(rows).double()
    covariance = torch.cov(samples.T)
    fitted = full.factors.double() @ full.factors.double().T + torch.diag(full.residual.double())
    assert torch.allclose(fitted.diagonal(), covariance.diagonal(), rtol=1e-3, atol=1e-7)
    low_rank = full.factors.double() @ full.factors.double().T
    assert torch.allclose(low_rank, covariance, atol=1e-4 * float(covariance.abs().max()))  # rank 15 of 16 dims


def test_distribution_files(distribution: StyleDistribution, tmp_path: Path) -> None:
    path = distribution.save(tmp_path / "d.safetensors")
    again = load_style_distribution(path)
    assert torch.equal(again.mean, distribution.mean) and again.sources == distribution.sources
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(WeightsError, match="cannot read the style distribution"):
        load_style_distribution(tmp_path / "junk.safetensors")
    with pytest.raises(WeightsError, match="cannot read"):
        load_style_distribution(tmp_path / "missing.safetensors")
    with pytest.raises(ConfigError, match="residual"):
        StyleDistribution(distribution.mean, distribution.factors, -distribution.residual - 1)


def test_p_zero_is_the_identity_and_p_one_changes_every_image(distribution: StyleDistribution) -> None:
    image = gradient_image(40, 48, seed=3)[0]
    assert augment(StyleAugment, distribution, p=0.0, seed=0)(image) is image
    changed = augment(StyleAugment, distribution, p=1.0, seed=0)(image)
    assert changed.shape == image.shape and changed.dtype == image.dtype and not torch.equal(changed, image)
    assert changed.min() >= 0 and changed.max() <= 1


def test_seeded_runs_repeat_and_differ_by_seed(distribution: StyleDistribution) -> None:
    image = gradient_image(32, 32, seed=4)[0]
    first = [augment(StyleAugment, distribution, p=1.0, seed=7)(image) for _ in range(2)]
    assert torch.equal(first[0], first[1])
    other = augment(StyleAugment, distribution, p=1.0, seed=8)(image)
    assert not torch.equal(first[0], other)
    stream = augment(StyleAugment, distribution, p=1.0, seed=7)
    assert not torch.equal(stream(image), stream(image))  # a stream: the next call draws anew


def test_boxes_masks_and_labels_pass_through(distribution: StyleDistribution) -> None:
    image = gradient_image(32, 40, seed=5)[0]
    boxes, label = torch.tensor([[1.0, 2.0, 10.0, 12.0]]), 3
    picture = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    transform = augment(StyleAugment, distribution, p=1.0, seed=0)
    # plain tensors: only the first (the image) changes, as in torchvision v2
    out_image, out_boxes, out_label = transform(image, boxes, label)
    assert out_boxes is boxes and out_label == 3 and not torch.equal(out_image, image)
    # PIL image in a dict: the PIL image is the image, the tensors pass through
    mask = torch.zeros(32, 40, dtype=torch.uint8)
    out = transform({"image": picture, "mask": mask, "boxes": boxes, "label": label})
    assert isinstance(out["image"], Image.Image) and out["image"].size == picture.size
    assert out["mask"] is mask and out["boxes"] is boxes and out["label"] == label
    assert np.abs(np.asarray(out["image"], dtype=int) - np.asarray(picture, dtype=int)).max() > 0


class Image_(torch.Tensor):  # noqa: N801 - stands in for tv_tensors.Image, matched by class name
    pass


Image_.__name__ = "Image"


class Mask(torch.Tensor):
    pass


def test_tv_tensor_like_images_and_masks(distribution: StyleDistribution) -> None:
    image = (gradient_image(24, 24, seed=6)[0] * 255).round().to(torch.uint8).as_subclass(Image_)
    mask = torch.ones(1, 24, 24).as_subclass(Mask)
    out_image, out_mask = augment(StyleAugment, distribution, p=1.0, seed=0)(image, mask)
    assert type(out_image) is Image_ and out_image.dtype == torch.uint8 and out_image.shape == (3, 24, 24)
    assert out_mask is mask


def test_grey_images_stay_grey(distribution: StyleDistribution) -> None:
    grey = gradient_image(24, 32, seed=7)[0, :1]
    out = augment(StyleAugment, distribution, p=1.0, seed=0)(grey)
    assert out.shape == (1, 24, 32)
    picture = Image.fromarray((grey[0].numpy() * 255).astype(np.uint8), mode="L")
    assert augment(StyleAugment, distribution, p=1.0, seed=0)(picture).mode == "L"


def test_the_batch_module_agrees_with_the_per_sample_transform(distribution: StyleDistribution) -> None:
    images = torch.stack([gradient_image(32, 32, seed=seed)[0] for seed in range(6)])
    per_sample = augment(StyleAugment, distribution, p=0.5, strength=(0.3, 1.0), seed=11)
    expected = torch.stack([per_sample(image) for image in images])
    batched = augment(StyleAugmentBatch, distribution, p=0.5, strength=(0.3, 1.0), seed=11)(images)
    unchanged = [torch.equal(batched[i], images[i]) for i in range(6)]
    assert any(unchanged) and not all(unchanged)  # p = 0.5 over six images with this seed
    assert torch.allclose(batched, expected, atol=1e-4)
    as_bytes = (images * 255).round().to(torch.uint8)
    out = augment(StyleAugmentBatch, distribution, p=1.0, seed=0)(as_bytes)
    assert out.dtype == torch.uint8 and out.shape == as_bytes.shape


def test_strength_zero_keeps_the_images_statistics(distribution: StyleDistribution) -> None:
    """At strength 0 the features keep their own statistics: the decoder's reconstruction, whatever the style."""
    images = torch.stack([gradient_image(32, 32, seed=seed)[0] for seed in range(2)])
    one = augment(StyleAugmentBatch, distribution, p=1.0, strength=0.0, seed=1)(images)
    two = augment(StyleAugmentBatch, distribution, p=1.0, strength=0.0, seed=2)(images)
    assert torch.allclose(one, two, atol=1e-5)


def test_real_paintings_as_styles(tmp_path: Path) -> None:
    for seed in range(2):
        array = (gradient_image(40, 40, seed=seed)[0].permute(1, 2, 0).numpy() ** (1 + 2 * seed) * 255).astype(np.uint8)
        Image.fromarray(array).save(tmp_path / f"painting{seed}.png")
    transform = StyleAugment(styles=tmp_path, p=1.0, strength=1.0, seed=0)
    transform.augmenter.use_stylizer(tiny_stylizer())
    image = gradient_image(32, 32, seed=9)[0]
    results = {transform(image).sum().item() for _ in range(8)}
    assert len(results) == 2  # one painting or the other, at strength 1


def test_each_worker_and_epoch_seeds_its_own_stream(
    distribution: StyleDistribution, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Info:
        id, seed = 3, 12345

    augmenter = StyleAugmenter(distribution=distribution, seed=10)
    main_stream = augmenter.generator()
    assert torch.equal(main_stream.get_state(), torch.Generator().manual_seed(10).get_state())
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: Info())
    worker = augmenter.generator()  # the same object in a worker (as after a fork): seeded anew
    expected = torch.Generator().manual_seed((10 * 1_000_003 + 12345) % 2**63)
    assert worker is not main_stream and torch.equal(worker.get_state(), expected.get_state())
    assert augmenter.generator() is worker  # the stream goes on within the worker
    Info.seed = 999  # the next epoch's worker
    assert augmenter.generator() is not worker


def test_namedtuples_plain_tensor_rule_and_16_bit_tensors(distribution: StyleDistribution) -> None:
    from collections import namedtuple

    Sample = namedtuple("Sample", ["image", "mask"])
    image, mask = gradient_image(24, 24, seed=2)[0], torch.ones(1, 24, 24)
    transform = augment(StyleAugment, distribution, p=1.0, seed=0)
    out = transform(Sample(image, mask))
    assert isinstance(out, Sample) and out.mask is mask and not torch.equal(out.image, image)  # only the first tensor
    deep = (image * 65535).round().to(torch.int32)
    styled = transform(deep)
    assert styled.dtype == torch.int32 and styled.max() > 255  # scaled by the dtype's range, not by 255


def test_string_paths_and_large_images(distribution: StyleDistribution, tmp_path: Path) -> None:
    path = distribution.save(tmp_path / "d.safetensors")
    transform = StyleAugment(distribution=str(path), p=1.0, seed=0, max_side=32)
    transform.augmenter.use_stylizer(tiny_stylizer())
    image = gradient_image(48, 64, seed=3)[0]
    out = transform(image)  # stylised at 32 px, scaled back
    assert out.shape == image.shape and not torch.equal(out, image)
    Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "p.png")
    by_name = StyleAugment(styles=str(tmp_path), p=1.0, seed=0)
    assert len(by_name.augmenter.paintings) == 1


def test_pil_modes_keep_their_alpha_and_refuse_deep_images(distribution: StyleDistribution) -> None:
    rgba = Image.new("RGBA", (24, 24), (200, 100, 50, 128))
    transform = augment(StyleAugment, distribution, p=1.0, seed=0)
    out = transform(rgba)
    assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (128, 128)
    grey_alpha = transform(Image.new("LA", (24, 24), (90, 7)))
    assert grey_alpha.mode == "LA" and grey_alpha.getchannel("A").getextrema() == (7, 7)
    assert transform(Image.new("P", (24, 24))).mode == "RGB"
    with pytest.raises(ConfigError, match="mode I;16"):
        transform(Image.new("I;16", (24, 24)))


def test_the_batch_module_returns_untouched_samples_exactly(distribution: StyleDistribution) -> None:
    images = torch.rand(6, 3, 24, 24, dtype=torch.float64)
    out = augment(StyleAugmentBatch, distribution, p=0.5, seed=11)(images)
    kept = [index for index in range(6) if torch.equal(out[index], images[index])]
    assert 0 < len(kept) < 6 and out.dtype == torch.float64


def test_the_transform_pickles_without_its_networks(distribution: StyleDistribution) -> None:
    import pickle

    transform = augment(StyleAugment, distribution, p=1.0, seed=0)
    transform(gradient_image(24, 24, seed=1)[0])
    copy = pickle.loads(pickle.dumps(transform))
    assert copy.augmenter._stylizer is None and copy.augmenter.distribution is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"p": 1.5}, "p must be within"),
        ({"strength": (0.8, 0.2)}, "strength must be"),
        ({"temperature": -1.0}, "temperature"),
        ({"styles": [], "distribution": None}, "at least one painting"),
        ({"max_side": 4}, "max_side"),
    ],
)
def test_bad_options(distribution: StyleDistribution, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StyleAugmenter(**({"distribution": distribution} | options))  # type: ignore[arg-type]


def test_bad_batches(distribution: StyleDistribution) -> None:
    with pytest.raises(ConfigError, match="expected a batch"):
        augment(StyleAugmentBatch, distribution, p=1.0)(torch.rand(3, 8, 8))
    with pytest.raises(ConfigError, match="1 or 3 channels"):
        augment(StyleAugment, distribution, p=1.0, seed=0)(torch.rand(4, 8, 8))
