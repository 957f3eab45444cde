"""Tests of analysis.mia.population: population attacks and SalUn's SVC MIA-efficacy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.svm import SVC

from analysis.errors import ValidationError
from analysis.mia.population import population_attacks, svc_mia_efficacy


def _two_class_logits(phi: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """2-class logits whose log-odds of the true class is ``phi``."""
    logits = np.zeros((len(phi), 2))
    logits[np.arange(len(phi)), labels] = phi
    return logits


Population = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _population(rng: np.random.Generator, n: int, shift: float, n_classes: int = 5) -> Population:
    labels_m, labels_n = rng.integers(0, n_classes, n), rng.integers(0, n_classes, n)
    eye = np.eye(n_classes)
    members = rng.normal(size=(n, n_classes)) + (2.0 + shift) * eye[labels_m]
    nonmembers = rng.normal(size=(n, n_classes)) + 2.0 * eye[labels_n]
    return members, labels_m, nonmembers, labels_n


def test_separable_population_is_detected() -> None:
    rng = np.random.default_rng(0)
    result = population_attacks(*_population(rng, 600, shift=4.0), n_bootstrap=20)
    assert [a.name for a in result.attacks] == [
        f"{kind}/{signal}"
        for signal in ("loss", "true_prob", "entropy", "modified_entropy")
        for kind in ("threshold", "class_threshold")
    ] + ["logistic"]
    for attack in result.attacks:
        assert attack.auc > 0.9, attack.name
        assert attack.balanced_accuracy > 0.8, attack.name
        assert attack.roc.n_members == attack.roc.n_nonmembers == 300
        assert np.isnan(attack.forget_member_rate)
    assert np.isnan(result.mia_efficacy)


def test_identical_distributions_give_chance() -> None:
    rng = np.random.default_rng(1)
    result = population_attacks(*_population(rng, 2000, shift=0.0), n_bootstrap=0)
    for attack in result.attacks:
        assert 0.45 < attack.auc < 0.55, attack.name
        assert 0.44 < attack.balanced_accuracy < 0.56, attack.name


def test_monotone_related_signals_give_identical_attacks() -> None:
    # true_prob = exp(-loss): with the right orientations both threshold attacks are the same
    rng = np.random.default_rng(2)
    result = population_attacks(*_population(rng, 400, shift=1.0), n_bootstrap=0)
    loss, prob = result.attack("threshold/loss"), result.attack("threshold/true_prob")
    assert loss.auc == pytest.approx(prob.auc)
    assert loss.balanced_accuracy == pytest.approx(prob.balanced_accuracy)
    assert loss.auc > 0.6


def test_per_class_thresholds_beat_a_global_threshold() -> None:
    # class 0: members φ≈4, non-members φ≈2; class 1: members φ≈0, non-members φ≈-2.
    # One global threshold cannot separate both classes; one threshold per class can.
    rng = np.random.default_rng(3)
    n = 400
    labels = np.repeat([0, 1], n // 2)
    phi_m = np.where(labels == 0, 4.0, 0.0) + rng.normal(scale=0.1, size=n)
    phi_n = np.where(labels == 0, 2.0, -2.0) + rng.normal(scale=0.1, size=n)
    result = population_attacks(
        _two_class_logits(phi_m, labels),
        labels,
        _two_class_logits(phi_n, labels),
        labels,
        signals=("loss",),
        n_bootstrap=0,
    )
    per_class, overall = result.attack("class_threshold/loss"), result.attack("threshold/loss")
    assert per_class.balanced_accuracy > 0.99
    assert per_class.auc > 0.99
    assert overall.balanced_accuracy < 0.8


def test_forget_member_rate_follows_the_forget_distribution() -> None:
    rng = np.random.default_rng(4)
    members, labels_m, nonmembers, labels_n = _population(rng, 400, shift=4.0)
    like_members = population_attacks(
        members,
        labels_m,
        nonmembers,
        labels_n,
        forget_logits=members[:100],
        forget_labels=labels_m[:100],
        n_bootstrap=0,
    )
    like_test = population_attacks(
        members,
        labels_m,
        nonmembers,
        labels_n,
        forget_logits=nonmembers[:100],
        forget_labels=labels_n[:100],
        n_bootstrap=0,
    )
    for name in ("threshold/loss", "class_threshold/entropy", "logistic"):
        assert like_members.attack(name).forget_member_rate > 0.8
        assert like_test.attack(name).forget_member_rate < 0.2
    assert like_members.mia_efficacy < 0.2 < 0.8 < like_test.mia_efficacy


def test_equal_sized_subsets_and_seed() -> None:
    rng = np.random.default_rng(5)
    members, labels_m, nonmembers, labels_n = _population(rng, 300, shift=1.0)
    result = population_attacks(members, labels_m, nonmembers[:101], labels_n[:101])
    assert (result.n_per_side, result.n_train_per_side) == (101, 50)
    assert result.attack("logistic").roc.n_members == 51
    again = population_attacks(members, labels_m, nonmembers[:101], labels_n[:101])
    assert [a.auc for a in again.attacks] == [a.auc for a in result.attacks]
    other = population_attacks(members, labels_m, nonmembers[:101], labels_n[:101], seed=1)
    assert [a.auc for a in other.attacks] != [a.auc for a in result.attacks]


def test_svc_efficacy_matches_direct_sklearn_svc() -> None:
    rng = np.random.default_rng(6)
    retain, labels_r, test, labels_t = _population(rng, 150, shift=1.5)
    forget, labels_f = retain[:40] + rng.normal(size=(40, 5)), labels_r[:40]

    def conf(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return softmax(logits, axis=1)[np.arange(len(labels)), labels][:, None]

    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(np.r_[conf(retain, labels_r), conf(test, labels_t)], np.r_[np.ones(150), np.zeros(150)])
    predicted = clf.predict(conf(forget, labels_f))
    result = svc_mia_efficacy(retain, labels_r, test, labels_t, forget, labels_f)
    assert result.efficacy == pytest.approx(1.0 - predicted.mean())
    np.testing.assert_array_equal(result.forget_predicted_member, predicted == 1)
    assert (result.n_train_per_side, result.n_forget) == (150, 40)
    assert 0.0 < result.efficacy < 1.0


def test_svc_efficacy_subsamples_the_larger_set() -> None:
    rng = np.random.default_rng(7)
    retain, labels_r, test, labels_t = _population(rng, 120, shift=2.0)
    result = svc_mia_efficacy(retain, labels_r, test[:30], labels_t[:30], test[30:], labels_t[30:])
    assert result.n_train_per_side == 30
    reverse = svc_mia_efficacy(retain[:20], labels_r[:20], test, labels_t, test[:5], labels_t[:5])
    assert reverse.n_train_per_side == 20


def test_too_few_samples_warn_and_give_nan() -> None:
    logits, labels = np.zeros((1, 3)), np.zeros(1, dtype=int)
    with pytest.warns(RuntimeWarning, match="need >= 2"):
        result = population_attacks(logits, labels, np.zeros((5, 3)), np.zeros(5, dtype=int))
    assert result.attacks == () and np.isnan(result.mia_efficacy)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"forget_logits": np.zeros((2, 3))}, "forget_labels"),
        ({"forget_labels": np.zeros(2, dtype=int)}, "forget_logits"),
        ({"forget_logits": np.zeros((2, 4)), "forget_labels": np.zeros(2, int)}, "forget_logits"),
        ({"signals": ("loss", "accuracy")}, "signals"),
        ({"signals": ("loss", "loss")}, "signals"),
        ({"signals": "loss"}, "signals"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_options_name_the_argument(kwargs: dict[str, object], argument: str) -> None:
    z, y = np.zeros((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(ValidationError, match=rf"^{argument}: expected"):
        population_attacks(z, y, z, y, **kwargs)  # type: ignore[arg-type]


def test_bad_arrays_name_the_argument() -> None:
    z, y = np.zeros((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(ValidationError, match=r"^nonmember_logits: expected 3 classes"):
        population_attacks(z, y, np.zeros((4, 2)), y)
    with pytest.raises(ValidationError, match=r"^member_labels: expected"):
        population_attacks(z, np.full(4, 3), z, y)
    with pytest.raises(ValidationError, match=r"^test_logits: expected"):
        svc_mia_efficacy(z, y, np.full((4, 3), np.nan), y, z, y)
    with pytest.raises(ValidationError, match=r"^name: expected one of"):
        population_attacks(z, y, z, y, n_bootstrap=0).attack("svc")


def test_svc_salun_rule_trains_on_the_first_retain_samples_and_every_test_sample() -> None:
    # SalUn's main_forget.py: shadow_train = Subset(retain_dataset, range(len(test))).
    rng = np.random.default_rng(8)
    retain, labels_r, test, labels_t = _population(rng, 200, shift=1.0)
    test, labels_t = test[:70], labels_t[:70]
    forget, labels_f = retain[:40] + rng.normal(size=(40, 5)), labels_r[:40]

    def conf(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return softmax(logits, axis=1)[np.arange(len(labels)), labels][:, None]

    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(
        np.r_[conf(retain[:70], labels_r[:70]), conf(test, labels_t)], np.r_[[1] * 70, [0] * 70]
    )
    expected = 1.0 - clf.predict(conf(forget, labels_f)).mean()
    salun = svc_mia_efficacy(retain, labels_r, test, labels_t, forget, labels_f)
    assert salun.efficacy == pytest.approx(expected) and salun.n_train_per_side == 70
    draws = {
        svc_mia_efficacy(
            retain, labels_r, test, labels_t, forget, labels_f, svc_retain="random", seed=s
        ).efficacy
        for s in range(6)
    }
    assert len(draws) > 1  # the random rule depends on the seed; SalUn's does not
    with pytest.raises(ValidationError, match=r"^svc_retain: expected"):
        svc_mia_efficacy(retain, labels_r, test, labels_t, forget, labels_f, svc_retain="all")
