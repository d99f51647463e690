"""The iteration-based training loop shared by every model family, split by job:

- :mod:`.loop`: :class:`Trainer` (batches, the step, logging, divergence checks, signals)
  and :func:`train`, srkit-train's entry; :func:`check_for_training`, what srkit-train
  needs of the options;
- :mod:`.state`: the experiment folder, checkpoints and training states, resume (BasicSR's
  states too), the check that a resumed run keeps its options, the ``_latest`` links;
- :mod:`.validation`: each val set's metrics through the model's ``val_pair``, the best values,
  the saved images and the model's snapshots.
"""
from .loop import Trainer, check_for_training, format_eta, train  # noqa: F401
from .state import experiment_dir, find_latest_state  # noqa: F401
from .validation import Validation  # noqa: F401
