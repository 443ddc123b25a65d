"""The from-scratch reconstruction law (Riess et al. 2024, arXiv:2402.12861): closed forms
against scipy, Monte Carlo of the inversion (numpy, and a real Opacus release), the whole run,
monotonicity, the NCC values, the image helpers and the ``bound`` command's fields.

Monte Carlo tolerances are five standard errors of the sample size used (seeded).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from rero import cli
from rero.privacy.rero.from_scratch import (
    expected_ncc,
    inclusion_counts,
    mse_law,
    ncc_bound,
    psnr_to_mse,
    single_release_success,
    whole_run_success,
)
from rero.privacy.rero.from_scratch_images import (
    curves_over_images,
    image_dimension,
    image_norms,
    summarise_norms,
)

SAMPLES = 4000
Z_TOLERANCE = 5.0


def reconstructions(
    image: np.ndarray, sigma: float, samples: int, rng: np.random.Generator
) -> np.ndarray:
    """``samples`` draws of the law's X_hat = X + sigma ||X|| Z."""
    noise = rng.standard_normal((samples, image.size))
    return image + sigma * np.linalg.norm(image) * noise


def cosine(recon: np.ndarray, image: np.ndarray) -> np.ndarray:
    return recon @ image / (np.linalg.norm(recon, axis=1) * np.linalg.norm(image))


@pytest.mark.parametrize(("dimension", "sigma", "norm"), [(1, 0.3, 1.0), (64, 0.05, 4.0)])
def test_single_release_is_the_gamma_and_chi2_cdf(dimension: int, sigma: float, norm: float):
    etas = np.array([0.0, 1e-4, 1e-3, 0.01, 0.04, 0.1, 1.0, np.inf])
    expected = stats.gamma.cdf(etas, dimension / 2, scale=2 * (sigma * norm) ** 2 / dimension)
    chi2 = stats.chi2.cdf(etas * dimension / (sigma * norm) ** 2, dimension)
    got = single_release_success(etas, sigma=sigma, dimension=dimension, data_norm=norm)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(got, chi2, rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(got, mse_law(sigma, dimension, norm).cdf(etas), rtol=1e-10)


def test_psnr_threshold_is_the_mse_threshold():
    assert psnr_to_mse(30.0) == pytest.approx(1e-3)
    assert psnr_to_mse(20.0, data_range=2.0) == pytest.approx(0.04)
    law = mse_law(0.02, 784, 10.0)
    psnrs = 10 * np.log10(1 / law.rvs(size=SAMPLES, random_state=np.random.default_rng(4)))
    tau = float(np.median(psnrs))
    prob = single_release_success(psnr_to_mse(tau), sigma=0.02, dimension=784, data_norm=10.0)
    assert float(prob) == pytest.approx(0.5, abs=Z_TOLERANCE * 0.5 / math.sqrt(SAMPLES))


def test_law_matches_monte_carlo_inversion():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, 64)
    sigma, norm = 0.05, float(np.linalg.norm(image))
    mse = ((reconstructions(image, sigma, SAMPLES, rng) - image) ** 2).mean(axis=1)
    law = mse_law(sigma, 64, norm)
    assert law.mean() == pytest.approx((sigma * norm) ** 2)
    assert abs(mse.mean() - law.mean()) <= Z_TOLERANCE * law.std() / math.sqrt(SAMPLES)
    for level in (0.1, 0.5, 0.9):
        below = np.mean(mse <= law.ppf(level))
        assert abs(below - level) <= Z_TOLERANCE * math.sqrt(level * (1 - level) / SAMPLES)
    assert stats.kstest(mse, law.cdf).pvalue > 1e-3


def test_noise_free_and_degenerate_thresholds():
    assert single_release_success(0.0, sigma=0.0, dimension=4, data_norm=1.0) == 1.0
    assert single_release_success(0.0, sigma=0.1, dimension=4, data_norm=0.0) == 1.0
    assert single_release_success(0.0, sigma=0.1, dimension=4, data_norm=1.0) == 0.0
    assert single_release_success(np.inf, sigma=0.1, dimension=4, data_norm=1.0) == 1.0
    never = (1 - 0.1) ** 20
    whole = whole_run_success(0.0, sigma=0.0, sample_rate=0.1, steps=20, dimension=4, data_norm=1)
    assert float(whole) == pytest.approx(1 - never, abs=1e-11)


