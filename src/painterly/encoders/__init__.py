"""Frozen ImageNet CNN encoders that return named feature maps."""

from .layout import VGG_CONFIGS, conv_names, layer_sequence
from .vgg import VGGEncoder, build_vgg, vgg16, vgg19

__all__ = ["VGG_CONFIGS", "VGGEncoder", "build_vgg", "conv_names", "layer_sequence", "vgg16", "vgg19"]
