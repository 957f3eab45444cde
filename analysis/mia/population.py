"""Population membership-inference attacks on one model, and SalUn's SVC "MIA-efficacy".

Members are retain training samples, non-members test samples outside the forget classes; the
caller passes their logits. :func:`population_attacks` draws equal-sized seeded subsets, splits
them 50/50 into attack-train and held-out halves, fits every attack on the first half and
reports its AUC and balanced accuracy on the second.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> members = rng.normal(size=(200, 3)) + [4.0, 0.0, 0.0]   # confident on class 0
    >>> others = rng.normal(size=(200, 3))
    >>> labels = np.zeros(200, dtype=int)
    >>> res = population_attacks(members, labels, others, labels, n_bootstrap=0)
    >>> res.attack("threshold/loss").auc > 0.9
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from analysis.errors import ValidationError, describe
from analysis.mia._common import (
    BoolArray,
    FloatArray,
    IntArray,
    validate_int,
    validate_logits_labels,
    validate_seed,
    warn_degenerate,
)
from analysis.mia.roc import RocReport, roc_curve, roc_report
from analysis.mia.signals import Signals, check_signal_name, member_score, signals_from_logits

__all__ = [
    "DEFAULT_POPULATION_SIGNALS",
    "SVC_RETAIN_RULES",
    "AttackResult",
    "PopulationResult",
    "SvcMiaResult",
    "population_attacks",
    "svc_mia_efficacy",
]

#: Signals used by :func:`population_attacks` unless told otherwise.
DEFAULT_POPULATION_SIGNALS: tuple[str, ...] = ("loss", "true_prob", "entropy", "modified_entropy")

AttackKind = Literal["threshold", "class_threshold", "logistic"]


@dataclass(frozen=True)
class AttackResult:
    """One fitted attack, evaluated on the held-out half.

    Attributes:
        name: ``"threshold/<signal>"``, ``"class_threshold/<signal>"`` or ``"logistic"``.
        kind: The attack family.
        signal: The signal used (``"all"`` for the logistic regression).
        auc: Held-out AUC of the attack's score (NaN when undefined).
        balanced_accuracy: Held-out balanced accuracy of the rule fitted on attack-train.
        forget_member_rate: Share of forget samples the fitted rule calls "member" (NaN
            without forget samples).
        roc: Held-out ROC report of the attack's score (CIs, TPR at low FPR).
    """

    name: str
    kind: AttackKind
    signal: str
    auc: float
    balanced_accuracy: float
    forget_member_rate: float
    roc: RocReport


@dataclass(frozen=True)
class SvcMiaResult:
    """SalUn's SVC MIA-efficacy.

    Attributes:
        efficacy: Share of forget samples predicted non-member (higher = better forgotten).
        n_train_per_side: Retain (member) samples that trained the SVC; the non-members are as
            many, except under SalUn's rule with fewer retain than test samples (then every
            test sample is used, as in its code).
        n_forget: Number of forget samples predicted.
        forget_predicted_member: Per forget sample, True when the SVC predicts "member".
    """

    efficacy: float
    n_train_per_side: int
    n_forget: int
    forget_predicted_member: BoolArray


@dataclass(frozen=True)
class PopulationResult:
    """Every population attack on one model.

    Attributes:
        attacks: Global-threshold and per-class-threshold attacks per signal, then the
            logistic regression.
        n_per_side: Members (= non-members) used after equalising the two sets.
        n_train_per_side: Of those, used to fit the attacks (the rest is held out).
        mia_efficacy: :func:`svc_mia_efficacy` on the forget samples (NaN without them).
        svc: The whole SVC result (per-forget-sample predictions), None without forget samples.
    """

    attacks: tuple[AttackResult, ...]
    n_per_side: int
    n_train_per_side: int
    mia_efficacy: float
    svc: SvcMiaResult | None = None

    def attack(self, name: str) -> AttackResult:
        """Return the attack called ``name`` (e.g. ``"threshold/loss"``, ``"logistic"``)."""
        for result in self.attacks:
            if result.name == name:
                return result
        known = [result.name for result in self.attacks]
        raise ValidationError(describe("name", f"one of {known}", name))


@dataclass(frozen=True)
class _Split:
    """Signals of the equalised subsets, split into attack-train / held-out."""

    train: Signals
    train_member: BoolArray
    train_labels: IntArray
    held: Signals
    held_member: BoolArray
    held_labels: IntArray


# ------------------------------------------------------------------------------ validation


def _validate_signal_list(signals: Sequence[str]) -> tuple[str, ...]:
    if isinstance(signals, str) or not isinstance(signals, Sequence) or len(signals) == 0:
        raise ValidationError(describe("signals", "a non-empty sequence of signal names", signals))
    names = tuple(check_signal_name(name, "signals") for name in signals)
    if len(set(names)) != len(names):
        raise ValidationError(describe("signals", "distinct signal names", signals))
    return names


def _validate_forget(
    forget_logits: ArrayLike | None, forget_labels: ArrayLike | None, n_classes: int
) -> tuple[FloatArray, IntArray] | None:
    if (forget_logits is None) != (forget_labels is None):
        missing = "forget_labels" if forget_labels is None else "forget_logits"
        raise ValidationError(describe(missing, "given together with its pair", None))
    if forget_logits is None or forget_labels is None:
        return None
    logits, labels = validate_logits_labels(
        forget_logits, forget_labels, "forget_logits", "forget_labels"
    )
    _check_classes(logits, n_classes, "forget_logits")
    return logits, labels


def _check_classes(logits: FloatArray, n_classes: int, name: str) -> None:
    if logits.shape[1] != n_classes:
        expected = f"{n_classes} classes like member_logits"
        raise ValidationError(describe(name, expected, f"shape {logits.shape}", raw=True))


# ---------------------------------------------------------------------------------- helpers


def _take(signals: Signals, index: IntArray) -> Signals:
    return Signals(**{name: getattr(signals, name)[index] for name in signals.__dataclass_fields__})


def _concat(a: Signals, b: Signals) -> Signals:
    fields = a.__dataclass_fields__
    return Signals(
        **{name: np.concatenate([getattr(a, name), getattr(b, name)]) for name in fields}
    )


def _split(
    members: Signals, m_labels: IntArray, nonmembers: Signals, n_labels: IntArray, seed: int
) -> _Split:
    """Equal-sized seeded subsets (the larger set truncated), then a seeded 50/50 split."""
    rng = np.random.default_rng(seed)
    n = min(m_labels.size, n_labels.size)
    m_idx = rng.permutation(m_labels.size)[:n]
    n_idx = rng.permutation(n_labels.size)[:n]
    half = n // 2
    parts = []
    for sl in (slice(0, half), slice(half, n)):
        sig = _concat(_take(members, m_idx[sl]), _take(nonmembers, n_idx[sl]))
        size = len(m_idx[sl])
        is_member = np.r_[np.ones(size, bool), np.zeros(size, bool)]
        parts.append((sig, is_member, np.r_[m_labels[m_idx[sl]], n_labels[n_idx[sl]]]))
    (train, t_mem, t_lab), (held, h_mem, h_lab) = parts
    return _Split(train, t_mem, t_lab, held, h_mem, h_lab)


def _best_threshold(scores: FloatArray, is_member: BoolArray) -> float:
    """Threshold (predict member when score >= t) maximising balanced accuracy."""
    curve = roc_curve(scores, is_member)
    return float(curve.thresholds[int(np.argmax(curve.tpr - curve.fpr))])


def _balanced_accuracy(predicted: BoolArray, is_member: BoolArray) -> float:
    return float((predicted[is_member].mean() + (~predicted[~is_member]).mean()) / 2.0)


def _member_rate(predicted: BoolArray | None) -> float:
    return float("nan") if predicted is None else float(predicted.mean())


# ---------------------------------------------------------------------------------- attacks


def _class_thresholds(
    scores: FloatArray, is_member: BoolArray, labels: IntArray, n_classes: int
) -> FloatArray:
    """One threshold per true class; the global one where a class lacks either side."""
    thresholds = np.full(n_classes, _best_threshold(scores, is_member))
    for c in np.unique(labels):
        in_class = labels == c
        if is_member[in_class].any() and not is_member[in_class].all():
            thresholds[c] = _best_threshold(scores[in_class], is_member[in_class])
    return thresholds


def _margin(scores: FloatArray, thresholds: FloatArray, labels: IntArray) -> FloatArray:
    """Score above the sample's class threshold (>= 0 means "member")."""
    out: FloatArray = scores - thresholds[labels]
    return out


