"""Options: the schema machinery (:mod:`srkit.config.schema`) and the sections every recipe shares
(:mod:`srkit.config.sections`).

The machinery turns typed sections (pydantic models that refuse unknown keys) and constructors'
signatures into one schema whose errors are one line naming the key path, and takes each key's
description from the constructor's or section's docstring (``Args:``).  The sections are built with
it; the machinery imports nothing from them (an import-linter contract).  Every name is re-exported
here, so ``from srkit.config import ...`` reads the same as before the split.
"""
from .schema import (MAX_INT, Bool, Float, Int, IntIn, Pair, Schema, Spec, Str, check_name, check_path, check_roots,
                     class_docs,
                     describe, describe_fields, doc_args, doc_without_keys, docstring, fields_model, first_error,
                     is_safe_name, run_checks, signature_model, summary, tagged_union, validate)
from .sections import (MAX_ITER, MAX_SIZE, DatasetOptions, DistOptions, GANTrainOptions, IOBackend, LoggerOptions,
                       MetricOptions, PathOptions, PretrainOptions, TrainOptions, ValOptions, WandbOptions,
                       check_degradation)
# the module's private helpers, importable from srkit.config as before the split
from .schema import (_bool, _Discriminator, _float, _int, _key_path, _message, _plain, _show,  # noqa: F401
                     _str, _two_numbers)
from .sections import _DEGRADATIONS  # noqa: F401

__all__ = [
    'MAX_INT', 'MAX_ITER', 'MAX_SIZE', 'Bool', 'Float', 'Int', 'IntIn', 'Pair', 'Str',
    'Schema', 'Spec', 'fields_model', 'signature_model', 'tagged_union',
    'doc_args', 'doc_without_keys', 'describe', 'class_docs', 'describe_fields', 'docstring', 'summary',
    'first_error', 'run_checks', 'validate', 'is_safe_name', 'check_name', 'check_path', 'check_roots',
    'IOBackend', 'DatasetOptions', 'TrainOptions', 'GANTrainOptions', 'MetricOptions', 'ValOptions',
    'WandbOptions', 'LoggerOptions', 'PretrainOptions', 'PathOptions', 'DistOptions', 'check_degradation',
]
