"""Unlearning methods: one base class, a registry and one small module per method.

Built-in methods (registry keys): ``retrain``, ``ft``, ``ga``, ``rl``, ``scrub``, ``salun``,
``l1sparse``. Third-party methods plug in through :func:`register_method`, a ``module:Class``
path or an entry point in the group ``unlearning_lens.methods`` (see :mod:`analysis.unlearn.base`).

Example:
    >>> from analysis.unlearn import available_methods, get_method
    >>> get_method("salun").display_name
    'SalUn'
"""

from __future__ import annotations

from analysis.unlearn.base import (
    ENTRY_POINT_GROUP,
    ProgressEvent,
    SGDParams,
    UnlearningContext,
    UnlearningMethod,
    UnlearningResult,
    available_methods,
    get_method,
    make_method,
    register_method,
)
from analysis.unlearn.ft import FineTune, FTParams
from analysis.unlearn.ga import GAParams, GradientAscent
from analysis.unlearn.l1sparse import L1Params, L1Sparse
from analysis.unlearn.retrain import Retrain, RetrainParams
from analysis.unlearn.rl import RandomLabel, RLParams
from analysis.unlearn.salun import SalUn, SalUnParams
from analysis.unlearn.scrub import Scrub, SCRUBParams

__all__ = [
    "ENTRY_POINT_GROUP",
    "FTParams",
    "FineTune",
    "GAParams",
    "GradientAscent",
    "L1Params",
    "L1Sparse",
    "ProgressEvent",
    "RLParams",
    "RandomLabel",
    "Retrain",
    "RetrainParams",
    "SCRUBParams",
    "SGDParams",
    "SalUn",
    "SalUnParams",
    "Scrub",
    "UnlearningContext",
    "UnlearningMethod",
    "UnlearningResult",
    "available_methods",
    "get_method",
    "make_method",
    "register_method",
]
