"""Pure image-degradation functions and pipelines, usable without srkit's trainer.

Every random function takes an explicit generator (``numpy.random.Generator``
or ``torch.Generator``) and returns the parameters it drew, so any LR image can
be reproduced and explained.  Images are ``(H,W,3) RGB float32 in [0,1]``
(numpy) or ``(B,3,H,W) RGB float in [0,1]`` (torch) unless stated otherwise.
"""
from .resize import imresize, imresize_torch, resize_weights  # noqa: F401
from .pipelines import PIPELINES, build_pipeline, check_options, load_preset, option_types, preset_names  # noqa: F401