def _features(signals: Signals, names: tuple[str, ...]) -> FloatArray:
    return np.stack([signals.get(name) for name in names], axis=1)


@dataclass(frozen=True)
class _Context:
    split: _Split
    forget: tuple[Signals, IntArray] | None
    n_classes: int
    n_bootstrap: int
    seed: int
    svc_retain: str = "salun"
    ci: float = 0.95
    bootstrap_thresholds: bool = True


def _result(
    ctx: _Context,
    name: tuple[str, AttackKind, str],
    held_score: FloatArray,
    held_pred: BoolArray,
    forget_pred: BoolArray | None,
) -> AttackResult:
    """Evaluate an attack: ROC of its held-out score, accuracy of its fitted rule."""
    member = ctx.split.held_member
    n_boot = ctx.n_bootstrap if name[1] == "logistic" or ctx.bootstrap_thresholds else 0
    report = roc_report(held_score, member, n_bootstrap=n_boot, seed=ctx.seed, ci=ctx.ci)
    return AttackResult(
        name=name[0],
        kind=name[1],
        signal=name[2],
        auc=report.auc,
        balanced_accuracy=_balanced_accuracy(held_pred, member),
        forget_member_rate=_member_rate(forget_pred),
        roc=report,
    )


def _threshold_attacks(ctx: _Context, signal: str) -> tuple[AttackResult, AttackResult]:
    split, forget = ctx.split, ctx.forget
    train = member_score(split.train, signal)
    held = member_score(split.held, signal)
    t = _best_threshold(train, split.train_member)
    forget_score = None if forget is None else member_score(forget[0], signal)
    global_attack = _result(
        ctx,
        (f"threshold/{signal}", "threshold", signal),
        held,
        held >= t,
        None if forget_score is None else forget_score >= t,
    )
    per_class = _class_thresholds(train, split.train_member, split.train_labels, ctx.n_classes)
    margin = _margin(held, per_class, split.held_labels)
    forget_margin = None
    if forget is not None and forget_score is not None:
        forget_margin = _margin(forget_score, per_class, forget[1])
    class_attack = _result(
        ctx,
        (f"class_threshold/{signal}", "class_threshold", signal),
        margin,
        margin >= 0,
        None if forget_margin is None else forget_margin >= 0,
    )
    return global_attack, class_attack


