"""Privacy accounting for DP-SGD: ε(σ, q, T, δ) of T steps of the Poisson-subsampled Gaussian.

DP-SGD with Poisson sampling (rate q = B/N), T steps and Gaussian noise of standard deviation σ·C
on the clipped sum is the T-fold composition of the Poisson-subsampled Gaussian mechanism,
under the add/remove-one neighbouring relation. Four accountants bound its ε at a given δ:

- ``inclusions`` (:mod:`.inclusions`): conditioning on how often the example is sampled; a
  bracket of relative width ≤ 1e-3 at small σ (large ε), refused elsewhere.
- ``pld`` (:mod:`.pld`, :mod:`.pld_bracket`): dp_accounting's privacy-loss distribution with
  pessimistic connect-the-dots discretisation (Doroshenko et al., PETS 2022), an upper bound, and
  a rounded-down PLD whose rounding is given back by Hoeffding's inequality, a lower bound.
- ``prv`` (:mod:`.prv`): the PRV accountant (Gopi, Lee & Wutschitz, NeurIPS 2021), reported only
  when its upper value is at least the PLD's certified upper bound; its own estimate is recorded
  beside every calibrated plan's certified bracket (:func:`.prv.prv_estimate`), never reported.
- ``rdp`` (:mod:`.rdp`): Rényi DP of the subsampled Gaussian (Mironov, Talwar & Zhang 2019)
  converted with Prop. 12 of Canonne, Kamath & Steinke 2020; always computable, loose at large ε.

``auto`` (:mod:`.registry`) uses the first that computes the number safely: small-σ, then PLD,
then RDP. A PRV or PLD evaluation is sized before it runs and refused
(:class:`AccountantUnavailableError`) when it would exceed ``MEMORY_BUDGET_BYTES``; PRV is also
refused where its long-double arithmetic overflows or its mean-shift correction is inaccurate
(that error is multiplied by T and would silently shift ε). Every ε names its accountant.
σ calibration is in :mod:`rero.privacy.calibration`.
"""
