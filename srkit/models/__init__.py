"""Model families.  ``build_model(opt, ctx)`` reads ``model_type``."""
from ..registry import MODEL_REGISTRY
from . import dsgan, realesrgan, sr, srgan, translation  # noqa: F401  (registers)


def build_model(opt, ctx):
    return MODEL_REGISTRY.get(opt.model_type, 'model_type')(opt, ctx)
