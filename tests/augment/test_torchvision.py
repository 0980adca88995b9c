"""StyleAugment inside torchvision.transforms.v2 pipelines (runs where torchvision imports: CI's second environment,
see .ci/run; skipped here otherwise, since torchvision from PyPI does not import beside torch 2.13's CPU build)."""

from __future__ import annotations

import pytest
import torch

from painterly.augment.transform import StyleAugment
from tests.augment.test_augment import encode
from tests.methods.test_arbitrary import tiny_stylizer

v2 = pytest.importorskip("torchvision.transforms.v2", reason="torchvision does not import beside this torch")
tv_tensors = pytest.importorskip("torchvision.tv_tensors")


def tiny(**options: object) -> StyleAugment:
    from painterly.augment.distribution import fit_style_distribution
    from tests.conftest import gradient_image

    distribution = fit_style_distribution(
        [gradient_image(48, 48, seed=seed) for seed in range(2)], encode, crops_per_painting=6, crop_size=32, rank=3
    )
    transform = StyleAugment(distribution=distribution, **options)
    transform.augmenter.use_stylizer(tiny_stylizer())
    return transform


def test_in_a_v2_pipeline_with_boxes_masks_and_labels() -> None:
    image = tv_tensors.Image(torch.randint(0, 256, (3, 32, 40), dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes([[2, 3, 20, 25]], format="XYXY", canvas_size=(32, 40))
    mask = tv_tensors.Mask(torch.zeros(32, 40, dtype=torch.uint8))
    pipeline = v2.Compose([v2.RandomHorizontalFlip(p=1.0), tiny(p=1.0, seed=0), v2.ToDtype(torch.float32, scale=True)])
    out_image, out_boxes, out_mask, label = pipeline(image, boxes, mask, 7)
    assert isinstance(out_image, tv_tensors.Image) and out_image.dtype == torch.float32
    assert isinstance(out_boxes, tv_tensors.BoundingBoxes) and out_boxes.tolist() == [[20, 3, 38, 25]]  # flipped only
    assert isinstance(out_mask, tv_tensors.Mask) and label == 7
    flipped = v2.ToDtype(torch.float32, scale=True)(v2.RandomHorizontalFlip(p=1.0)(image))
    assert not torch.equal(out_image, flipped)  # the style changed the image


def test_a_dict_sample_and_pil_images() -> None:
    from PIL import Image

    picture = Image.new("RGB", (40, 32), (120, 60, 30))
    sample = {"image": picture, "boxes": tv_tensors.BoundingBoxes([[1, 1, 5, 5]], format="XYXY", canvas_size=(32, 40))}
    out = v2.Compose([tiny(p=1.0, seed=1), v2.PILToTensor()])(sample)
    assert out["image"].shape == (3, 32, 40) and out["boxes"].tolist() == [[1, 1, 5, 5]]
