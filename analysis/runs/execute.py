"""Executing one run: a pure function of the workspace and a resolved job.

:func:`run_job` loads the experiment, builds the run's data (all training samples, the retain
set, or a seeded random half), trains or unlearns with the job's seed, evaluates every
``eval_every`` epochs (:class:`Evaluator`), and writes its files atomically (temporary file in
the same folder, then :func:`os.replace`), so a crash never leaves a half-written file under a
final name. Same job and seed → bit-identical weights and metrics on one machine and device,
whichever process or executor runs it (workers fix ``torch.set_num_threads``).

Per-epoch values (``UA``, ``RA``, ``TUA``, ``TRA``, ``PS``; DESIGN §3):

* original / retrain / unlearned runs: the scenario's UA/RA/TUA/TRA (TUA is None for random
  forgetting) and PS against the scenario's retrain model (None when there is none, or for
  the retrain run itself);
* a job with a ``manipulation`` (corrective studies) sees the manipulated training split
  everywhere (training, forget/retain sets, evaluation); the test split stays clean;
* reference / shadow runs (trained on a random half): ``UA`` = accuracy on the run's forget
  subset (None for references), ``RA`` = accuracy on the samples it was trained on / kept,
  ``TRA`` = test accuracy, ``TUA`` and ``PS`` None.

Example:
    >>> import shutil, tempfile
    >>> from analysis.runs.jobs import UnlearnJob
    >>> ws = shutil.copytree("sample_data/digits", tempfile.mkdtemp() + "/ws")
    >>> job = UnlearnJob("ga", params={"epochs": 1}, name="ga_demo", scenario="classwise")
    >>> out = run_job(ws, job, device="cpu")
    >>> sorted(out.metrics), out.history[-1]["epoch"]
    (['PS', 'RA', 'TRA', 'TUA', 'UA'], 1)
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from analysis.data import ArrayDataset, DatasetBundle
from analysis.device import resolve_device
from analysis.errors import ValidationError, describe
from analysis.experiment import Experiment, load_experiment
from analysis.metrics import accuracy_metrics
from analysis.models import load_weights_into
from analysis.runs.jobs import RunJob, Subset, TrainJob, UnlearnJob
from analysis.training import ProgressEvent, TrainConfig, predict_logits, seeded, train_model
from analysis.trust import confine

__all__ = [
    "RUNS_FOLDER",
    "Evaluator",
    "ProgressSink",
    "RunCancelled",
    "RunOutput",
    "output_paths",
    "run_job",
    "subset_masks",
]

RUNS_FOLDER = "models/runs"
"""Where runs write their files (relative to the workspace)."""
METRICS = ("UA", "RA", "TUA", "TRA", "PS")


class RunCancelled(Exception):
    """Raised by a progress sink to stop a run whose cancellation was requested."""


class ProgressSink(Protocol):
    """Receives a run's progress; any method may raise :class:`RunCancelled`."""

    def stage(self, name: str) -> None:
        """The run entered a stage (``loading``, ``training``, ``unlearning``, ``saving``)."""

    def step(self, event: ProgressEvent) -> None:
        """One optimiser step."""

    def epoch(self, row: Mapping[str, Any]) -> None:
        """An evaluated epoch's history row."""


@dataclass(frozen=True)
class RunOutput:
    """What a finished run produced.

    Attributes:
        files: Absolute paths written (weights, history, masks).
        metrics: Final UA/RA/TUA/TRA/PS (None where undefined).
        history: Per-epoch rows (``epoch``, ``loss``, method values, evaluated metrics).
        rt: Wall time of the training or method in seconds (evaluation excluded).
        stopped_early: Whether the stopping rule ended the run.
    """

    files: tuple[Path, ...]
    metrics: Mapping[str, float | None]
    history: tuple[Mapping[str, Any], ...]
    rt: float
    stopped_early: bool = False