def _logistic_attack(ctx: _Context, signals: tuple[str, ...]) -> AttackResult:
    from sklearn.linear_model import LogisticRegression  # sklearn loads on use, not with the app
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    split = ctx.split
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(_features(split.train, signals), split.train_member)
    held = model.decision_function(_features(split.held, signals))
    forget_pred = None
    if ctx.forget is not None:
        forget_pred = model.decision_function(_features(ctx.forget[0], signals)) > 0
    return _result(ctx, ("logistic", "logistic", "all"), held, held > 0, forget_pred)


def population_attacks(
    member_logits: ArrayLike,
    member_labels: ArrayLike,
    nonmember_logits: ArrayLike,
    nonmember_labels: ArrayLike,
    *,
    forget_logits: ArrayLike | None = None,
    forget_labels: ArrayLike | None = None,
    seed: int = 0,
    signals: Sequence[str] = DEFAULT_POPULATION_SIGNALS,
    n_bootstrap: int = 200,
    svc_retain: str = "salun",
    ci: float = 0.95,
    bootstrap_thresholds: bool = True,
) -> PopulationResult:
    """Threshold (global and per class) and logistic-regression attacks on one model.

    Both sets are cut to the size of the smaller one (seeded random subsets) and split 50/50
    into attack-train and held-out halves (seeded). Per signal, a global threshold and one
    threshold per true class (the global one for classes lacking members or non-members in
    attack-train) are fitted maximising balanced accuracy; a logistic regression is fitted on
    all the standardised signals. Each attack is scored on the held-out half.

    Args:
        member_logits: Logits (n_m, C) of member samples (retain training samples).
        member_labels: Their labels (n_m,).
        nonmember_logits: Logits (n_n, C) of non-members (test samples outside the forget
            classes).
        nonmember_labels: Their labels (n_n,).
        forget_logits: Optional logits of the forget samples: adds the fitted rules' member
            rates on them and :func:`svc_mia_efficacy`.
        forget_labels: Their labels (required with ``forget_logits``).
        seed: Seed of the subsets, the split, the SVC subsample and the bootstrap.
        signals: Names of the signals to attack (see
            :data:`analysis.mia.signals.SIGNAL_DIRECTIONS`).
        n_bootstrap: Bootstrap replicates of each held-out ROC report.
        svc_retain: Which members train the SVC of :func:`svc_mia_efficacy` (``"salun"``:
            the first ones in the order given, as many as there are non-members; ``"random"``).
        ci: Coverage of the bootstrap intervals.
        bootstrap_thresholds: Bootstrap the threshold attacks' ROC reports too (False: only
            the logistic regression's, the one the audit reports; the others get NaN
            intervals).

    Returns:
        The results. Fewer than 2 samples per side: a warning and NaN numbers. With forget
        samples, the SVC of :func:`svc_mia_efficacy` is trained on as many members as there are
        non-members against every non-member: ~15 s for 9k per side on 2 CPU cores.

    Raises:
        ValidationError: On bad logits/labels, unknown signals or mismatched class counts.

    Example:
        >>> import numpy as np
        >>> z = np.random.default_rng(1).normal(size=(40, 2))
        >>> y = np.zeros(40, dtype=int)
        >>> res = population_attacks(z[:20], y[:20], z[20:], y[20:], n_bootstrap=0)
        >>> [a.name for a in res.attacks][:2], res.n_per_side, res.n_train_per_side
        (['threshold/loss', 'class_threshold/loss'], 20, 10)
    """
    m_logits, m_labels = validate_logits_labels(
        member_logits, member_labels, "member_logits", "member_labels"
    )
    n_logits, n_labels = validate_logits_labels(
        nonmember_logits, nonmember_labels, "nonmember_logits", "nonmember_labels"
    )
    n_classes = m_logits.shape[1]
    _check_classes(n_logits, n_classes, "nonmember_logits")
    forget = _validate_forget(forget_logits, forget_labels, n_classes)
    names, rng_seed = _validate_signal_list(signals), validate_seed(seed)
    n_boot = validate_int(n_bootstrap, "n_bootstrap", minimum=0)
    rule = _validate_svc_rule(svc_retain)
    m_sig, n_sig = signals_from_logits(m_logits, m_labels), signals_from_logits(n_logits, n_labels)
    split = _split(m_sig, m_labels, n_sig, n_labels, rng_seed)
    forget_sig = None if forget is None else (signals_from_logits(*forget), forget[1])
    if not isinstance(bootstrap_thresholds, bool):
        expected = "True or False"
        raise ValidationError(describe("bootstrap_thresholds", expected, bootstrap_thresholds))
    ctx = _Context(split, forget_sig, n_classes, n_boot, rng_seed, rule, ci, bootstrap_thresholds)
    return _run_attacks(ctx, names, (m_logits, m_labels, n_logits, n_labels), forget)


