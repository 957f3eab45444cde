"""Accuracy metrics against direct numpy / sklearn references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax
from sklearn.metrics import confusion_matrix

from analysis.bootstrap import class_mean_interval, mean_interval
from analysis.errors import ValidationError
from analysis.metrics import accuracy_metrics, class_metrics, softmax


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_prediction_matrix_matches_sklearn_normalised_confusion(rng: np.random.Generator) -> None:
    labels = rng.integers(0, 5, 400)
    logits = rng.normal(size=(400, 5)) + 2 * np.eye(5)[labels]
    m = class_metrics(logits, labels, num_classes=5)
    expected = confusion_matrix(labels, logits.argmax(1), labels=range(5), normalize="true")
    np.testing.assert_allclose(m.prediction, expected)
    np.testing.assert_allclose(m.accuracy, np.diag(expected))
    np.testing.assert_array_equal(m.counts, np.bincount(labels, minlength=5))


def test_confidence_matrix_is_mean_softmax_per_true_class(rng: np.random.Generator) -> None:
    labels = rng.integers(0, 3, 50)
    logits = rng.normal(size=(50, 3)) * 4
    m = class_metrics(logits, labels, num_classes=3)
    probs = scipy_softmax(logits, axis=1)
    for i in range(3):
        np.testing.assert_allclose(m.confidence[i], probs[labels == i].mean(axis=0))
    np.testing.assert_allclose(m.confidence.sum(axis=1), 1.0)


def test_class_without_samples_is_nan_not_zero() -> None:
    labels = np.array([0, 0, 2])
    m = class_metrics(np.eye(3)[labels], labels, num_classes=3)
    assert np.isnan(m.accuracy[1]) and np.isnan(m.prediction[1]).all()
    assert m.accuracy[0] == 1.0


def test_softmax_is_stable_for_huge_logits() -> None:
    p = softmax(np.array([[1e4, 0.0, -1e4]]))
    assert np.isfinite(p).all() and p[0, 0] == pytest.approx(1.0)
    np.testing.assert_allclose(
        softmax(np.array([[1.0, 2.0]]), temperature=2.0),
        scipy_softmax(np.array([[0.5, 1.0]]), axis=1),
    )


def _classwise_case() -> dict[str, np.ndarray]:
    train_y = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    train_p = np.array([0, 1, 1, 1, 0, 2, 2, 2])  # class 0: 1/2, class 1: 2/2, class 2: 3/4
    test_y = np.array([0, 1, 1, 2])
    test_p = np.array([0, 0, 1, 2])
    return {
        "train_pred": train_p,
        "train_labels": train_y,
        "test_pred": test_p,
        "test_labels": test_y,
    }


def test_classwise_metrics_use_mean_per_class_accuracy_over_retain_classes() -> None:
    case = _classwise_case()
    m = accuracy_metrics(
        **case, forget_indices=np.array([4, 5, 6, 7]), forget_classes=(2,), num_classes=3
    )
    assert m.ua == pytest.approx(3 / 4)
    assert m.ra == pytest.approx((1 / 2 + 1.0) / 2)  # mean of per-class, not pooled 3/4
    assert m.tua == pytest.approx(1.0)
    assert m.tra == pytest.approx((1.0 + 1 / 2) / 2)


def test_random_forgetting_has_no_tua_and_pools_retain_samples() -> None:
    case = _classwise_case()
    m = accuracy_metrics(
        **case, forget_indices=np.array([0, 4]), forget_classes=None, num_classes=3
    )
    assert m.tua is None
    assert m.ua == pytest.approx(1 / 2)
    assert m.ra == pytest.approx(5 / 6)  # indices 1,2,3,5,6,7 -> 1 wrong out of 6
    assert m.tra == pytest.approx(3 / 4)


def test_bad_logits_shape_names_argument() -> None:
    with pytest.raises(ValidationError, match="logits: expected an array of shape"):
        class_metrics(np.zeros((4, 2)), np.zeros(4, dtype=int), num_classes=3)
    with pytest.raises(ValidationError, match="labels"):
        class_metrics(np.zeros((4, 3)), np.array([0, 1, 5, 0]), num_classes=3)


def test_accuracy_intervals_resample_the_right_sets() -> None:
    rng = np.random.default_rng(4)
    y_train, y_test = np.repeat(np.arange(4), 50), np.repeat(np.arange(4), 20)
    pred_train = np.where(rng.random(200) < 0.8, y_train, (y_train + 1) % 4)
    pred_test = np.where(rng.random(80) < 0.7, y_test, (y_test + 1) % 4)
    forget = np.flatnonzero(y_train == 3)
    m = accuracy_metrics(
        pred_train, y_train, pred_test, y_test, forget_indices=forget, forget_classes=(3,),
        num_classes=4, n_bootstrap=500, seed=3,
    )  # fmt: skip
    assert set(m.ci) == {"UA", "RA", "TUA", "TRA"}
    correct = pred_train == y_train
    assert m.interval("UA") == mean_interval(correct[forget], n_bootstrap=500, seed=3, name="UA")
    retain = y_train != 3
    expected_ra = class_mean_interval(
        correct[retain], y_train[retain], n_bootstrap=500, seed=3, name="RA"
    )
    assert m.interval("RA") == expected_ra
    for name, value in (("UA", m.ua), ("RA", m.ra), ("TUA", m.tua), ("TRA", m.tra)):
        lo, hi = m.interval(name)
        assert lo <= value <= hi and hi - lo < 0.5, name


def test_random_forgetting_has_no_tua_interval_and_no_bootstrap_no_intervals() -> None:
    y = np.repeat(np.arange(3), 30)
    args = (y, y, y, y)
    m = accuracy_metrics(
        *args, forget_indices=np.arange(0, 90, 9), forget_classes=None, num_classes=3,
        n_bootstrap=100,
    )  # fmt: skip
    assert set(m.ci) == {"UA", "RA", "TRA"} and np.isnan(m.interval("TUA")[0])
    assert m.interval("RA") == (1.0, 1.0)
    plain = accuracy_metrics(
        *args, forget_indices=np.arange(0, 90, 9), forget_classes=None, num_classes=3
    )
    assert plain.ci == {}


def test_one_forget_sample_gives_a_nan_ua_interval_with_a_warning() -> None:
    y = np.repeat(np.arange(2), 10)
    with pytest.warns(RuntimeWarning, match="UA"):
        m = accuracy_metrics(
            y, y, y, y, forget_indices=np.array([3]), forget_classes=None, num_classes=2,
            n_bootstrap=100,
        )  # fmt: skip
    assert np.isnan(m.interval("UA")[0]) and m.ua == 1.0
