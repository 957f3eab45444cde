"""Tests of analysis.mia.privacy_score: the ε formula, the sweep, PS and threshold strategies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from scipy.stats import entropy as scipy_entropy

from analysis.errors import ValidationError
from analysis.mia.privacy_score import (
    attack_score_from_epsilon,
    epsilon_from_rates,
    privacy_score,
    privacy_score_from_values,
    privacy_score_interval,
    privacy_score_replicates,
    threshold_common,
    threshold_custom,
    threshold_max_attack,
    threshold_max_success,
    threshold_worst_case,
)

DELTA = 1e-5


def _eps_literal(fpr: float, fnr: float, form: str = "min") -> float:
    """The DESIGN formula, written out literally (clip, then the two log ratios)."""
    high = 1 - DELTA - 1e-10
    fpr, fnr = min(max(fpr, 1e-10), high), min(max(fnr, 1e-10), high)
    first = math.log(1 - DELTA - fpr) - math.log(fnr)
    second = math.log(1 - DELTA - fnr) - math.log(fpr)
    inner = min(first, second) if form == "min" else max(first, second)
    return max(0.0, inner)


def _brute_curve(pos: np.ndarray, neg: np.ndarray, t: float) -> dict[str, float]:
    tpr = sum(v >= t for v in pos) / len(pos)
    fpr = sum(v >= t for v in neg) / len(neg)
    correct = sum(v >= t for v in pos) + sum(v < t for v in neg)
    eps = _eps_literal(fpr, 1 - tpr)
    return {
        "fpr": fpr,
        "fnr": 1 - tpr,
        "epsilon": eps,
        "attack_score": 1 - 2**-eps,
        "success_rate": correct / (len(pos) + len(neg)),
        "epsilon_max_form": _eps_literal(fpr, 1 - tpr, "max"),
    }


# Hand-computed with 30-digit arithmetic from the formula (δ = 1e-5):
#   (FPR, FNR) = (0.1, 0.2):  log(0.89999) - log(0.2) = 1.504066285603434,
#                             log(0.79999) - log(0.1) = 2.079429041601710
#   (0, 0) -> both clipped to 1e-10: log(1 - 1e-5 - 1e-10) - log(1e-10) = 23.02584092979046
#   (0.5, 0.5): log(0.49999) - log(0.5) < 0 -> 0
#   (0, 0.9): log(1 - 1e-5 - 1e-10) - log(0.9) = 0.1053505155078250,
#             log(0.09999) - log(1e-10) = 20.72316583194608
@pytest.mark.parametrize(
    ("fpr", "fnr", "eps_min", "eps_max", "score_min"),
    [
        (0.1, 0.2, 1.5040662856034341, 2.0794290416017103, 0.64744170878115824),
        (0.0, 0.0, 23.025840929790456, 23.025840929790456, 0.99999988290692675),
        (0.5, 0.5, 0.0, 0.0, 0.0),
        (0.0, 0.9, 0.10535051550782497, 20.723165831946078, 0.070420934272890747),
        (0.25, 0.5, 0.40545177468594137, 0.69312718035994264, 0.24500016968130389),
        (1.0, 1.0, 0.0, 0.0, 0.0),
    ],
)
def test_epsilon_and_attack_score_hand_cases(
    fpr: float, fnr: float, eps_min: float, eps_max: float, score_min: float
) -> None:
    assert epsilon_from_rates(fpr, fnr)[0] == pytest.approx(eps_min, rel=1e-12, abs=1e-15)
    assert epsilon_from_rates(fpr, fnr, form="max")[0] == pytest.approx(eps_max, rel=1e-12)
    assert attack_score_from_epsilon(eps_min)[0] == pytest.approx(score_min, rel=1e-12)


def test_small_case_by_hand() -> None:
    # model [1, 2, 3] vs retrain [2, 3, 4], direction model_positive, thresholds 1..4:
    #   t=1: TPR 1,   FPR 1   -> eps 0
    #   t=2: TPR 2/3, FPR 1   -> eps 0
    #   t=3: TPR 1/3, FPR 2/3 -> eps 0
    #   t=4: TPR 0,   FPR 1/3 -> eps 0
    # retrain_positive (positives 2, 3, 4; negatives 1, 2, 3):
    #   t=1: TPR 1,   FPR 1   -> eps 0
    #   t=2: TPR 1,   FPR 2/3 -> FNR clipped to 1e-10:
    #        min(log(1-δ-2/3) - log(1e-10), log(1-δ-1e-10) - log(2/3)) = 0.4054551...
    #   t=3: TPR 2/3, FPR 1/3 -> both terms log(1-δ-1/3) - log(1/3) = log(2 - 3δ) = 0.6931322...
    #   t=4: TPR 1/3, FPR 0   -> mirror of t=2: 0.4054551...
    r = privacy_score_from_values({"s": [1.0, 2.0, 3.0]}, {"s": [2.0, 3.0, 4.0]})
    forward = r.curve("s", "model_positive")
    np.testing.assert_array_equal(forward.thresholds, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(forward.fpr, [1, 1, 2 / 3, 1 / 3])
    np.testing.assert_allclose(forward.fnr, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(forward.epsilon, 0.0)
    backward = r.curve("s", "retrain_positive")
    side = math.log(1 - DELTA - 1e-10) - math.log(2 / 3)
    worst = math.log(2 - 3 * DELTA)
    np.testing.assert_allclose(backward.epsilon, [0.0, side, worst, side], rtol=1e-12)
    np.testing.assert_allclose(backward.success_rate, [0.5, 4 / 6, 4 / 6, 4 / 6])
    assert r.ps == pytest.approx(2**-worst, rel=1e-12)
    assert (r.worst_signal, r.worst_direction, r.worst_threshold) == ("s", "retrain_positive", 3.0)


@pytest.mark.parametrize("grid", ["exact", "uniform51"])
def test_retrain_against_itself_is_exactly_one(grid: str) -> None:
    logits = np.random.default_rng(0).normal(scale=4.0, size=(500, 10))
    result = privacy_score(logits, logits.copy(), grid=grid)  # type: ignore[arg-type]
    assert result.ps == 1.0
    assert result.ps_max_form == 1.0


def test_well_separated_sets_score_near_zero() -> None:
    rng = np.random.default_rng(1)
    confident = rng.normal(size=(200, 10)) + 12.0 * np.eye(10)[rng.integers(0, 10, 200)]
    flat = rng.normal(scale=0.1, size=(200, 10))
    result = privacy_score(confident, flat)
    assert result.ps < 1e-6
    assert result.ps_max_form < 1e-6


def test_privacy_score_uses_t2_entropy_and_logit_confidence() -> None:
    rng = np.random.default_rng(2)
    model, retrain = rng.normal(size=(40, 5)), rng.normal(size=(35, 5))
    result = privacy_score(model, retrain)
    p = softmax(model, axis=1)
    np.testing.assert_allclose(
        result.model_values["entropy_t2"], scipy_entropy(softmax(model / 2, axis=1), axis=1)
    )
    np.testing.assert_allclose(
        result.model_values["logit_conf"], np.log(p.max(1)) - np.log(1 - p.max(1)), rtol=1e-9
    )
    assert [(c.signal, c.direction) for c in result.curves] == [
        ("entropy_t2", "model_positive"),
        ("entropy_t2", "retrain_positive"),
        ("logit_conf", "model_positive"),
        ("logit_conf", "retrain_positive"),
    ]


def test_vectorised_sweep_matches_brute_force_loop() -> None:
    rng = np.random.default_rng(4)
    model = rng.normal(size=60).round(1)  # rounding creates ties within and across sets
    retrain = (rng.normal(size=45) + 0.7).round(1)
    result = privacy_score_from_values({"v": model}, {"v": retrain})
    for direction, pos, neg in (
        ("model_positive", model, retrain),
        ("retrain_positive", retrain, model),
    ):
        curve = result.curve("v", direction)  # type: ignore[arg-type]
        np.testing.assert_array_equal(curve.thresholds, sorted(set(model) | set(retrain)))
        for i, t in enumerate(curve.thresholds):
            for field, value in _brute_curve(pos, neg, t).items():
                # abs 1e-6: the literal clip leaves ~1e-7 of rounding noise in 1 - δ - FPR at
                # FPR = 1 (max form); the library computes that slack without it
                assert getattr(curve, field)[i] == pytest.approx(value, rel=1e-12, abs=1e-6)


def test_exact_grid_is_the_worst_case() -> None:
    rng = np.random.default_rng(6)
    for _ in range(5):
        model, retrain = rng.normal(size=30), rng.normal(size=30) + rng.uniform(0, 2)
        exact = privacy_score_from_values({"v": model}, {"v": retrain})
        uniform = privacy_score_from_values({"v": model}, {"v": retrain}, grid="uniform51")
        assert exact.ps <= uniform.ps
        assert exact.ps_max_form <= exact.ps  # max form: ε at least as large
        # no threshold anywhere (fine grid, beyond both ends) beats the exact sweep
        fine = np.linspace(
            min(model.min(), retrain.min()) - 1, max(model.max(), retrain.max()) + 1, 2001
        )
        best = max(
            1 - 2 ** -_brute_curve(p, n, t)["epsilon"]
            for p, n in ((model, retrain), (retrain, model))
            for t in fine
        )
        assert 1 - exact.ps >= best - 1e-12


def test_uniform51_grid_spans_min_to_max() -> None:
    result = privacy_score_from_values({"v": [0.0, 1.0]}, {"v": [5.0]}, grid="uniform51")
    np.testing.assert_allclose(result.curves[0].thresholds, np.linspace(0.0, 5.0, 51))


def _two_models() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    return rng.normal(size=50), rng.normal(size=40) + 0.5, rng.normal(size=50) + 1.5


def test_strategies_agree_with_curves_and_outcomes() -> None:
    model, _, retrain = _two_models()
    r = privacy_score_from_values({"v": model}, {"v": retrain})
    worst = threshold_worst_case(r)
    assert worst.attack_score == pytest.approx(1 - r.ps)
    best = threshold_max_attack(r, signal="v")
    assert best.attack_score == worst.attack_score
    success = threshold_max_success(r, signal="v", direction="retrain_positive")
    curve = r.curve("v", "retrain_positive")
    assert success.success_rate == curve.success_rate.max()
    custom = threshold_custom(r, 0.9, signal="v", direction="retrain_positive")
    assert custom.fpr == np.mean(model >= 0.9) and custom.fnr == np.mean(retrain < 0.9)
    np.testing.assert_array_equal(custom.retrain.predicted_positive, retrain >= 0.9)
    np.testing.assert_array_equal(custom.retrain.correct, retrain >= 0.9)
    np.testing.assert_array_equal(custom.model.correct, model < 0.9)
    n_correct = custom.model.correct.sum() + custom.retrain.correct.sum()
    assert custom.success_rate == pytest.approx(n_correct / (len(model) + len(retrain)))
    assert custom.epsilon == pytest.approx(_eps_literal(custom.fpr, custom.fnr))


def test_common_threshold_matches_brute_force() -> None:
    model_a, model_b, retrain = _two_models()
    a = privacy_score_from_values({"v": model_a}, {"v": retrain})
    b = privacy_score_from_values({"v": model_b}, {"v": retrain})
    chosen = threshold_common(a, b, signal="v", direction="retrain_positive")
    candidates = np.unique(np.r_[model_a, model_b, retrain])
    means = [
        (
            1
            - 2 ** -_brute_curve(retrain, model_a, t)["epsilon"]
            + 1
            - 2 ** -_brute_curve(retrain, model_b, t)["epsilon"]
        )
        / 2
        for t in candidates
    ]
    assert chosen.mean_attack_score == pytest.approx(max(means), rel=1e-12)
    assert chosen.a.threshold == chosen.b.threshold == candidates[int(np.argmax(means))]
    assert chosen.a.direction == chosen.b.direction == "retrain_positive"


def test_common_threshold_needs_the_same_retrain() -> None:
    model_a, model_b, retrain = _two_models()
    a = privacy_score_from_values({"v": model_a}, {"v": retrain})
    b = privacy_score_from_values({"v": model_b}, {"v": retrain + 1.0})
    with pytest.raises(ValidationError, match=r"^result_b: expected the same retrain"):
        threshold_common(a, b, signal="v")


def test_bad_input_names_the_argument() -> None:
    r = privacy_score_from_values({"v": [0.0, 1.0]}, {"v": [1.0, 2.0]})
    with pytest.raises(ValidationError, match=r"^grid: expected"):
        privacy_score_from_values({"v": [0.0]}, {"v": [1.0]}, grid="fine")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^retrain_values: expected the signals"):
        privacy_score_from_values({"v": [0.0]}, {"w": [1.0]})
    with pytest.raises(ValidationError, match=r"^model_values\['v'\]: expected"):
        privacy_score_from_values({"v": [np.nan]}, {"v": [1.0]})
    with pytest.raises(ValidationError, match=r"^retrain_logits: expected 3 classes"):
        privacy_score(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValidationError, match=r"^model_logits: expected"):
        privacy_score(np.zeros((2, 3, 1)), np.zeros((2, 3)))
    with pytest.raises(ValidationError, match=r"^direction: expected"):
        threshold_custom(r, 0.5, signal="v", direction="both")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"^signal: expected"):
        threshold_max_attack(r, signal="entropy")
    with pytest.raises(ValidationError, match=r"^fpr: expected"):
        epsilon_from_rates(1.5, 0.1)


def test_max_form_saturation_flag() -> None:
    rng = np.random.default_rng(5)
    confident = rng.normal(size=(100, 10)) + 6.0 * np.eye(10)[rng.integers(0, 10, 100)]
    flat = rng.normal(scale=0.5, size=(100, 10))
    saturated = privacy_score(confident, flat)
    assert saturated.max_form_saturated and saturated.ps_max_form < 1e-5
    same = privacy_score(flat, flat.copy())
    assert not same.max_form_saturated and same.ps_max_form == 1.0
    # equal extremes on both sides: no threshold isolates one side, the max form is finite
    shared = privacy_score_from_values({"s": [0.0, 1.0, 2.0, 3.0]}, {"s": [0.0, 1.5, 2.5, 3.0]})
    assert not shared.max_form_saturated and shared.ps_max_form > 0.1


# ------------------------------------------------------------------------------- bootstrap


@settings(max_examples=80, deadline=None)
@given(
    st.integers(2, 30),
    st.integers(2, 30),
    st.integers(0, 4),
    st.sampled_from(["exact", "uniform51"]),
    st.integers(0, 10_000),
)
def test_replicates_equal_a_direct_recomputation_on_the_resample(
    n: int, n_r: int, ties: int, grid: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)

    def draw(k: int) -> np.ndarray:
        return rng.integers(0, ties + 2, k).astype(float) if ties else rng.normal(size=k)

    model, retrain = draw(n), draw(n_r) + rng.normal()
    result = privacy_score_from_values(
        {"s": model, "t": -(model**2)}, {"s": retrain, "t": -(retrain**2)}, grid=grid
    )
    ps, ps_max = privacy_score_replicates(result, np.arange(n)[None], np.arange(n_r)[None])
    assert (ps[0], ps_max[0]) == (result.ps, result.ps_max_form)  # identity resample: exact
    im, ir = rng.integers(0, n, (4, n)), rng.integers(0, n_r, (4, n_r))
    ps, ps_max = privacy_score_replicates(result, im, ir)
    for row in range(4):
        m, r = model[im[row]], retrain[ir[row]]
        direct = privacy_score_from_values(
            {"s": m, "t": -(m**2)}, {"s": r, "t": -(r**2)}, grid=grid
        )
        assert ps[row] == pytest.approx(direct.ps, abs=1e-12)
        assert ps_max[row] == pytest.approx(direct.ps_max_form, abs=1e-12)


def test_interval_is_seeded_paired_and_covers_the_estimate() -> None:
    z = np.random.default_rng(0).normal(size=(80, 10))
    result = privacy_score(z, 1.2 * z + 0.1)
    (lo, hi), (lo_max, hi_max) = privacy_score_interval(result, n_bootstrap=300, seed=4)
    assert lo <= result.ps <= hi and 0.0 <= lo < hi <= 1.0
    assert lo_max <= result.ps_max_form <= hi_max
    assert privacy_score_interval(result, n_bootstrap=300, seed=4)[0] == (lo, hi)
    itself = privacy_score(z, z)
    assert privacy_score_interval(itself, n_bootstrap=100)[0] == (1.0, 1.0)  # paired: exact


def test_interval_of_one_forget_sample_warns_and_is_nan() -> None:
    result = privacy_score_from_values({"s": [1.0]}, {"s": [2.0]})
    with pytest.warns(RuntimeWarning, match="at least 2"):
        (lo, hi), _ = privacy_score_interval(result, n_bootstrap=50)
    assert math.isnan(lo) and math.isnan(hi)
