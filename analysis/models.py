"""Architectures, safe weight loading and layer discovery.

Architectures come from a registry (``smallcnn``, ``resnet18_cifar``, ``mlp``, torchvision names
when torchvision is installed) or a ``module:function`` path. Weights load from ``.safetensors``,
or from ``.pt`` / ``.pth`` through ``torch.load(weights_only=True)`` only: a pickle that would run
code is refused before anything executes.

Example:
    >>> model = build_model("mlp", num_classes=3, input_shape=(4,))
    >>> model(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import inspect
import io
import math
import os
import pickle
import pickletools
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from analysis.errors import UnsafeFileError, ValidationError, WeightsError, describe
from analysis.trust import check_budget, import_reference

__all__ = [
    "MLP",
    "SmallCNN",
    "available_architectures",
    "build_model",
    "classifier_layer",
    "discover_layers",
    "find_classifier",
    "load_weights_into",
    "read_weights",
    "register_architecture",
    "save_weights",
    "torchvision_models",
]

ModelFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelFactory] = {}


def register_architecture(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Register a model factory ``f(num_classes, input_shape, **params) -> nn.Module``.

    Example:
        >>> @register_architecture("tiny_linear")
        ... def _tiny(num_classes, input_shape):
        ...     return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))
        >>> "tiny_linear" in available_architectures()
        True
    """

    def decorator(factory: ModelFactory) -> ModelFactory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def available_architectures() -> list[str]:
    """Names accepted by :func:`build_model` (besides ``module:function`` paths).

    ``torchvision:NAME`` entries are listed when a torchvision that works beside the installed
    torch imports (see :func:`torchvision_models`).
    """
    names = sorted(_REGISTRY)
    try:
        tvm = torchvision_models()
    except ValidationError:
        return names
    return names + [f"torchvision:{n}" for n in tvm.list_models(module=tvm)]


_TORCHVISION_HINT = (
    "a torchvision built for the installed torch {torch} (optional extra 'cifar'; PyPI's Linux "
    "torchvision wheels are CUDA builds and do not import beside a CPU-only torch: install the "
    "matching CPU wheel from PyTorch's own index, or use a registry architecture)"
)


def torchvision_models() -> Any:
    """``torchvision.models``, or a clear error when torchvision is missing or broken.

    Raises:
        ValidationError: torchvision is not installed, or it does not import beside this torch
            (e.g. ``operator torchvision::nms does not exist``: a build for another torch).
    """
    try:
        import torchvision.models as tvm
    except ImportError as exc:
        raise ValidationError(
            describe(
                "architecture 'torchvision:NAME'",
                _TORCHVISION_HINT.format(torch=torch.__version__),
                f"no torchvision ({exc})",
                raw=True,
            )
        ) from exc
    except (RuntimeError, OSError, AttributeError) as exc:  # compiled ops of another torch
        raise ValidationError(
            describe(
                "architecture 'torchvision:NAME'",
                _TORCHVISION_HINT.format(torch=torch.__version__),
                f"a torchvision that fails to import ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})",
                raw=True,
            )
        ) from exc
    return tvm


# --------------------------------------------------------------------------- architectures


class SmallCNN(nn.Module):
    """A small CNN for low-resolution images (the digits sample: 1×8×8).

    Three conv blocks (the last two halve the resolution), a hidden dense layer (the penultimate
    features) and a linear classifier.
    """

    ulens_layers = ("block1", "block2", "block3", "fc1", "fc2")

    def __init__(
        self, num_classes: int, input_shape: Sequence[int], *, width: int = 16, hidden: int = 64
    ) -> None:
        super().__init__()
        width, hidden = (
            _positive("smallcnn", "width", width),
            _positive("smallcnn", "hidden", hidden),
        )
        channels, height, width_px = _image_shape(input_shape, "smallcnn")
        self.block1 = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU())
        self.block2 = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.block3 = nn.Sequential(
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        flat = 4 * width * (height // 4) * (width_px // 4)
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU())
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(self.block3(self.block2(self.block1(x)))))