def _run_attacks(
    ctx: _Context,
    names: tuple[str, ...],
    population: tuple[FloatArray, IntArray, FloatArray, IntArray],
    forget: tuple[FloatArray, IntArray] | None,
) -> PopulationResult:
    n_train = int(ctx.split.train_member.sum())
    n_held = int(ctx.split.held_member.sum())
    if n_train == 0 or n_held == 0:
        warn_degenerate("population attacks need >= 2 members and non-members; results are NaN")
        return PopulationResult((), n_train + n_held, n_train, float("nan"))
    attacks = [attack for name in names for attack in _threshold_attacks(ctx, name)]
    attacks.append(_logistic_attack(ctx, names))
    svc = None
    if forget is not None:
        svc = svc_mia_efficacy(*population, *forget, seed=ctx.seed, svc_retain=ctx.svc_retain)
    efficacy = float("nan") if svc is None else svc.efficacy
    return PopulationResult(tuple(attacks), n_train + n_held, n_train, efficacy, svc)


# ---------------------------------------------------------------------------------- SVC MIA


#: Which retain samples train the SVC: ``"salun"`` (SalUn's code) or ``"random"``.
SVC_RETAIN_RULES: tuple[str, ...] = ("salun", "random")


def _equal_subsample(n_retain: int, n_test: int, seed: int) -> tuple[IntArray, IntArray]:
    """Indices of equal-sized sets; the larger one is subsampled (seeded, order kept)."""
    rng = np.random.default_rng(seed)
    n = min(n_retain, n_test)
    retain_idx = np.arange(n_retain) if n_retain == n else np.sort(rng.choice(n_retain, n, False))
    test_idx = np.arange(n_test) if n_test == n else np.sort(rng.choice(n_test, n, False))
    return retain_idx, test_idx