@pytest.mark.parametrize("inclusions", [1, 3, 25])
def test_whole_run_at_fixed_count_is_one_release_at_sigma_over_root_k(inclusions: int):
    sigmas = np.array([0.01, 0.05, 0.2])
    kwargs = {"dimension": 100, "data_norm": 5.0}
    whole = whole_run_success(0.01, sigma=sigmas, sample_rate=1.0, steps=inclusions, **kwargs)
    single = single_release_success(0.01, sigma=sigmas / math.sqrt(inclusions), **kwargs)
    np.testing.assert_allclose(whole, single, rtol=1e-12, atol=1e-15)


def test_whole_run_errs_high_by_at_most_the_truncation():
    steps, rate, truncation = 60, 0.1, 1e-9
    sigmas = np.logspace(-3, -0.5, 12)
    kwargs = {"dimension": 50, "data_norm": 3.0}
    counts = np.arange(1, steps + 1)
    exact = stats.binom.pmf(counts, steps, rate) @ np.array(
        [single_release_success(0.02, sigma=sigmas / math.sqrt(k), **kwargs) for k in counts]
    )
    got = whole_run_success(
        0.02, sigma=sigmas, sample_rate=rate, steps=steps, truncation=truncation, **kwargs
    )
    assert np.all(got >= exact - 1e-15)
    assert np.all(got <= exact + truncation + 1e-15)
    assert np.ptp(got) > 0.5  # the grid spans the cliff


def test_whole_run_matches_averaging_every_inclusion():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, 16)
    sigma, rate, steps, eta = 0.2, 0.05, 100, 0.06
    counts = rng.binomial(steps, rate, SAMPLES)
    noise = rng.standard_normal((SAMPLES, counts.max(), image.size))
    copies = image + sigma * np.linalg.norm(image) * noise
    included = np.arange(counts.max())[None, :] < counts[:, None]
    summed = (copies * included[:, :, None]).sum(axis=1)
    with np.errstate(invalid="ignore"):
        averages = summed / counts[:, None]
    success = (counts > 0) & (((averages - image) ** 2).mean(axis=1) <= eta)
    prob = float(
        whole_run_success(
            eta,
            sigma=sigma,
            sample_rate=rate,
            steps=steps,
            dimension=16,
            data_norm=np.linalg.norm(image),
        )
    )
    assert 0.2 < prob < 0.8
    assert abs(success.mean() - prob) <= Z_TOLERANCE * math.sqrt(prob * (1 - prob) / SAMPLES)


def test_inclusion_counts_account_for_every_mass():
    for rate, steps in ((0.032, 256), (1e-3, 100_000), (0.5, 3), (1.0, 7)):
        counts, pmf, left_out = inclusion_counts(rate, steps)
        never = stats.binom.pmf(0, steps, rate)
        assert counts.min() >= 1
        assert 0 <= left_out <= 1e-12
        assert pmf.sum() + left_out + never == pytest.approx(1.0, abs=1e-13)
    assert len(inclusion_counts(1e-3, 100_000)[0]) < 200


