"""The Experiment: a validated spec bound to its dataset, one forget scenario and its models.

Example:
    >>> import analysis
    >>> exp = analysis.load_experiment("sample_data/digits")
    >>> exp.scenario, exp.models["original"].role, len(exp.forget_indices) > 0
    ('classwise', 'original', True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from analysis.data import ArrayDataset, DatasetBundle, ForgetSet, load_dataset, resolve_forget_set
from analysis.device import resolve_device
from analysis.errors import SpecError, ValidationError, describe
from analysis.models import build_model, load_weights_into
from analysis.spec import AUXILIARY_ROLES, ArchitectureSpec, ExperimentSpec, ModelEntry, load_spec
from analysis.store import ResultCache
from analysis.trust import display_path

__all__ = ["Experiment", "load_experiment"]


class Experiment:
    """Dataset + forget set + models of one scenario of a workspace.

    Attributes:
        spec: The parsed ``experiment.toml``.
        scenario: The selected forget scenario.
        models: Model name -> :class:`ModelEntry`: the scenario's ``retrain`` / ``unlearned``
            models plus the shared ``original`` and ``reference`` models.
    """

    def __init__(self, spec: ExperimentSpec, *, scenario: str | None = None) -> None:
        if scenario is None:
            scenario = next(iter(spec.scenarios))
        if scenario not in spec.scenarios:
            raise ValidationError(describe("scenario", f"one of {list(spec.scenarios)}", scenario))
        self.spec = spec
        self.scenario = scenario
        self.models: Mapping[str, ModelEntry] = MappingProxyType(
            {n: m for n, m in spec.models.items() if m.forget in (None, scenario)}
        )

    def __repr__(self) -> str:
        return (
            f"Experiment({self.spec.name!r}, scenario={self.scenario!r}, "
            f"models={list(self.models)})"
        )

    # ------------------------------------------------------------------ data
    @cached_property
    def data(self) -> DatasetBundle:
        """The dataset bundle (loaded once)."""
        return load_dataset(self.spec.dataset, root=self.root)

    @property
    def root(self) -> Path:
        """The workspace folder."""
        return self.spec.root

    @property
    def cache_dir(self) -> Path:
        """Where computed results are cached (``.ulens_cache`` in the workspace)."""
        return self.root / ".ulens_cache"

    @cached_property
    def cache(self) -> ResultCache:
        """The workspace's result cache, confined to the workspace.

        If ``.ulens_cache`` resolves outside the workspace (a symlink), nothing is read from or
        written there: results are computed without caching, after one warning.
        """
        return ResultCache(self.cache_dir, workspace=self.root)

    @property
    def scenarios(self) -> list[str]:
        """All forget scenarios of the workspace."""
        return list(self.spec.scenarios)

    def with_scenario(self, scenario: str) -> Experiment:
        """The same workspace with another forget scenario (dataset shared)."""
        other = Experiment(self.spec, scenario=scenario)
        if "data" in self.__dict__:
            other.__dict__["data"] = self.data
        return other

    def dataset(self, split: str) -> ArrayDataset:
        """The ``"train"`` or ``"test"`` split as a torch Dataset of ``(x, y)``."""
        if split not in ("train", "test"):
            raise ValidationError(describe("split", "'train' or 'test'", split))
        return self.data.train if split == "train" else self.data.test

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in label order."""
        return self.data.class_names

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.data.num_classes

    @cached_property
    def forget_set(self) -> ForgetSet:
        """The resolved forget set of the scenario."""
        return resolve_forget_set(
            self.scenario,
            self.spec.scenarios[self.scenario],
            self.data.train.targets,
            root=self.root,
        )

    @property
    def forget_indices(self) -> np.ndarray:
        """Sorted indices of the forget samples in the training set."""
        return self.forget_set.indices

    @cached_property
    def retain_indices(self) -> np.ndarray:
        """Sorted indices of the training samples outside the forget set."""
        return np.setdiff1d(np.arange(len(self.data.train)), self.forget_indices)

    @property
    def forget_classes(self) -> tuple[int, ...] | None:
        """Forgotten classes for class-wise scenarios, else None."""
        return self.forget_set.classes

    @property
    def is_classwise(self) -> bool:
        """True when the scenario forgets whole classes."""
        return self.forget_set.is_classwise

    def forget_dataset(self) -> ArrayDataset:
        """The forget samples of the training set."""
        return self.data.train.subset(self.forget_indices)

    def retain_dataset(self) -> ArrayDataset:
        """The retain samples of the training set."""
        return self.data.train.subset(self.retain_indices)

    # ------------------------------------------------------------------ models
    def entry(self, name: str) -> ModelEntry:
        """The entry of model ``name`` (error lists the available names)."""
        if name not in self.models:
            raise ValidationError(describe("model", f"one of {list(self.models)}", name))
        return self.models[name]

    def names_with_role(self, role: str) -> list[str]:
        """Names of the scenario's models with ``role``, in file order."""
        return [n for n, m in self.models.items() if m.role == role]

    @property
    def original_name(self) -> str | None:
        """The first ``original`` model, if any."""
        names = self.names_with_role("original")
        return names[0] if names else None

    @property
    def retrain_name(self) -> str | None:
        """The scenario's first ``retrain`` model, if any."""
        names = self.names_with_role("retrain")
        return names[0] if names else None

    def default_pair(self) -> tuple[str, str]:
        """The pair the views open with (Model A, Model B).

        ``[analysis] default_a`` / ``default_b`` are honoured as written; a name of another
        scenario's model maps to this scenario's model of the same method (``ga`` ->
        ``ga_random``). Without them, A and B are two models an attacker can try to tell from
        the retrain model: the scenario's first two unlearned models (file order), then the
        original model, and the retrain model only when nothing else exists. The retrain model is
        the reference every view already draws (grey), and the Privacy page cannot attack it
        (PS = 1 by definition), so it is not a default.

        Example:
            >>> exp = load_experiment("sample_data/digits")
            >>> exp.default_pair()  # the sample's [analysis] default_a / default_b
            ('ga', 'salun')
        """
        names = [n for n, m in self.models.items() if m.role not in AUXILIARY_ROLES]
        if len(names) < 2:
            raise ValidationError(
                describe("experiment", "at least two non-reference models", names)
            )
        order = {"unlearned": 0, "original": 1, "retrain": 2}
        candidates = sorted(names, key=lambda n: order.get(self.models[n].role, 3))
        a = self._default_member(self.spec.analysis.get("default_a"), names) or candidates[0]
        b = self._default_member(self.spec.analysis.get("default_b"), names)
        if b is None or b == a:
            b = next(n for n in candidates if n != a)
        return a, b

    def _default_member(self, wanted: object, names: list[str]) -> str | None:
        if not isinstance(wanted, str):
            return None
        if wanted in names:
            return wanted
        entry = self.spec.models.get(wanted)
        if entry is None or entry.role in ("original", *AUXILIARY_ROLES):
            return None
        same = [
            n
            for n in names
            if self.models[n].role == entry.role and self.models[n].method == entry.method
        ]
        return same[0] if same else None

    def build(self, architecture: ArchitectureSpec | None = None) -> nn.Module:
        """A freshly initialised model of ``architecture`` (default: the experiment's)."""
        arch = architecture or self.spec.architecture
        return build_model(
            arch.name,
            num_classes=self.num_classes,
            input_shape=self.data.input_shape,
            params=arch.params,
            workspace=self.root,
        )

    def load_model(self, name: str, *, device: str | torch.device = "auto") -> nn.Module:
        """Build model ``name``, load its weights safely; eval mode on ``device``."""
        entry = self.entry(name)
        resolved = resolve_device(device)
        model = self.build(entry.architecture)
        shown = f"models.{name}.file {display_path(entry.file, self.root)!r}"
        load_weights_into(model, entry.file, num_classes=self.num_classes, name=shown)
        return model.to(resolved).eval()

    def members_mask(self, name: str) -> np.ndarray:
        """Boolean training-membership mask of a ``reference`` or ``shadow`` model."""
        entry = self.entry(name)
        if entry.members is None:
            raise ValidationError(describe("model", "a reference model with a members mask", name))
        return self._training_mask(entry.members, f"models.{name}.members")

    def shadow_forget_mask(self, name: str) -> np.ndarray:
        """Boolean mask of the training samples a ``shadow`` model unlearned (or lacks)."""
        entry = self.entry(name)
        if entry.forget_mask is None:
            raise ValidationError(describe("model", "a shadow model with a forget_mask", name))
        return self._training_mask(entry.forget_mask, f"models.{name}.forget_mask")

    def _training_mask(self, path: Path, where: str) -> np.ndarray:
        n = len(self.data.train)
        shown = display_path(path, self.root)
        try:
            with path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size > 1024 + 2 * n:  # a bool .npy of n rows
                    raise SpecError(
                        describe(
                            where,
                            f"a boolean .npy mask of {n} rows",
                            f"a larger file {shown!r}",
                            raw=True,
                        )
                    )
                mask = np.load(handle, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            if isinstance(exc, SpecError):
                raise
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SpecError(
                describe(where, "a readable .npy mask", f"{shown!r} ({reason})", raw=True)
            ) from exc
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (n,):
            found = f"{mask.dtype} {mask.shape}" if isinstance(mask, np.ndarray) else "an .npz"
            raise SpecError(
                describe(
                    where,
                    f"a boolean array of shape ({n},)",
                    f"{found} in {shown!r}",
                    raw=True,
                )
            )
        return mask


def load_experiment(path: str | Path, *, scenario: str | None = None) -> Experiment:
    """Load a workspace folder (or its ``experiment.toml``).

    Args:
        path: Workspace folder or TOML file.
        scenario: Forget scenario to select; default the first one in the file.

    Returns:
        The experiment.

    Raises:
        SpecError: The spec is invalid.

    Example:
        >>> exp = load_experiment("sample_data/digits")
        >>> exp.dataset("train")[0][0].shape
        torch.Size([1, 8, 8])
    """
    from analysis.workspace import with_registered_runs

    return Experiment(with_registered_runs(load_spec(path)), scenario=scenario)