def _svc_rows(n_retain: int, n_test: int, rule: str, seed: int) -> tuple[IntArray, IntArray]:
    """Rows of the retain and test sets that train the SVC under ``rule``."""
    if rule == "random":
        return _equal_subsample(n_retain, n_test, seed)
    # SalUn: Subset(retain_dataset, range(len(test))) against the whole test loader
    return np.arange(min(n_retain, n_test)), np.arange(n_test)


def _validate_svc_rule(value: object) -> str:
    if not isinstance(value, str) or value not in SVC_RETAIN_RULES:
        raise ValidationError(describe("svc_retain", f"one of {list(SVC_RETAIN_RULES)}", value))
    return value


def svc_mia_efficacy(
    retain_logits: ArrayLike,
    retain_labels: ArrayLike,
    test_logits: ArrayLike,
    test_labels: ArrayLike,
    forget_logits: ArrayLike,
    forget_labels: ArrayLike,
    *,
    seed: int = 0,
    svc_retain: str = "salun",
) -> SvcMiaResult:
    """SalUn's "MIA-efficacy": an RBF SVC on the true-class confidence, applied to the forget set.

    An ``sklearn.svm.SVC(C=3, gamma="auto", kernel="rbf")`` is trained on p_y of retain samples
    (label 1, member) against p_y of test samples (label 0), then predicts the forget samples.
    Which samples train it follows SalUn's published code (``Classification/main_forget.py``:
    ``shadow_train = Subset(retain_dataset, range(len(test)))`` against the whole test loader)
    with ``svc_retain="salun"`` (default): the FIRST len(test) retain samples in the order
    given (pass them in training-index order) against every test sample given. With
    ``svc_retain="random"``: equal-sized seeded random subsets (the larger set subsampled,
    original order kept). Training is quadratic in the sample count (tens of seconds for ~10k
    per side).

    Args:
        retain_logits: Logits (n_r, C) of retain training samples.
        retain_labels: Their labels.
        test_logits: Logits (n_t, C) of test samples (non-members).
        test_labels: Their labels.
        forget_logits: Logits (n_f, C) of the forget samples.
        forget_labels: Their labels.
        seed: Seed of the subsample (``svc_retain="random"`` only).
        svc_retain: ``"salun"`` or ``"random"`` (see above).

    Returns:
        The efficacy = 1 - mean prediction on the forget samples.

    Raises:
        ValidationError: On bad logits/labels or mismatched class counts.

    Example:
        >>> import numpy as np
        >>> y = np.zeros(50, dtype=int)
        >>> confident = np.c_[np.full(50, 8.0), np.zeros(50)]
        >>> unsure = np.c_[np.linspace(-2, 2, 50), np.zeros(50)]
        >>> svc_mia_efficacy(confident, y, unsure, y, unsure[:10], y[:10]).efficacy
        1.0
    """
    r_logits, r_labels = validate_logits_labels(
        retain_logits, retain_labels, "retain_logits", "retain_labels"
    )
    t_logits, t_labels = validate_logits_labels(
        test_logits, test_labels, "test_logits", "test_labels"
    )
    f_logits, f_labels = validate_logits_labels(
        forget_logits, forget_labels, "forget_logits", "forget_labels"
    )
    for logits, name in ((t_logits, "test_logits"), (f_logits, "forget_logits")):
        _check_classes(logits, r_logits.shape[1], name)
    rule = _validate_svc_rule(svc_retain)
    r_idx, t_idx = _svc_rows(r_labels.size, t_labels.size, rule, validate_seed(seed))
    retain_conf = signals_from_logits(r_logits[r_idx], r_labels[r_idx]).true_prob
    test_conf = signals_from_logits(t_logits[t_idx], t_labels[t_idx]).true_prob
    forget_conf = signals_from_logits(f_logits, f_labels).true_prob
    return _fit_svc(retain_conf, test_conf, forget_conf)


def _fit_svc(
    retain_conf: FloatArray, test_conf: FloatArray, forget_conf: FloatArray
) -> SvcMiaResult:
    features = np.r_[retain_conf, test_conf][:, None]
    targets = np.r_[np.ones(retain_conf.size), np.zeros(test_conf.size)]
    from sklearn.svm import SVC

    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(features, targets)
    predicted = clf.predict(forget_conf[:, None]) == 1
    return SvcMiaResult(
        efficacy=float(1.0 - predicted.mean()),
        n_train_per_side=int(retain_conf.size),
        n_forget=int(forget_conf.size),
        forget_predicted_member=predicted,
    )