def test_monotone_in_sigma_and_in_dimension_at_fixed_pixel_scale():
    sigmas = np.logspace(-3, 0, 40)
    single = single_release_success(1e-3, sigma=sigmas, dimension=784, data_norm=10.0)
    whole = whole_run_success(
        1e-3, sigma=sigmas, sample_rate=0.03, steps=300, dimension=784, data_norm=10.0
    )
    for curve in (single, whole, ncc_bound(sigmas, 784), expected_ncc(sigmas, 784)):
        assert np.all(np.diff(curve) <= 0)
        assert curve[0] > curve[-1]
    dimensions = [4, 16, 64, 256, 1024]
    rms = 0.5  # ||X|| = rms sqrt(N): images of the same pixel scale
    by_dimension = [
        single_release_success(0.01, sigma=0.15, dimension=n, data_norm=rms * math.sqrt(n))
        for n in dimensions
    ]
    assert np.all(np.diff(by_dimension) < 0)
    assert np.all(np.diff([ncc_bound(0.1, n) for n in dimensions]) < 0)
    # at a fixed norm the mean MSE is fixed: more pixels concentrate it (not monotone in N)
    law_mean = (0.15 * 1.0) ** 2
    few, many = (
        single_release_success(1.5 * law_mean, sigma=0.15, dimension=n, data_norm=1.0)
        for n in (4, 64)
    )
    assert many > few > 0.5


@pytest.mark.parametrize(("dimension", "sigma"), [(1, 1.0), (16, 0.1), (16, 0.5), (784, 0.1)])
def test_expected_ncc_matches_monte_carlo(dimension: int, sigma: float):
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 1, dimension) + 0.1
    values = cosine(reconstructions(image, sigma, SAMPLES, rng), image)
    tolerance = Z_TOLERANCE * values.std() / math.sqrt(SAMPLES) + 1e-12
    assert abs(values.mean() - float(expected_ncc(sigma, dimension))) <= tolerance


def test_ncc_bound_is_above_the_mean_ncc_only_from_n_sigma_squared_two():
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 1, 784)
    for sigma in (0.06, 0.1, 0.5):  # N sigma^2 = 2.8, 7.8, 196
        values = cosine(reconstructions(image, sigma, SAMPLES, rng), image)
        slack = Z_TOLERANCE * values.std() / math.sqrt(SAMPLES)
        assert values.mean() <= float(ncc_bound(sigma, 784)) + slack
        assert float(expected_ncc(sigma, 784)) <= float(ncc_bound(sigma, 784))
    small = np.ones(16)
    values = cosine(reconstructions(small, 0.1, SAMPLES, rng), small)  # N sigma^2 = 0.16
    slack = Z_TOLERANCE * values.std() / math.sqrt(SAMPLES)
    assert values.mean() > float(ncc_bound(0.1, 16)) + slack
    assert expected_ncc([0.0, 1e-200], 16).tolist() == [1.0, 1.0]
    assert ncc_bound(1e200, 4) == pytest.approx(0.5e-200)


