"""Privacy accounting for DP-SGD: ε(σ, q, T, δ) of T steps of the Poisson-subsampled Gaussian.

DP-SGD with Poisson sampling (rate q = B/N), T steps and Gaussian noise of standard deviation σ·C
on the clipped sum is the T-fold composition of the Poisson-subsampled Gaussian mechanism,
under the add/remove-one neighbouring relation. Three accountants bound its ε at a given δ:

- ``prv`` (:mod:`.prv`): the PRV accountant (Gopi, Lee & Wutschitz, NeurIPS 2021). It returns
  (lower, estimate, upper); the upper value is the rigorous bound reported here (Thm 5.5).
- ``pld`` (:mod:`.pld`): dp_accounting's privacy-loss distribution with pessimistic
  connect-the-dots discretisation (Doroshenko et al., PETS 2022); the value is an upper bound.
- ``rdp`` (:mod:`.rdp`): Rényi DP of the subsampled Gaussian (Mironov, Talwar & Zhang 2019)
  converted with Prop. 12 of Canonne, Kamath & Steinke 2020; always computable, loose at large ε.

``auto`` (:mod:`.registry`) uses the tightest one that can compute the number safely: PRV, then
PLD, then RDP. A PRV or PLD evaluation is sized before it runs and refused
(:class:`AccountantUnavailableError`) when it would exceed ``MEMORY_BUDGET_BYTES``; PRV is also
refused where its long-double arithmetic overflows or its mean-shift correction is inaccurate
(that error is multiplied by T and would silently shift ε). Every ε names its accountant.
σ calibration is in :mod:`rero.privacy.calibration`.
"""

from rero.privacy.accounting.base import AccountantUnavailableError, EpsilonResult
from rero.privacy.accounting.registry import ACCOUNTANTS, clear_cache, epsilon_for

__all__ = [
    "ACCOUNTANTS",
    "AccountantUnavailableError",
    "EpsilonResult",
    "clear_cache",
    "epsilon_for",
]
