"""The vectorised PLD numerics against dp_accounting's own code: the one-step connect-the-dots
pmf, the self-composition with its truncation bounds, and ε for δ of composed pmfs, over the
settings the accountants meet."""

from __future__ import annotations

import numpy as np
import pytest
from dp_accounting.pld import common, privacy_loss_distribution

from rero.privacy.accounting.pld_numerics import (
    epsilon_for_delta,
    gaussian_pld,
    self_compose,
    self_compose_pld,
    self_convolve_bounds,
)

# (σ, q, T, interval): the paper's MSD Liver and HAM10000 rates, the default study, full batch,
# and a tiny σ whose losses (~5,000) overflow e^loss
CASES = [
    (1.6, 1 / 106, 2000, 1.3e-5),
    (0.3, 1 / 106, 2000, 1.6e-3),
    (20.0, 0.2525, 300, 1e-5),
    (0.7, 256 / 8000, 256, 3e-4),
    (2.0, 1.0, 100, 1e-3),
    (0.01, 0.005, 1000, 1.0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("sigma", "sample_rate", "steps", "interval"), CASES)
def test_vectorised_pld_matches_dp_accounting(sigma, sample_rate, steps, interval):
    library = privacy_loss_distribution.from_gaussian_mechanism(
        sigma, sampling_prob=sample_rate, value_discretization_interval=interval
    )
    ours = gaussian_pld(sigma, sample_rate, interval)
    for theirs, mine in (
        (library._pmf_remove, ours._pmf_remove),
        (library._pmf_add, ours._pmf_add),
    ):
        theirs, mine = theirs.to_dense_pmf(), mine.to_dense_pmf()
        assert mine._lower_loss == theirs._lower_loss
        np.testing.assert_allclose(mine._probs, theirs._probs, rtol=0, atol=1e-9)
    composed = library.self_compose(steps)
    for delta in (1e-3, 1e-5, 8e-7):
        for pmf in (composed._pmf_remove, composed._pmf_add):
            dense = pmf.to_dense_pmf()
            assert epsilon_for_delta(dense, delta) == pytest.approx(
                dense.get_epsilon_for_delta(delta), rel=1e-8, abs=1e-12
            )


def test_epsilon_for_delta_edge_cases():
    """More mass at infinity than δ: inf; all mass below the answer: 0."""
    pmf = gaussian_pld(1.0, 0.5, 1e-3)._pmf_remove.to_dense_pmf()
    assert epsilon_for_delta(pmf, 0.999) == pmf.get_epsilon_for_delta(0.999) == 0.0
    composed = pmf.self_compose(10, tail_mass_truncation=1e-3)
    assert epsilon_for_delta(composed, 1e-4) == np.inf


@pytest.mark.slow
@pytest.mark.parametrize(("sigma", "sample_rate", "steps", "interval"), CASES)
@pytest.mark.parametrize("truncation", [1e-15, 1e-6])
def test_self_composition_matches_dp_accounting(sigma, sample_rate, steps, interval, truncation):
    """Same truncation bounds, window, pmf (real vs complex FFT: to 1e-12) and infinity mass."""
    pld = gaussian_pld(sigma, sample_rate, interval)
    for pmf in (pld._pmf_remove.to_dense_pmf(), pld._pmf_add.to_dense_pmf()):
        assert self_convolve_bounds(pmf._probs, steps, truncation) == (
            common.compute_self_convolve_bounds(pmf._probs, steps, truncation)
        )
        theirs, mine = pmf.self_compose(steps, truncation), self_compose(pmf, steps, truncation)
        assert mine._lower_loss == theirs._lower_loss
        assert mine._discretization == theirs._discretization
        assert mine._pessimistic_estimate == theirs._pessimistic_estimate
        assert mine._infinity_mass == pytest.approx(theirs._infinity_mass, rel=1e-12, abs=0)
        assert len(mine._probs) == len(theirs._probs)
        np.testing.assert_allclose(mine._probs, theirs._probs, rtol=0, atol=1e-12)
    composed = self_compose_pld(pld, steps, truncation)
    assert composed._symmetric == (sample_rate == 1)
    for delta in (1e-5, 8e-7):
        assert composed.get_epsilon_for_delta(delta) == pytest.approx(
            pld.self_compose(steps, truncation).get_epsilon_for_delta(delta), rel=1e-9, abs=1e-12
        )
