"""Datasets, storage and data loaders."""
from . import datasets, translation, unpaired  # noqa: F401  (registers the dataset types)
from .loader import build_dataset, build_train_loader, build_val_loader  # noqa: F401
from .storage import open_storage  # noqa: F401
