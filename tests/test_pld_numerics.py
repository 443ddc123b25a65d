"""The vectorised PLD numerics against dp_accounting's own loops: the one-step connect-the-dots
pmf and ε for δ of composed pmfs, over the settings the accountants meet."""

from __future__ import annotations

import numpy as np
import pytest
from dp_accounting.pld import privacy_loss_distribution

from rero.privacy.accounting.pld_numerics import epsilon_for_delta, gaussian_pld

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
