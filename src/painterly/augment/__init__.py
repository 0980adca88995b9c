"""Style as data augmentation: :class:`StyleAugment` (per sample) and :class:`StyleAugmentBatch` (per batch)."""

from .distribution import StyleDistribution, fit_style_distribution, load_style_distribution
from .transform import StyleAugment, StyleAugmentBatch

__all__ = [
    "StyleAugment",
    "StyleAugmentBatch",
    "StyleDistribution",
    "fit_style_distribution",
    "load_style_distribution",
]