def output_paths(job: RunJob) -> dict[str, str | None]:
    """Workspace-relative files of a named job: ``file``, ``history``, ``members``, ``forget_mask``.

    Example:
        >>> output_paths(UnlearnJob("ga", name="ga_1"))["file"]
        'models/runs/ga_1.safetensors'
    """
    if job.name is None:
        raise ValidationError(describe("job.name", "a resolved model name", None))
    stem = f"{RUNS_FOLDER}/{job.name}"
    file = job.file if isinstance(job, TrainJob) and job.file else f"{stem}.safetensors"
    subset = job.subset
    return {
        "file": file,
        "history": f"{stem}.history.json",
        "members": f"{stem}.members.npy" if subset is not None else None,
        "forget_mask": f"{stem}.forget_mask.npy"
        if subset is not None and subset.scenario is not None
        else None,
    }


def subset_masks(
    n: int, subset: Subset, forget_indices: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``members`` (a random half, ``n // 2`` samples) and ``forget = members ∩ F`` masks.

    The half is drawn by ``numpy.random.default_rng([subset.seed, subset.index])``.

    Example:
        >>> m, f = subset_masks(10, Subset(0, 1), np.array([0, 1, 2]))
        >>> int(m.sum()), bool((f <= m).all())
        (5, True)
    """
    rng = np.random.default_rng([subset.seed, subset.index])
    members = np.zeros(n, dtype=bool)
    members[rng.permutation(n)[: n // 2]] = True
    forget = np.zeros(n, dtype=bool)
    if forget_indices is not None:
        forget[np.asarray(forget_indices, dtype=np.int64)] = True
    return members, members & forget


def _subset_seed(subset: Subset) -> int:
    """The training seed of a subset model (derived from ``(seed, index)``)."""
    return int(np.random.default_rng([subset.seed, subset.index, 1]).integers(2**31 - 1))


# --------------------------------------------------------------------------- evaluation


def _none_if_nan(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Evaluator:
    """UA / RA / TUA / TRA / PS of a model during a run (one batched pass per evaluation).

    Args:
        exp: The experiment, bound to the run's scenario.
        device: Where to evaluate.
        subset_masks: ``(trained_on, forget)`` masks of a reference/shadow run, else None.
        retrain: The retrain model for PS (None: PS is not computed).
    """

    def __init__(
        self,
        exp: Experiment,
        *,
        device: torch.device,
        subset_masks: tuple[np.ndarray, np.ndarray] | None = None,
        retrain: nn.Module | None = None,
    ) -> None:
        self.exp = exp
        self.device = device
        self.masks = subset_masks
        self.train = exp.dataset("train")
        self.test = exp.dataset("test")
        self.retrain_forget: np.ndarray | None = None
        if retrain is not None and len(exp.forget_indices):
            forget = self.train.subset(exp.forget_indices)
            self.retrain_forget = predict_logits(retrain, forget, device=device).numpy()

    def __call__(self, model: nn.Module) -> dict[str, float | None]:
        """The metrics of ``model`` now (its train/eval mode is restored)."""
        train_logits = predict_logits(model, self.train, device=self.device).numpy()
        test_logits = predict_logits(model, self.test, device=self.device).numpy()
        if not (np.isfinite(train_logits).all() and np.isfinite(test_logits).all()):
            raise ValidationError(
                describe(
                    "run",
                    "finite model outputs (the run diverged: try a smaller lr)",
                    "non-finite logits",
                    raw=True,
                )
            )
        if self.masks is not None:
            return self._subset_metrics(train_logits, test_logits)
        acc = accuracy_metrics(
            train_logits.argmax(1),
            self.train.targets,
            test_logits.argmax(1),
            self.test.targets,
            forget_indices=self.exp.forget_indices,
            forget_classes=self.exp.forget_classes,
            num_classes=self.exp.num_classes,
        )
        ps = None
        if self.retrain_forget is not None:
            from analysis.mia import privacy_score

            ps = privacy_score(train_logits[self.exp.forget_indices], self.retrain_forget).ps
        return {
            "UA": _none_if_nan(acc.ua),
            "RA": _none_if_nan(acc.ra),
            "TUA": _none_if_nan(acc.tua),
            "TRA": _none_if_nan(acc.tra),
            "PS": _none_if_nan(ps),
        }

    def _subset_metrics(
        self, train_logits: np.ndarray, test_logits: np.ndarray
    ) -> dict[str, float | None]:
        assert self.masks is not None
        kept, forget = self.masks
        correct = train_logits.argmax(1) == self.train.targets

        def share(mask: np.ndarray) -> float | None:
            return float(correct[mask].mean()) if mask.any() else None

        test_acc = float((test_logits.argmax(1) == self.test.targets).mean())
        return {"UA": share(forget), "RA": share(kept), "TUA": None, "TRA": test_acc, "PS": None}


# --------------------------------------------------------------------------- the run


_DATA: dict[tuple[str, str], DatasetBundle] = {}


def _experiment(workspace: str | Path, scenario: str | None) -> Experiment:
    """The experiment of the run; the dataset is loaded once per process and workspace."""
    exp = load_experiment(workspace, scenario=scenario)
    key = (str(exp.root), json.dumps(dict(exp.spec.dataset), sort_keys=True, default=str))
    if key not in _DATA:
        _DATA.clear()  # one dataset per process at a time
        _DATA[key] = exp.data
    exp.__dict__["data"] = _DATA[key]
    return exp


def _load_model(exp: Experiment, name: str, device: torch.device) -> nn.Module:
    entry = exp.spec.models.get(name)
    if entry is None:
        raise ValidationError(describe("base", f"a model among {sorted(exp.spec.models)}", name))
    model = exp.build(entry.architecture)
    load_weights_into(model, entry.file, num_classes=exp.num_classes)
    return model.to(device).eval()


_WARM: set[tuple[str, str]] = set()


def _warm_up(model: nn.Module, data: ArrayDataset, device: torch.device, key: str) -> None:
    """One optimiser step on a copy, once per process, architecture and device: torch
    initialises lazily (seconds on the first backward and the first optimiser, which imports
    ``torch._dynamo``), which must not count in a run's RT."""
    if (key, str(device)) in _WARM or len(data) < 2:
        return
    with torch.random.fork_rng(devices=[]):
        clone = copy.deepcopy(model).to(device).train()
        x, y = data.x[:2].to(device), data.y[:2].to(device)
        optimizer = torch.optim.SGD(clone.parameters(), lr=0.0)  # imports torch._dynamo
        torch.nn.functional.cross_entropy(clone(x), y).backward()
        torch.nn.utils.clip_grad_norm_(clone.parameters(), 1.0)
        optimizer.step()
    _WARM.add((key, str(device)))


class _NullSink:
    def stage(self, name: str) -> None:
        pass

    def step(self, event: ProgressEvent) -> None:
        pass

    def epoch(self, row: Mapping[str, Any]) -> None:
        pass


@dataclass
class _EpochRecorder:
    """Builds the per-epoch hook: evaluates every ``every`` epochs and applies the stop rule."""

    evaluate: Evaluator
    every: int
    sink: ProgressSink
    stop_at_ua: float | None = None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_ua: float | None = None
    stopped: bool = False
    seconds: float = 0.0

    def __call__(self, epoch: int, model: nn.Module) -> dict[str, float]:
        cadence = self.every or (1 if self.stop_at_ua is not None else 0)
        if cadence == 0 or epoch % cadence:
            return {}
        start = time.perf_counter()
        values = self.evaluate(model)
        self.seconds += time.perf_counter() - start
        self.last_ua = values["UA"]
        row = {"epoch": epoch, **values}
        self.rows[epoch] = row
        self.sink.epoch(row)
        return {k: v for k, v in values.items() if v is not None}

    def should_stop(self) -> bool:
        hit = self.stop_at_ua is not None and self.last_ua is not None
        self.stopped = hit and self.last_ua <= self.stop_at_ua  # type: ignore[operator]
        return self.stopped


def run_job(
    workspace: str | Path,
    job: RunJob,
    *,
    device: str | torch.device = "auto",
    sink: ProgressSink | None = None,
) -> RunOutput:
    """Execute one resolved job and write its files (see the module docstring).

    Args:
        workspace: The workspace folder.
        job: A :class:`TrainJob` or :class:`UnlearnJob` with its ``name`` resolved (as stored
            in the registry by :func:`analysis.runs.submit`).
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``.
        sink: Progress receiver; raising :class:`RunCancelled` from it stops the run before
            anything is written.

    Returns:
        The produced files, final metrics, history and run time.

    Raises:
        RunCancelled: The sink asked to stop (nothing written).
        UlensError: Bad job for this workspace (unknown base, scenario, empty subset...).
    """
    sink = sink or _NullSink()
    sink.stage("loading")
    resolved = resolve_device(device)
    exp = _experiment(workspace, job.scenario)
    if job.manipulation is not None:
        _manipulate(exp, job.manipulation)
    paths = {
        k: None if v is None else confine(v, exp.root, argument=f"job.{k}")
        for k, v in output_paths(job).items()
    }
    masks = None
    if job.subset is not None:
        scenario_forget = exp.forget_indices if job.subset.scenario is not None else None
        masks = subset_masks(len(exp.dataset("train")), job.subset, scenario_forget)
    if isinstance(job, TrainJob):
        model, history, rt, stopped, metrics = _train(exp, job, masks, resolved, sink)
    else:
        model, history, rt, stopped, metrics = _unlearn(exp, job, masks, resolved, sink)
    _check_finite(model, job)
    sink.stage("saving")
    files = _write_outputs(model, paths, masks, history, job)
    return RunOutput(tuple(files), metrics, tuple(history), rt, stopped)


def _manipulate(exp: Experiment, manipulation: Mapping[str, Any]) -> None:
    """Replace the run's training split by its manipulated copy (corrective studies): the
    job's :class:`~analysis.manipulation.Manipulation` is data from the registry, never code;
    the process-wide dataset cache keeps the clean bundle."""
    from analysis.manipulation import Manipulation

    exp.__dict__["data"] = Manipulation.from_dict(manipulation).apply(exp.data)


def _retrain_for_ps(exp: Experiment, job: RunJob, device: torch.device) -> nn.Module | None:
    if job.subset is not None or (isinstance(job, TrainJob) and job.role == "retrain"):
        return None
    name = exp.retrain_name
    return None if name is None else _load_model(exp, name, device)


def _train(
    exp: Experiment,
    job: TrainJob,
    masks: tuple[np.ndarray, np.ndarray] | None,
    device: torch.device,
    sink: ProgressSink,
) -> tuple[nn.Module, list[dict[str, Any]], float, bool, dict[str, float | None]]:
    train = exp.dataset("train")
    kept = _training_mask(exp, job, masks)
    data = train.subset(np.flatnonzero(kept)) if kept is not None else train
    if len(data) == 0:
        raise ValidationError(
            describe("training set", "at least one sample", "0 samples", raw=True)
        )
    seed = job.seed if job.seed is not None else 0
    config = TrainConfig(**{**dict(job.recipe), "seed": seed})
    eval_masks = None
    if masks is not None and kept is not None:
        eval_masks = (kept, masks[1])
    retrain = _retrain_for_ps(exp, job, device)
    evaluator = Evaluator(exp, device=device, subset_masks=eval_masks, retrain=retrain)
    recorder = _EpochRecorder(evaluator, job.eval_every, sink)
    with seeded(seed, device):
        model = exp.build()
    _warm_up(model, data, device, exp.spec.architecture.name)
    sink.stage("training")
    result = train_model(
        model, data, config, device=device, progress=sink.step, end_of_epoch=recorder
    )
    rows = [
        {"loss": h.get("train_loss"), **{k: v for k, v in h.items() if k != "train_loss"}}
        for h in result.history
    ]
    history = _merge_history(rows, recorder.rows)
    rt = max(0.0, result.seconds - recorder.seconds)
    return result.model, history, rt, False, evaluator(result.model)


def _training_mask(
    exp: Experiment, job: TrainJob, masks: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray | None:
    n = len(exp.dataset("train"))
    if job.role == "retrain":
        kept = np.ones(n, dtype=bool)
        kept[exp.forget_indices] = False
        return kept
    if masks is None:
        return None
    members, forget = masks
    return members & ~forget if job.subset is not None and job.subset.drop_forget else members


def _unlearn(
    exp: Experiment,
    job: UnlearnJob,
    masks: tuple[np.ndarray, np.ndarray] | None,
    device: torch.device,
    sink: ProgressSink,
) -> tuple[nn.Module, list[dict[str, Any]], float, bool, dict[str, float | None]]:
    from analysis.unlearn import make_method

    method = make_method(job.method, dict(job.params), workspace=exp.root)
    base = _load_model(exp, job.base, device)
    train = exp.dataset("train")
    if masks is None:
        forget, retain = _request_forget(exp, job), exp.retain_dataset()
        eval_masks = None
    else:
        members, forget_mask = masks
        if not forget_mask.any():
            raise ValidationError(
                describe(
                    "shadow forget set",
                    "at least one forget sample among the shadow's members",
                    f"none for subset {asdict(job.subset) if job.subset else None}",
                    raw=True,
                )
            )
        forget = train.subset(np.flatnonzero(forget_mask))
        retain = train.subset(np.flatnonzero(members & ~forget_mask))
        eval_masks = (members & ~forget_mask, forget_mask)
    retrain = _retrain_for_ps(exp, job, device)
    evaluator = Evaluator(exp, device=device, subset_masks=eval_masks, retrain=retrain)
    recorder = _EpochRecorder(evaluator, job.eval_every, sink, stop_at_ua=job.stop_at_ua)
    if job.eval_every:
        recorder(0, base)
    _warm_up(base, retain, device, exp.spec.architecture.name)
    sink.stage("unlearning")
    result = method.run(
        base,
        forget,
        retain,
        seed=job.seed,
        device=device,
        progress=sink.step,
        epoch_hook=recorder,
        should_stop=recorder.should_stop,
    )
    history = _merge_history([dict(h) for h in result.history], recorder.rows)
    return result.model, history, result.seconds, recorder.stopped, evaluator(result.model)


def _request_forget(exp: Experiment, job: UnlearnJob) -> ArrayDataset:
    """The forget samples of the run: the scenario's, minus those of ``job.forgotten``."""
    if job.forgotten is None:
        return exp.forget_dataset()
    before = exp.with_scenario(job.forgotten).forget_indices
    request = np.setdiff1d(exp.forget_indices, before)
    if len(request) == 0 or not np.isin(before, exp.forget_indices).all():
        raise ValidationError(
            describe(
                "forgotten",
                f"a scenario whose forget set is a strict subset of {exp.scenario!r}'s",
                job.forgotten,
            )
        )
    return exp.dataset("train").subset(request)


def _merge_history(
    rows: Sequence[Mapping[str, Any]], evaluated: Mapping[int, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The method's per-epoch rows with the evaluated metrics joined (epoch 0 first)."""
    out: dict[int, dict[str, Any]] = {e: dict(r) for e, r in evaluated.items()}
    for row in rows:
        epoch = int(row.get("epoch", len(out)))
        out[epoch] = {
            **out.get(epoch, {}),
            **{k: _json_number(v) for k, v in row.items()},
            "epoch": epoch,
        }
    return [out[e] for e in sorted(out)]


def _json_number(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _check_finite(model: nn.Module, job: RunJob) -> None:
    bad = [
        n
        for n, t in model.state_dict().items()
        if t.is_floating_point() and not torch.isfinite(t).all()
    ]
    if bad:
        raise ValidationError(
            describe(
                f"run {job.name}",
                "finite weights (the run diverged: try a smaller lr)",
                f"non-finite values in {bad[:3]}",
                raw=True,
            )
        )


# --------------------------------------------------------------------------- atomic files


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _atomic(target: Path, write: Callable[[Path], None]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def _save_npy(mask: np.ndarray) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            np.save(handle, mask, allow_pickle=False)

    return write


def _write_outputs(
    model: nn.Module,
    paths: Mapping[str, Path | None],
    masks: tuple[np.ndarray, np.ndarray] | None,
    history: Sequence[Mapping[str, Any]],
    job: RunJob,
) -> list[Path]:
    from safetensors.torch import save_file

    files = []
    if masks is not None:
        members, forget = masks
        if paths["members"] is not None:
            trained = (
                members & ~forget
                if isinstance(job, TrainJob) and job.subset and job.subset.drop_forget
                else members
            )
            files.append(_atomic(paths["members"], _save_npy(trained)))
        if paths["forget_mask"] is not None:
            files.append(_atomic(paths["forget_mask"], _save_npy(forget)))
    text = json.dumps([dict(r) for r in history], indent=1)
    files.append(_atomic(paths["history"], lambda p: p.write_text(text, encoding="utf-8")))  # type: ignore[arg-type]
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"ulens_run": str(job.name), "created": str(time.time())}
    files.append(_atomic(paths["file"], lambda p: save_file(state, str(p), metadata=meta)))  # type: ignore[arg-type]
    return files
