# SPDX-License-Identifier: Apache-2.0
"""Network definitions of pix2pixHD with the public code's state-dict layout."""

from .config import GeneratorConfig
from .discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from .encoder import Encoder, EncoderConfig
from .generator import GlobalGenerator, LocalEnhancer, ResnetBlock, build_generator

__all__ = [
    "Encoder",
    "EncoderConfig",
    "GeneratorConfig",
    "GlobalGenerator",
    "LocalEnhancer",
    "MultiscaleDiscriminator",
    "NLayerDiscriminator",
    "ResnetBlock",
    "build_generator",
]
