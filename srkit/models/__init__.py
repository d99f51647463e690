"""Model families, one file each; each module here registers itself.  ``build_model(opt, ctx)``
reads ``model_type``."""
from ..registry import MODEL_REGISTRY, import_all

import_all(__name__, __path__)


def build_model(opt, ctx):
    return MODEL_REGISTRY.get(opt.model_type, 'model_type')(opt, ctx)
