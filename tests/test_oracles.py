"""Frequency oracles: unbiased, variance as the formula says, compact, mergeable.

Statistics pool over items: with D values and R seeded runs the normalised
squared error has a relative standard error of about sqrt(2 / (D R)), so the
10% variance tolerance is many standard errors wide while a wrong formula
(or a biased estimator) still fails clearly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from discreet.protocol import (
    FrequencyOracle,
    LocalHashing,
    RandomisedResponse,
    choose_oracle,
    optimal_variance,
    oracle_from_json,
)
from discreet.protocol.lh import fwht
from discreet.protocol.mechanisms import MECHANISMS, mechanism_code, mechanism_name

EPSILONS = (0.5, 1.0, 2.0, 4.0)
D, N, RUNS = 64, 4_000, 200


def _population(rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, D + 1) ** 1.1  # Zipf-like, as real popularity is
    return rng.choice(D, size=N, p=weights / weights.sum())


def _params(mechanism: str, epsilon: float) -> FrequencyOracle:
    if mechanism == "grr":
        return RandomisedResponse(epsilon, D)
    best = choose_oracle(2**20, epsilon)  # the hash size chosen for large domains
    return LocalHashing(epsilon, D, best.hash_bits)


@pytest.mark.parametrize("epsilon", EPSILONS)
@pytest.mark.parametrize("mechanism", ["grr", "lh"])
def test_estimates_are_unbiased_with_the_predicted_variance(mechanism: str, epsilon: float) -> None:
    rng = np.random.default_rng(int(epsilon * 100) + len(mechanism))
    params = _params(mechanism, epsilon)
    values = _population(rng)
    truth = np.bincount(values, minlength=D).astype(float)
    errors = np.empty((RUNS, D))
    for run in range(RUNS):
        payloads = params.privatise_many(values, rng)
        errors[run] = params.estimate(params.sketch(payloads), N) - truth
    predicted = np.asarray(params.variance(N, truth))
    z = errors.mean(axis=0) / np.sqrt(predicted / RUNS)
    assert np.abs(z).max() < 4.0, f"biased: worst z {np.abs(z).max():.2f}"
    assert abs(z.mean()) < 4.0 / math.sqrt(D)
    ratio = float((errors**2 / predicted).mean())
    assert abs(ratio - 1.0) < 0.10, f"variance off by {ratio - 1:+.1%}"


@pytest.mark.parametrize("epsilon", [1.0, 2.0, 4.0])
def test_large_domain_variance_is_within_ten_percent_of_the_optimum(epsilon: float) -> None:
    for d in (10**3, 10**4, 10**5, 10**6):
        params = choose_oracle(d, epsilon)
        assert params.payload_bits <= 32
        assert float(params.variance(1)) <= 1.1 * optimal_variance(epsilon)


def test_single_reports_follow_the_same_distribution_as_batches() -> None:
    """The device path (one report at a time) supports the truth with probability p, else q."""
    rng = np.random.default_rng(11)
    for params in (RandomisedResponse(1.0, 5), LocalHashing(1.0, 200, 2)):
        draws = 6_000
        support_true = support_other = 0
        for _ in range(draws):
            payload = params.privatise(7 if params.domain_size > 7 else 3, rng)
            sketch = params.sketch(np.array([payload]))
            support = params.estimate(sketch, 1) * (params.p - params.q) + params.q
            support_true += round(support[7 if params.domain_size > 7 else 3])
            support_other += round(support[1])
        for observed, expected in ((support_true, params.p), (support_other, params.q)):
            sd = math.sqrt(draws * expected * (1 - expected))
            assert abs(observed - draws * expected) < 4 * sd, (params, observed, expected)


def test_payload_size_does_not_depend_on_the_value() -> None:
    rng = np.random.default_rng(3)
    for params in (choose_oracle(13, 1.0), choose_oracle(300_001, 4.0)):
        payloads = params.privatise_many(np.arange(min(params.domain_size, 5000)), rng)
        assert payloads.min() >= 0
        assert payloads.max() < 2**params.payload_bits


def test_sketches_merge_by_addition() -> None:
    rng = np.random.default_rng(5)
    params = LocalHashing(2.0, 1000, 3)
    a = params.privatise_many(rng.integers(0, 1000, 500), rng)
    b = params.privatise_many(rng.integers(0, 1000, 700), rng)
    merged = params.sketch(a) + params.sketch(b)
    np.testing.assert_array_equal(merged, params.sketch(np.concatenate([a, b])))


def test_walsh_hadamard_transform_matches_the_matrix() -> None:
    k = 4
    signs = np.array([[(-1) ** bin(i & j).count("1") for j in range(2**k)] for i in range(2**k)])
    vector = np.arange(2**k, dtype=float) ** 1.5
    np.testing.assert_allclose(fwht(vector), signs @ vector)


@pytest.mark.parametrize(
    "bad",
    [
        {"mechanism": "rappor", "epsilon": 1.0, "domain_size": 10},
        {"mechanism": "grr", "epsilon": 0.0, "domain_size": 10},
        {"mechanism": "grr", "epsilon": 1.0, "domain_size": 1},
        {"mechanism": "lh", "epsilon": 1.0, "domain_size": 10},
        {"mechanism": "lh", "epsilon": 1.0, "domain_size": 2**20, "hash_bits": 8},
        {"mechanism": "grr", "epsilon": 1.0, "domain_size": 10, "hash_bits": 2},
    ],
)
def test_invalid_parameters_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        oracle_from_json(bad)


def test_parameters_round_trip_and_reject_garbage() -> None:
    for params in (choose_oracle(17, 2.0), choose_oracle(10**5, 1.0)):
        assert oracle_from_json(params.to_json()) == params
    for garbage in ([], {"mechanism": "grr"}, {**choose_oracle(17, 2.0).to_json(), "x": 1}):
        with pytest.raises(ValueError):
            oracle_from_json(garbage)
    with pytest.raises(ValueError, match="outside the domain"):
        choose_oracle(17, 2.0).privatise(17, np.random.default_rng(0))
    with pytest.raises(ValueError, match="out of range"):
        RandomisedResponse(1.0, 5).sketch(np.array([5]))


@pytest.mark.parametrize(
    "params",
    [
        RandomisedResponse(1.0, 12),
        LocalHashing(1.0, 1000, 2),
        LocalHashing(4.0, 5000, 5),
        LocalHashing(2.0, 3, 1),
    ],
    ids=str,
)
def test_the_sparse_sketch_is_the_dense_one(params: FrequencyOracle) -> None:
    """Small batches (counted in plain Python) and large ones both match ``sketch``."""
    rng = np.random.default_rng(11)
    limit = params.sparse_limit()
    for size in (0, 1, 2, 7, limit - 1, limit, limit + 1, 300):
        payloads = params.privatise_many(rng.integers(0, params.domain_size, size), rng)
        dense = params.sketch(payloads)
        cells, values = params.sparse_sketch(payloads.tolist())
        np.testing.assert_array_equal(cells, np.flatnonzero(dense))
        np.testing.assert_array_equal(values, dense[cells])
    for bad in ([-1], [2**params.payload_bits], [0, 2**40]):
        with pytest.raises(ValueError, match="out of range"):
            params.sparse_sketch(bad)


def test_the_registry_is_the_one_map_from_names_and_codes_to_mechanisms() -> None:
    assert set(MECHANISMS) == {"grr", "lh"}
    codes = [cls.code for cls in MECHANISMS.values()]
    assert len(set(codes)) == len(codes)
    for name, cls in MECHANISMS.items():
        assert cls.mechanism == name
        assert issubclass(cls, FrequencyOracle)
        assert mechanism_name(mechanism_code(name)) == name
    with pytest.raises(ValueError, match="unknown mechanism"):
        mechanism_code("rappor")
    with pytest.raises(ValueError, match="unknown mechanism"):
        mechanism_name(99)


@pytest.mark.parametrize(
    "bad",
    [
        {"mechanism": "grr", "epsilon": True, "domain_size": 10},
        {"mechanism": "grr", "epsilon": 1.0, "domain_size": 10.0},
        {"mechanism": "lh", "epsilon": 1.0, "domain_size": 1000, "hash_bits": "2"},
        {"mechanism": "lh", "epsilon": 1.0, "domain_size": 1000, "hash_bits": 9},
    ],
)
def test_json_types_are_checked_not_coerced(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        oracle_from_json(bad)