class MLP(nn.Module):
    """A multi-layer perceptron over flattened inputs."""

    def __init__(
        self, num_classes: int, input_shape: Sequence[int], *, hidden: Sequence[int] = (256, 128)
    ) -> None:
        super().__init__()
        if isinstance(hidden, str | bytes) or not isinstance(hidden, Sequence):
            raise ValidationError(
                describe("mlp params.hidden", "a list of positive layer widths", hidden)
            )
        hidden = [_positive("mlp", "hidden", h) for h in hidden]
        layers: list[nn.Module] = []
        width = math.prod(input_shape)
        for i, h in enumerate(hidden):
            layers.append(nn.Sequential(nn.Linear(width, int(h)), nn.ReLU()))
            self.add_module(f"hidden{i + 1}", layers[-1])
            width = int(h)
        self.out = nn.Linear(width, num_classes)
        self.ulens_layers = (*(f"hidden{i + 1}" for i in range(len(hidden))), "out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for name in self.ulens_layers[:-1]:
            h = getattr(self, name)(h)
        return self.out(h)


class _BasicBlock(nn.Module):
    def __init__(self, inp: int, out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet18CIFAR(nn.Module):
    """CIFAR-style ResNet-18: 3×3 stem, no max-pool, four stages of two basic blocks."""

    def __init__(self, num_classes: int, input_shape: Sequence[int], *, width: int = 64) -> None:
        super().__init__()
        width = _positive("resnet18_cifar", "width", width)
        channels, _, _ = _image_shape(input_shape, "resnet18_cifar")
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, inp = [], width
        for i, mult in enumerate((1, 2, 4, 8)):
            stride = 1 if i == 0 else 2
            stages.append(
                nn.Sequential(
                    _BasicBlock(inp, width * mult, stride),
                    _BasicBlock(width * mult, width * mult, 1),
                )
            )
            inp = width * mult
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inp, num_classes)
        blocks = (f"layer{s}.{b}" for s in range(1, 5) for b in range(2))
        self.ulens_layers = ("conv1", *blocks, "fc")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(torch.flatten(self.pool(h), 1))


def _image_shape(input_shape: Sequence[int], arch: str) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValidationError(
            describe(f"{arch} input_shape", "(channels, height, width)", tuple(input_shape))
        )
    c, h, w = (int(v) for v in input_shape)
    return c, h, w


def _positive(arch: str, name: str, value: Any) -> int:
    """A layer width from ``[architecture.params]``: a positive integer (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(describe(f"{arch} params.{name}", "a positive integer", value))
    return value


register_architecture("smallcnn")(SmallCNN)
register_architecture("mlp")(MLP)
register_architecture("resnet18_cifar")(ResNet18CIFAR)


def build_model(
    architecture: str,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    params: Mapping[str, Any] | None = None,
    workspace: str | Path | None = None,
) -> nn.Module:
    """Instantiate an architecture by registry name, ``torchvision:NAME`` or ``module:function``.

    A ``module:function`` resolves under the trust rules (:func:`analysis.trust.import_reference`):
    a ``.py`` file inside ``workspace`` or a package the user allowed. A registry or torchvision
    model is first built on the ``meta`` device (no memory) to check its size against the memory
    budget (:attr:`analysis.trust.TrustPolicy.max_bytes`).

    Args:
        architecture: Registry name, ``torchvision:resnet18`` style name, or import path.
        num_classes: Number of output classes.
        input_shape: Shape of one input, e.g. ``(1, 8, 8)``.
        params: Extra keyword arguments for the factory.
        workspace: The workspace whose ``.py`` files a ``module:function`` may name.

    Returns:
        The model, freshly initialised, in eval mode.

    Raises:
        ValidationError: Unknown architecture, or the factory rejected the arguments (the
            message names the architecture and its params).
        UntrustedCodeError: A ``module:function`` outside the workspace and allowed packages.
        ResourceLimitError: The model's parameters would exceed the memory budget.

    Example:
        >>> build_model("smallcnn", num_classes=10, input_shape=(1, 8, 8)).fc2.out_features
        10
    """
    if not isinstance(architecture, str) or not architecture:
        raise ValidationError(describe("architecture", "a non-empty name", architecture))
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValidationError(describe("num_classes", "a positive integer", num_classes))
    factory = _resolve_factory(architecture, workspace)
    kwargs = dict(params or {})
    if architecture in _REGISTRY or architecture.startswith("torchvision:"):
        _check_size(architecture, factory, num_classes, tuple(input_shape), kwargs)
    model = _instantiate(architecture, factory, num_classes, tuple(input_shape), kwargs)
    if not isinstance(model, nn.Module):
        raise ValidationError(
            describe(
                architecture, "a factory returning torch.nn.Module", type(model).__name__, raw=True
            )
        )
    return model.eval()


def _instantiate(
    architecture: str,
    factory: ModelFactory,
    num_classes: int,
    input_shape: tuple[int, ...],
    kwargs: dict[str, Any],
) -> Any:
    try:
        if architecture.startswith("torchvision:"):
            return factory(weights=None, num_classes=num_classes, **kwargs)
        return _call_factory(factory, num_classes, input_shape, kwargs)
    except ValidationError:
        raise
    except Exception as exc:  # a factory rejecting its params (TypeError, negative sizes...)
        raise ValidationError(
            describe(
                f"architecture {architecture!r} params",
                "arguments the factory accepts",
                f"{kwargs} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                raw=True,
            )
        ) from exc


def _check_size(
    architecture: str,
    factory: ModelFactory,
    num_classes: int,
    input_shape: tuple[int, ...],
    kwargs: dict[str, Any],
) -> None:
    """Build on the meta device (no memory) and refuse a model over the memory budget."""
    try:
        with torch.device("meta"):
            probe = _instantiate(architecture, factory, num_classes, input_shape, kwargs)
    except ValidationError:
        return  # bad params: the real build below reports them
    if isinstance(probe, nn.Module):
        size = sum(t.numel() * t.element_size() for t in (*probe.parameters(), *probe.buffers()))
        check_budget(
            size,
            argument=f"architecture {architecture!r} params",
            what=f"model parameters {dict(kwargs)}",
        )


def _resolve_factory(architecture: str, workspace: str | Path | None = None) -> ModelFactory:
    if architecture in _REGISTRY:
        return _REGISTRY[architecture]
    if architecture.startswith("torchvision:"):
        tvm = torchvision_models()
        name = architecture.split(":", 1)[1]
        if name not in tvm.list_models(module=tvm):
            raise ValidationError(
                describe("architecture", "a torchvision classification model", architecture)
            )
        return lambda **kw: tvm.get_model(name, **kw)
    if ":" in architecture:
        factory: ModelFactory = import_reference(
            architecture, argument="architecture", workspace=workspace
        )
        if not callable(factory):
            raise ValidationError(describe("architecture", "a callable factory", architecture))
        return factory
    raise ValidationError(
        describe(
            "architecture",
            f"one of {sorted(_REGISTRY)}, 'torchvision:NAME' or 'module:function'",
            architecture,
        )
    )


def _call_factory(
    factory: ModelFactory, num_classes: int, input_shape: tuple[int, ...], kwargs: dict[str, Any]
) -> nn.Module:
    accepted: Mapping[str, inspect.Parameter]
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepted = {}
    if "input_shape" in accepted or not accepted:
        return factory(num_classes, input_shape, **kwargs)
    return factory(num_classes=num_classes, **kwargs)


# --------------------------------------------------------------------------- weights


def read_weights(path: str | Path, *, name: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or (restricted) ``.pt`` / ``.pth``.

    A ``.pt`` file is read with ``torch.load(weights_only=True)``: tensors and plain containers
    only. Files that need arbitrary unpickling are refused with :class:`UnsafeFileError` and
    nothing in them runs; a file that is neither a torch zip archive nor a pickle stream (a
    text file renamed ``.pt``, random bytes) is a :class:`WeightsError`, not "unsafe".
    Checkpoints that wrap the state dict under ``state_dict`` or ``model_state_dict`` are
    unwrapped.

    Args:
        path: The weights file.
        name: How messages name the file (e.g. ``"models.ga.file 'models/ga.pt'"``); default
            ``"weights file <path>"``.

    Raises:
        WeightsError: Missing, truncated or malformed file, non-tensor entries, NaN/Inf values.
        UnsafeFileError: A pickle that references Python objects (refused unread).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> save_weights(nn.Linear(2, 1), p)
        >>> sorted(read_weights(p))
        ['bias', 'weight']
    """
    path = Path(path)
    label = name or f"weights file {path}"
    if not path.is_file():
        raise WeightsError(
            describe(label, "an existing file", "none (missing or a folder)", raw=True)
        )
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        state = _read_safetensors(path, label)
    elif suffix in (".pt", ".pth"):
        state = _read_torch(path, label)
    else:
        raise WeightsError(
            describe(label, "a .safetensors, .pt or .pth file", suffix or "no extension")
        )
    _check_finite(state, label)
    return state


def _reason(exc: BaseException, path: Path) -> str:
    """An exception's text without the file's absolute path."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    first = (text or type(exc).__name__).strip().splitlines()[0]
    return first.replace(str(path), path.name)


def _read_safetensors(path: Path, label: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path), device="cpu"))
    except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as exc:
        raise WeightsError(
            describe(
                label,
                "a complete, valid safetensors file",
                f"an unreadable file ({_reason(exc, path)})",
                raw=True,
            )
        ) from exc


_ZIP_MAGIC = b"PK\x03\x04"


def _read_torch(path: Path, label: str) -> dict[str, torch.Tensor]:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise WeightsError(
            describe(label, "a readable file", _reason(exc, path), raw=True)
        ) from exc
    if not (head.startswith(_ZIP_MAGIC) or head[:1] == b"\x80"):
        raise WeightsError(
            describe(
                label,
                "a torch checkpoint (a zip archive or a pickle stream)",
                "a file that is neither (text or random bytes?)",
                raw=True,
            )
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        globals_named = [ln for ln in str(exc).splitlines() if "global" in ln.lower()]
        if not globals_named and not _references_objects(path):
            raise WeightsError(
                describe(
                    label,
                    "a complete torch checkpoint",
                    f"a corrupt pickle stream ({_unpickling_detail(exc)})",
                    raw=True,
                )
            ) from exc
        detail = globals_named[0].strip() if globals_named else _unpickling_detail(exc)
        raise UnsafeFileError(
            describe(
                label,
                "tensors only (torch.load weights_only=True)",
                "a pickle that references Python objects; refused and not executed. Convert it to "
                f".safetensors in a trusted environment ({detail})",
                raw=True,
            )
        ) from exc
    except Exception as exc:  # weights_only never runs code: any failure is a corrupt file
        raise WeightsError(
            describe(
                label,
                "a complete torch checkpoint",
                f"an unreadable file ({type(exc).__name__}: {_reason(exc, path)})",
                raw=True,
            )
        ) from exc
    for key in ("state_dict", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(describe(label, "a state dict of tensors", type(obj).__name__, raw=True))
    return {str(k): v for k, v in obj.items()}


_OBJECT_OPCODES = frozenset(
    {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"}
)


def _references_objects(path: Path) -> bool:
    """Whether a pickle stream in ``path`` (or in a torch zip's ``data.pkl``) imports objects.

    The opcodes are only parsed (``pickletools.genops``), never executed; a stream that does
    not parse is corrupt, not unsafe.
    """
    try:
        data = path.read_bytes()
        if data.startswith(_ZIP_MAGIC):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
                data = archive.read(pkl[0]) if pkl else b""
    except (OSError, zipfile.BadZipFile, KeyError):
        return False
    stream, found = io.BytesIO(data), False
    while stream.tell() < len(data):  # a legacy checkpoint is several pickles in a row
        try:
            names = {op.name for op, _, _ in pickletools.genops(stream)}
        except Exception:  # not (or no longer) a pickle: raw storage bytes or garbage
            break
        found = found or bool(names & _OBJECT_OPCODES)
    return found


def _unpickling_detail(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [
        ln
        for ln in lines
        if not ln.startswith(("Weights only load failed", "Please file", "Check the doc"))
    ]
    return (useful or lines or [type(exc).__name__])[0][:200]


def _check_finite(state: Mapping[str, torch.Tensor], label: str) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(describe(label, "finite values", f"NaN/Inf in {bad[:5]}", raw=True))


def load_weights_into(
    model: nn.Module,
    path: str | Path,
    *,
    num_classes: int | None = None,
    name: str | None = None,
) -> nn.Module:
    """Load ``path`` into ``model`` strictly, explaining every mismatch.

    Integer or boolean tensors for floating-point parameters or buffers are refused (torch
    would cast them silently: an int64 ``weight`` is a corrupt or quantised file, not weights
    this model can use); floating-point tensors of another precision are cast.

    Args:
        model: The freshly built model.
        path: The weights file.
        num_classes: The dataset's class count, to name a classifier-size mismatch as such.
        name: How messages name the file (see :func:`read_weights`).

    Raises:
        WeightsError: Missing or unexpected keys, shape or dtype differences or a class-count
            mismatch; the message names the file and lists them.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        >>> save_weights(nn.Linear(2, 1), p)
        >>> load_weights_into(nn.Linear(2, 1), p).weight.shape
        torch.Size([1, 2])
    """
    label = name or f"weights file {path}"
    state = read_weights(path, name=label)
    expected = model.state_dict()
    _check_class_count(model, state, num_classes, label)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
        for k in expected
        if k in state and expected[k].shape != state[k].shape
    ]
    dtypes = [
        f"{k}: expected {expected[k].dtype}, found {state[k].dtype}"
        for k in expected
        if k in state and expected[k].is_floating_point() and not state[k].is_floating_point()
    ]
    if missing or unexpected or shapes or dtypes:
        parts = [
            f"missing keys {missing[:8]}" if missing else "",
            f"unexpected keys {unexpected[:8]}" if unexpected else "",
            f"shape differences [{'; '.join(shapes[:8])}]" if shapes else "",
            f"non-float tensors for float parameters, refused [{'; '.join(dtypes[:8])}]"
            if dtypes
            else "",
        ]
        raise WeightsError(
            describe(
                label,
                f"the state dict of {type(model).__name__}",
                ", ".join(p for p in parts if p),
                raw=True,
            )
        )
    model.load_state_dict(state, strict=True)
    return model


def _check_class_count(
    model: nn.Module, state: Mapping[str, torch.Tensor], num_classes: int | None, label: str
) -> None:
    head = find_classifier(model)
    if num_classes is None or head is None:
        return
    name, _ = head
    weight = state.get(f"{name}.weight")
    if weight is not None and weight.ndim >= 2 and weight.shape[0] != num_classes:
        raise WeightsError(
            describe(
                label,
                f"a classifier with {num_classes} outputs (the dataset's classes)",
                f"{weight.shape[0]} outputs in {name}.weight",
                raw=True,
            )
        )


def save_weights(
    model: nn.Module, path: str | Path, *, metadata: Mapping[str, str] | None = None
) -> None:
    """Save ``model``'s state dict as ``.safetensors`` atomically (temp file + rename).

    Example:
        >>> import tempfile, os
        >>> save_weights(nn.Linear(2, 1), os.path.join(tempfile.mkdtemp(), "w.safetensors"))
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValidationError(describe("path", "a .safetensors file name", str(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=dict(metadata or {}))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- layers


_SKIP = (
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Dropout,
    nn.Flatten,
    nn.Identity,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
)


_HEADS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def find_classifier(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The classifier head: the last ``nn.Linear`` or convolution of ``model``, or None.

    A convolutional head (e.g. SqueezeNet's 1×1 convolution followed by global pooling) counts:
    its input, averaged over the spatial axes, is the penultimate feature vector.

    Example:
        >>> find_classifier(nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(1)))[0]
        '0'
        >>> find_classifier(nn.Sequential(nn.Flatten(), nn.Softmax(dim=1))) is None
        True
    """
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, _HEADS)]
    return found[-1] if found else None


def classifier_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """The classifier head of ``model`` (see :func:`find_classifier`); its input is the
    penultimate feature vector (spatially averaged for a convolutional head).

    Raises:
        ValidationError: The model has no ``nn.Linear`` and no convolution.

    Example:
        >>> classifier_layer(build_model("mlp", num_classes=2, input_shape=(3,)))[0]
        'out'
    """
    head = find_classifier(model)
    if head is None:
        raise ValidationError(
            describe(
                "model",
                "a classifier ending in nn.Linear or a convolution (for penultimate features)",
                type(model).__name__,
                raw=True,
            )
        )
    return head


def discover_layers(model: nn.Module, *, max_layers: int = 12) -> list[str]:
    """Names of the blocks whose outputs the layer views compare.

    Uses ``model.ulens_layers`` when the model declares it; otherwise the top-level children,
    with ``nn.Sequential`` / ``nn.ModuleList`` stages expanded one level, activation-only and
    parameter-free modules skipped, thinned evenly to ``max_layers`` keeping the first and last.

    Raises:
        ValidationError: ``max_layers`` is not an integer >= 2.

    Example:
        >>> net = build_model("resnet18_cifar", num_classes=10, input_shape=(3, 32, 32))
        >>> discover_layers(net)[:3]
        ['conv1', 'layer1.0', 'layer1.1']
    """
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 2:
        raise ValidationError(
            describe("max_layers", "an integer >= 2 (first and last layers are kept)", max_layers)
        )
    declared = getattr(model, "ulens_layers", None)
    names = list(declared) if declared else _default_layers(model)
    if len(names) <= max_layers:
        return names
    picks = sorted({round(i * (len(names) - 1) / (max_layers - 1)) for i in range(max_layers)})
    return [names[i] for i in picks]


def _is_layer(module: nn.Module) -> bool:
    """A module worth comparing: it has parameters and is not an activation, norm or pool."""
    return not isinstance(module, _SKIP) and any(True for _ in module.parameters())


def _default_layers(model: nn.Module) -> list[str]:
    """Top-level layers; ``Sequential`` stages of several layers and ``ModuleList``s expanded."""
    names: list[str] = []
    for name, child in model.named_children():
        inner = [f"{name}.{sub}" for sub, c in child.named_children() if _is_layer(c)]
        if isinstance(child, nn.ModuleList) or (
            isinstance(child, nn.Sequential) and len(inner) > 1
        ):
            names += inner  # a ModuleList is never called itself: use its members
        elif _is_layer(child):
            names.append(name)
    return names