def test_bad_arguments_name_what_is_wrong():
    cases = [
        (lambda: single_release_success(-1.0, sigma=0.1, dimension=4, data_norm=1.0), "mse_thr"),
        (lambda: single_release_success(0.1, sigma=np.nan, dimension=4, data_norm=1.0), "sigma"),
        (lambda: single_release_success(0.1, sigma=0.1, dimension=4, data_norm=np.inf), "data_n"),
        (lambda: single_release_success(0.1, sigma=0.1, dimension=0, data_norm=1.0), "dimension"),
        (lambda: inclusion_counts(0.0, 10), "sample_rate"),
        (lambda: inclusion_counts(0.5, 0), "steps"),
        (lambda: inclusion_counts(0.5, 10, truncation=0.0), "truncation"),
        (lambda: psnr_to_mse(np.nan), "psnr_db"),
        (lambda: psnr_to_mse(20.0, data_range=0.0), "data_range"),
        (lambda: mse_law(0.0, 4, 1.0), "sigma \\* data_norm"),
        (lambda: image_norms(np.ones(3)), "images"),
        (lambda: image_norms(np.full((2, 2), np.nan)), "non-finite"),
        (lambda: summarise_norms([]), "norms"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()


def test_image_helpers_and_curves_over_images():
    rng = np.random.default_rng(5)
    images = rng.uniform(0, 1, (200, 1, 6, 6))
    norms = image_norms(images)
    np.testing.assert_allclose(norms, np.sqrt((images**2).sum(axis=(1, 2, 3))))
    assert image_dimension(images) == 36
    summary = summarise_norms(norms)
    assert summary.smallest == norms.min() <= summary.quantile_5 <= summary.median
    assert summary.median == pytest.approx(np.median(norms))
    assert summary.count == 200
    sigmas = np.array([0.01, 0.03, 0.1])
    curves = curves_over_images(
        0.01, sigmas=sigmas, norms=norms, dimension=36, sample_rate=0.1, steps=50
    )
    assert curves.single_release.shape == curves.whole_run.shape == (3, 200)
    for row, sigma in enumerate(sigmas):
        single = single_release_success(0.01, sigma=sigma, dimension=36, data_norm=norms)
        np.testing.assert_allclose(curves.single_release[row], single)
        whole = whole_run_success(
            0.01, sigma=sigma, sample_rate=0.1, steps=50, dimension=36, data_norm=norms[7]
        )
        assert curves.whole_run[row, 7] == pytest.approx(float(whole), rel=1e-12)
    mean_single, mean_whole = curves.mean_over_images()
    np.testing.assert_allclose(mean_single, curves.single_release.mean(axis=1))
    assert np.all(mean_whole <= 1 - 0.9**50 + 1e-12)  # never included: a failure
    assert mean_whole[-1] > 10 * mean_single[-1]  # 5 inclusions on average help at high sigma


def test_cli_bound_from_scratch_fields(capsys: pytest.CaptureFixture[str]):
    base = ["bound", "--sigma", "0.02", "--sample-rate", "1", "--steps", "4", "--kappa", "0.01"]
    image = ["--dimension", "64", "--data-norm", "4"]
    assert cli.main([*base, *image, "--mse", "0.005", "--json"]) == 0
    scratch = json.loads(capsys.readouterr().out)["from_scratch"]
    law = {"dimension": 64, "data_norm": 4.0}
    assert scratch["single_release"] == pytest.approx(
        float(single_release_success(0.005, sigma=0.02, **law))
    )
    assert scratch["whole_run"] == pytest.approx(
        float(single_release_success(0.005, sigma=0.01, **law))
    )
    assert scratch["ncc_bound"] == pytest.approx(1 / math.sqrt(1 + 64 * 0.02**2))
    assert 0 < scratch["single_release"] < scratch["whole_run"] < 1
    assert cli.main([*base, *image, "--psnr", "20"]) == 0
    assert "from scratch, N=64" in capsys.readouterr().out
    bad = [
        (["--dimension", "64", "--mse", "0.1"], "--data-norm"),
        ([*image, "--mse", "-0.1"], "--mse -0.1: expected"),
        (["--dimension", "0", "--data-norm", "4", "--psnr", "20"], "--dimension 0: expected"),
        (["--dimension", "64", "--data-norm", "nan", "--psnr", "20"], "--data-norm nan"),
        ([*image, "--psnr", "nan"], "--psnr nan"),
    ]
    for flags, message in bad:
        assert cli.main([*base, *flags]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_opacus_release_inversion_follows_the_law():
    from rero.attacks.linear_inversion import invert_releases

    rng = np.random.default_rng(6)
    images = rng.uniform(0, 1, (200, 64))
    norms = np.linalg.norm(images, axis=1)
    sigma = 0.05
    recons = invert_releases(images, sigma=sigma, clip_norm=1.0, rows=4, seed=0)
    mse = ((recons - images) ** 2).mean(axis=1)
    levels = [mse_law(sigma, 64, norm).cdf(value) for norm, value in zip(norms, mse, strict=True)]
    assert stats.kstest(levels, "uniform").pvalue > 1e-3
    # clipping inactive (M < (C/||X||)^2): noise sigma C / sqrt(M) > sigma ||X||, the law errs high
    loose = invert_releases(images[:50], sigma=sigma, clip_norm=100.0, rows=4, seed=1)
    ratio = ((loose - images[:50]) ** 2).mean(axis=1) / (sigma * norms[:50]) ** 2
    assert ratio.mean() == pytest.approx(np.mean(100.0**2 / 4 / norms[:50] ** 2), rel=0.2)
    assert ratio.mean() > 10
