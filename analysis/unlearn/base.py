"""The unlearning-method protocol, the shared hyperparameters and the method registry.

A method is one class: a subclass of :class:`UnlearningMethod` with a registry ``name``, a
``display_name``, a frozen dataclass ``Params`` of typed hyperparameters with defaults, and an
``_unlearn(model, forget, retain, ctx)`` that updates ``model`` in place and returns its
per-epoch history. :meth:`UnlearningMethod.run` does everything else: input validation, a deep
copy of the caller's model, seeding, timing.

Adding a method: write the class, e.g.::

    @dataclass(frozen=True)
    class NegGradParams(SGDParams):
        epochs: int = 3

    class NegGrad(UnlearningMethod):
        name, display_name, Params = "neggrad", "NegGrad+", NegGradParams

        def _unlearn(self, model, forget, retain, ctx):
            loss = lambda x, y, step: -F.cross_entropy(model(x), y)
            return ctx.fit(model, forget, self.params, loss)

then either decorate it with :func:`register_method` (importing its module registers it), refer
to it as ``"module:NegGrad"`` (a ``module.py`` inside the workspace folder, or a module of a
package the user allowed with ``--allow-code``; see :mod:`analysis.trust`), or publish it from
an installed package as an entry point in the group ``unlearning_lens.methods``::

    [project.entry-points."unlearning_lens.methods"]
    neggrad = "my_package.unlearn:NegGrad"

:class:`ProgressEvent` is defined in :mod:`analysis.training` (shared with
:func:`~analysis.training.train_model`) and re-exported here.

BatchNorm: every update runs with the model in train mode (batch statistics, running statistics
updated, dropout active); frozen helper models (SCRUB's teacher) and saliency gradients (SalUn)
use eval mode. The returned model is in eval mode.

Example:
    >>> import torch
    >>> from analysis.data import ArrayDataset
    >>> from analysis.models import build_model
    >>> model = build_model("mlp", num_classes=2, input_shape=(4,))
    >>> forget = ArrayDataset(torch.randn(8, 4), torch.zeros(8, dtype=torch.long))
    >>> retain = ArrayDataset(torch.randn(32, 4), torch.ones(32, dtype=torch.long))
    >>> method = make_method("ga", {"epochs": 1})
    >>> result = method.run(model, forget, retain, seed=0, device="cpu")
    >>> result.model is model, len(result.history), result.params["epochs"]
    (False, 1, 1)
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import importlib.metadata
import math
import sys
import time
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

import torch
from torch import nn

from analysis.data import ArrayDataset
from analysis.device import resolve_device
from analysis.errors import MethodError, ValidationError, describe
from analysis.training import (
    LossFn,
    ProgressCallback,
    ProgressEvent,
    ProgressTracker,
    fit_epochs,
    make_optimizer,
    seeded,
    synchronize,
    train_batches,
)
from analysis.trust import current_policy, import_reference

__all__ = [
    "ENTRY_POINT_GROUP",
    "Bounds",
    "ProgressEvent",
    "ProgressTracker",
    "SGDParams",
    "UnlearningContext",
    "UnlearningMethod",
    "UnlearningResult",
    "available_methods",
    "get_method",
    "make_method",
    "param_bounds",
    "register_method",
    "require",
    "validate_params",
]

ENTRY_POINT_GROUP = "unlearning_lens.methods"

Bounds = tuple[float | None, float | None]
"""Inclusive (low, high) of a numeric hyperparameter; None = unbounded on that side."""


# --------------------------------------------------------------------------- results and context


@dataclass(frozen=True)
class UnlearningResult:
    """Outcome of :meth:`UnlearningMethod.run`.

    Attributes:
        model: The unlearned model (a new object), in eval mode, on the run's device.
        seconds: Wall time of the method's whole work (preprocessing such as saliency masks or
            teacher copies included; the input validation and the defensive copy excluded).
        history: One dict per epoch (``epoch``, ``loss`` and method-specific values).
        params: The hyperparameters as run (a plain dict of the ``Params`` fields).
    """

    model: nn.Module
    seconds: float
    history: tuple[dict[str, float], ...]
    params: Mapping[str, Any]


@dataclass(frozen=True)
class UnlearningContext:
    """What a method's ``_unlearn`` gets besides the model and the data.

    Attributes:
        device: Where the model lives and batches are sent.
        generator: CPU generator seeded from ``seed``: use it for every shuffle and random draw.
        progress: The caller's progress callback, or ``None``.
        seed: The run's seed (torch's global RNG is already seeded with it).
        epoch_hook: The runner's end-of-epoch evaluation (per-epoch UA/RA/...), or ``None``.
            :meth:`fit` calls it after every epoch; a method with its own loop calls
            :meth:`end_of_epoch` after each epoch and stops when :meth:`should_stop` is true.
        stop: The runner's stopping rule (e.g. forget accuracy reached a target), or ``None``.
    """

    device: torch.device
    generator: torch.Generator
    progress: ProgressCallback | None
    seed: int
    epoch_hook: Callable[[int], Mapping[str, float]] | None = None
    stop: Callable[[], bool] | None = None

    def end_of_epoch(self, epoch: int) -> dict[str, float]:
        """The runner's values for ``epoch`` (empty without a hook): add them to its history."""
        return dict(self.epoch_hook(epoch)) if self.epoch_hook is not None else {}

    def should_stop(self) -> bool:
        """Whether the runner's stopping rule asks the method to end after this epoch."""
        return self.stop is not None and bool(self.stop())

    def batches(
        self, datasets: ArrayDataset | Sequence[ArrayDataset], batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled training batches over the union of ``datasets``, on the run's device."""
        return train_batches(datasets, batch_size, generator=self.generator, device=self.device)

    def fit(
        self,
        model: nn.Module,
        datasets: ArrayDataset | Sequence[ArrayDataset],
        params: SGDParams,
        loss_fn: LossFn,
        *,
        clip_norm: float | None = None,
        after_step: Callable[[], None] | None = None,
    ) -> list[dict[str, float]]:
        """Optimise ``loss_fn`` over ``datasets`` with momentum SGD configured by ``params``.

        A thin wrapper of :func:`analysis.training.fit_epochs` with this context's generator,
        device and progress callback. Returns the per-epoch history.
        """
        optimizer = make_optimizer(
            model.parameters(),
            lr=params.lr,
            momentum=params.momentum,
            weight_decay=params.weight_decay,
        )
        return fit_epochs(
            model,
            datasets,
            epochs=params.epochs,
            batch_size=params.batch_size,
            optimizer=optimizer,
            loss_fn=loss_fn,
            generator=self.generator,
            device=self.device,
            progress=self.progress,
            clip_norm=clip_norm,
            after_step=after_step,
            end_of_epoch=self.end_of_epoch if self.epoch_hook is not None else None,
            should_stop=self.should_stop if self.stop is not None else None,
        )


# --------------------------------------------------------------------------- hyperparameters


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (unchecked kinds of annotation pass)."""
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if get_origin(hint) is Literal:
        return any(type(value) is type(a) and value == a for a in get_args(hint))
    return True


def _expected(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    return f"a value of type {getattr(hint, '__name__', hint)}"


def validate_params(params: Any) -> None:
    """Check every field of a ``Params`` dataclass instance against its type annotation.

    ``bool``, ``int``, ``float`` (ints accepted), ``str`` and ``Literal[...]`` annotations are
    checked; other annotations are trusted.

    Raises:
        MethodError: A field has the wrong type; the message names the field and the type.

    Example:
        >>> validate_params(SGDParams(lr=0.1))
        >>> validate_params(SGDParams(lr="fast"))
        Traceback (most recent call last):
        ...
        analysis.errors.MethodError: SGDParams.lr: expected a value of type float, received 'fast'
    """
    hints = typing.get_type_hints(type(params))
    for f in fields(params):
        value = getattr(params, f.name)
        if f.name in hints and not _type_ok(value, hints[f.name]):
            raise MethodError(
                describe(f"{type(params).__name__}.{f.name}", _expected(hints[f.name]), value)
            )


def require(params: Any, name: str, ok: bool, expected: str) -> None:
    """Raise :class:`MethodError` naming ``params``' field ``name`` unless ``ok``.

    Example:
        >>> require(SGDParams(), "lr", True, "a positive number")
    """
    if not ok:
        raise MethodError(
            describe(f"{type(params).__name__}.{name}", expected, getattr(params, name))
        )


@dataclass(frozen=True)
class SGDParams:
    """Optimisation hyperparameters shared by the SGD-based methods.

    Attributes:
        epochs: Passes over the method's training data.
        lr: Learning rate (constant).
        batch_size: Samples per optimiser step.
        momentum: SGD momentum in [0, 1).
        weight_decay: L2 penalty applied by SGD.

    Example:
        >>> SGDParams(epochs=3).batch_size
        64
    """

    epochs: int = 5
    lr: float = 0.01
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 5e-4

    BOUNDS: ClassVar[Mapping[str, Bounds]] = {
        "epochs": (1, None),
        "lr": (0.0, None),
        "batch_size": (1, None),
        "momentum": (0.0, 1.0),
        "weight_decay": (0.0, None),
    }
    """Inclusive (low, high) hints per field for forms (None: open); ``__post_init__`` is the
    authority (e.g. ``lr`` must be > 0). Subclasses add their fields' bounds; see
    :func:`param_bounds`."""

    def __post_init__(self) -> None:
        validate_params(self)
        require(self, "epochs", self.epochs >= 1, "a positive integer")
        require(self, "lr", math.isfinite(self.lr) and self.lr > 0, "a positive number")
        require(self, "batch_size", self.batch_size >= 1, "a positive integer")
        require(self, "momentum", 0 <= self.momentum < 1, "a number in [0, 1)")
        require(
            self,
            "weight_decay",
            math.isfinite(self.weight_decay) and self.weight_decay >= 0,
            "a non-negative number",
        )


def param_bounds(params_cls: type) -> dict[str, Bounds]:
    """The (low, high) bounds declared by a ``Params`` class and its bases (``BOUNDS``).

    Example:
        >>> from analysis.unlearn.salun import SalUnParams
        >>> param_bounds(SalUnParams)["mask_share"], param_bounds(SalUnParams)["epochs"]
        ((0.0, 1.0), (1, None))
    """
    merged: dict[str, Bounds] = {}
    for klass in reversed(params_cls.__mro__):
        merged.update(getattr(klass, "__dict__", {}).get("BOUNDS", {}))
    return merged


def _build_params(cls: type[UnlearningMethod], params: Any, overrides: Mapping[str, Any]) -> Any:
    """``cls.Params`` from an optional instance plus keyword overrides, fully validated."""
    if params is not None and type(params) is not cls.Params:
        raise MethodError(
            describe(
                f"{cls.name} params",
                f"a {cls.Params.__name__} instance (exactly) or None",
                type(params).__name__,
                raw=True,
            )
        )
    accepted = [f.name for f in fields(cls.Params)]
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise MethodError(
            describe(
                f"{cls.name} hyperparameter {unknown[0]!r}",
                f"one of the accepted hyperparameters {accepted}",
                f"unknown {unknown}",
                raw=True,
            )
        )
    hints = typing.get_type_hints(cls.Params)
    for key, value in overrides.items():
        if key in hints and not _type_ok(value, hints[key]):
            raise MethodError(
                describe(f"{cls.name} hyperparameter {key!r}", _expected(hints[key]), value)
            )
    coerced = {k: float(v) if hints.get(k) is float else v for k, v in overrides.items()}
    built = replace(params, **coerced) if params is not None else cls.Params(**coerced)
    validate_params(built)
    return built


# --------------------------------------------------------------------------- the base class


class UnlearningMethod(abc.ABC):
    """Base class of every unlearning method.

    Subclasses set the class variables and implement :meth:`_unlearn`.

    Attributes:
        name: Registry key, e.g. ``"ga"``.
        display_name: Human-readable name, e.g. ``"Gradient Ascent"``.
        Params: Frozen dataclass type of the hyperparameters (every field with a default).
        params: This instance's hyperparameters.

    Args:
        params: A ``Params`` instance (``None``: the defaults).
        **overrides: Hyperparameters replacing fields of ``params``.

    Raises:
        MethodError: An unknown hyperparameter (the message lists the accepted ones), a value
            of the wrong type or out of range.

    Example:
        >>> get_method("ga")(lr=0.5).params.lr
        0.5
    """

    name: ClassVar[str]
    display_name: ClassVar[str]
    Params: ClassVar[type[Any]]

    def __init__(self, params: Any = None, **overrides: Any) -> None:
        self.params = _build_params(type(self), params, overrides)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    def run(
        self,
        model: nn.Module,
        forget: ArrayDataset,
        retain: ArrayDataset,
        *,
        seed: int = 0,
        device: str | torch.device = "auto",
        progress: ProgressCallback | None = None,
        epoch_hook: Callable[[int, nn.Module], Mapping[str, float]] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> UnlearningResult:
        """Apply the method to a copy of ``model``; the caller's model is never modified.

        Args:
            model: The original model.
            forget: The samples to forget (training samples of the original).
            retain: The remaining training samples.
            seed: Seeds torch's global RNG (inside a forked state) and the context's generator:
                the same seed gives bit-identical weights on the same machine and device.
            device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or a :class:`torch.device`.
            progress: Called after every optimiser step with a :class:`ProgressEvent`.
            epoch_hook: Called after every epoch with ``(epoch, working model)``; its values
                join the epoch's history row. Its time is not counted in ``seconds``.
            should_stop: Checked after every epoch (after ``epoch_hook``); True ends the run
                with the model as it is (a stopping rule such as "forget accuracy ≤ 5 %").

        Returns:
            The unlearned model (eval mode, on ``device``), the wall time of the method's
            whole work, the per-epoch history and the hyperparameters.

        Raises:
            ValidationError: Empty or mismatched datasets, a non-module model, a bad seed,
                device or progress callback.

        Example:
            >>> import torch
            >>> from analysis.data import ArrayDataset
            >>> ds = ArrayDataset(torch.randn(16, 3), torch.arange(16) % 2)
            >>> res = get_method("ft")(epochs=1).run(torch.nn.Linear(3, 2), ds, ds, device="cpu")
            >>> res.model.training, res.seconds > 0
            (False, True)
        """
        _validate_run(model, forget, retain, seed, progress)
        resolved = resolve_device(device)
        working = copy.deepcopy(model).to(resolved)
        hook_seconds = [0.0]

        def timed_hook(epoch: int) -> Mapping[str, float]:
            assert epoch_hook is not None
            start = time.perf_counter()
            try:
                return epoch_hook(epoch, working)
            finally:
                hook_seconds[0] += time.perf_counter() - start

        ctx = UnlearningContext(
            resolved,
            torch.Generator().manual_seed(seed),
            progress,
            seed,
            epoch_hook=timed_hook if epoch_hook is not None else None,
            stop=should_stop,
        )
        with seeded(seed, resolved):
            start = time.perf_counter()
            history = self._unlearn(working, forget, retain, ctx)
            synchronize(resolved)
            seconds = time.perf_counter() - start - hook_seconds[0]
        return UnlearningResult(
            working.eval(), seconds, tuple(dict(h) for h in history), asdict(self.params)
        )

    @abc.abstractmethod
    def _unlearn(
        self, model: nn.Module, forget: ArrayDataset, retain: ArrayDataset, ctx: UnlearningContext
    ) -> Sequence[Mapping[str, float]]:
        """Update ``model`` (already a private copy, on ``ctx.device``) in place.

        Returns:
            One dict of floats per epoch (at least ``epoch``).
        """


def _validate_run(
    model: object, forget: object, retain: object, seed: object, progress: object
) -> None:
    if not isinstance(model, nn.Module):
        raise ValidationError(
            describe("model", "a torch.nn.Module", type(model).__name__, raw=True)
        )
    for name, ds in (("forget", forget), ("retain", retain)):
        if not isinstance(ds, ArrayDataset):
            raise ValidationError(describe(name, "an ArrayDataset", type(ds).__name__, raw=True))
        if len(ds) == 0:
            raise ValidationError(describe(name, "a non-empty dataset", "0 samples", raw=True))
    assert isinstance(forget, ArrayDataset) and isinstance(retain, ArrayDataset)
    if forget.input_shape != retain.input_shape:
        raise ValidationError(
            describe(
                "forget, retain",
                "the same input shape",
                f"{forget.input_shape} and {retain.input_shape}",
                raw=True,
            )
        )
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValidationError(describe("seed", "an integer", seed))
    if progress is not None and not callable(progress):
        raise ValidationError(describe("progress", "a callable or None", progress))


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[UnlearningMethod]] = {}


def _check_method_class(obj: Any, source: str) -> type[UnlearningMethod]:
    if not (isinstance(obj, type) and issubclass(obj, UnlearningMethod)):
        raise MethodError(describe(source, "a subclass of UnlearningMethod", obj))
    missing = [a for a in ("name", "display_name", "Params") if not hasattr(obj, a)]
    if missing or getattr(obj, "__abstractmethods__", None):
        raise MethodError(
            describe(
                source,
                "a concrete method class with name, display_name, Params and _unlearn",
                f"{obj.__name__} lacking {missing or 'an _unlearn'}",
                raw=True,
            )
        )
    if not (isinstance(obj.name, str) and obj.name) or not is_dataclass(obj.Params):
        raise MethodError(
            describe(
                source,
                "a non-empty str name and a dataclass Params",
                f"name={obj.name!r}, Params={obj.Params!r}",
                raw=True,
            )
        )
    return obj


def register_method(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
    """Class decorator adding a method to the registry under ``cls.name``.

    Raises:
        MethodError: ``cls`` is not a concrete :class:`UnlearningMethod` or its name is taken by
            another class.

    Use it on the class definition (``@register_method`` above ``class MyMethod(...)``);
    registering the same class again is harmless.

    Example:
        >>> register_method(get_method("ga")).name
        'ga'
    """
    cls = _check_method_class(cls, "register_method")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and _origin(existing) != _origin(cls):
        raise MethodError(
            describe(
                f"method name {cls.name!r}",
                "a name not registered yet",
                f"already taken by {_qualified(existing)}",
                raw=True,
            )
        )
    _REGISTRY[cls.name] = cls
    return cls


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _origin(cls: type) -> tuple[str, str]:
    """Source file and qualified name: the same class re-imported under another module name
    (or reloaded) has the same origin and may register again."""
    module = sys.modules.get(cls.__module__)
    return str(getattr(module, "__file__", None) or cls.__module__), cls.__qualname__


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_methods() -> list[str]:
    """Registry keys and installed entry-point names, sorted.

    Example:
        >>> {"retrain", "ft", "ga", "rl", "scrub", "salun", "l1sparse"} <= set(available_methods())
        True
    """
    return sorted(set(_REGISTRY) | set(_entry_points()))


def get_method(name_or_path: str, *, workspace: str | Path | None = None) -> type[UnlearningMethod]:
    """The method class for a registry key, a ``module:Class`` path or an entry-point name.

    Registry keys and installed entry points are always available, and so are the built-in
    modules (``analysis.unlearn.ga:GradientAscent``). Any other ``module:Class`` resolves under
    the trust rules (:func:`analysis.trust.import_reference`): a ``.py`` file inside
    ``workspace`` or a package the user allowed; anything else is refused before import.

    Args:
        name_or_path: Registry key, ``module:Class`` or entry-point name.
        workspace: The workspace whose ``.py`` files a ``module:Class`` may name.

    Raises:
        MethodError: Unknown name (the message lists the available ones), a path that does
            not import, or an object that is not a concrete :class:`UnlearningMethod`.
        UntrustedCodeError: A ``module:Class`` outside the workspace and the allowed packages.

    Example:
        >>> get_method("ga").display_name
        'Gradient Ascent'
        >>> get_method("analysis.unlearn.ga:GradientAscent").name
        'ga'
    """
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise MethodError(describe("method", "a non-empty method name", name_or_path))
    name = name_or_path.strip()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        policy = current_policy()
        builtin = dataclasses.replace(policy, allow_code=(*policy.allow_code, "analysis.unlearn"))
        try:
            obj = import_reference(name, argument="method", workspace=workspace, policy=builtin)
        except ValidationError as exc:  # import failure; UntrustedCodeError passes unchanged
            raise MethodError(str(exc)) from exc
        return _check_method_class(obj, f"method {name!r}")
    entry = _entry_points().get(name)
    if entry is None:
        raise MethodError(
            describe(
                "method",
                f"one of {available_methods()}, a 'module:Class' path or an "
                f"entry point in group {ENTRY_POINT_GROUP!r}",
                name,
            )
        )
    try:
        obj = entry.load()
    except Exception as exc:  # any import-time failure of a third-party plug-in
        raise MethodError(
            describe(
                f"method entry point {name!r}",
                "a loadable object",
                f"{entry.value} ({type(exc).__name__}: {exc})",
                raw=True,
            )
        ) from exc
    return _check_method_class(obj, f"method entry point {name!r}")


def make_method(
    name: str, params: Mapping[str, Any] | None = None, *, workspace: str | Path | None = None
) -> UnlearningMethod:
    """Instantiate a method by name (see :func:`get_method`) with hyperparameter overrides.

    Raises:
        MethodError: Unknown method, unknown hyperparameter or a bad value.
        UntrustedCodeError: A ``module:Class`` outside the workspace and the allowed packages.

    Example:
        >>> make_method("scrub", {"alpha": 0.5}).params.alpha
        0.5
    """
    if params is not None and not (
        isinstance(params, Mapping) and all(isinstance(k, str) for k in params)
    ):
        raise MethodError(describe("params", "a mapping of hyperparameter names to values", params))
    return get_method(name, workspace=workspace)(**dict(params or {}))
