"""Reconstruction attacks on DP-SGD updates, at the noise of a privacy plan.

Modules: ``dp_step`` (the DP-SGD gradient release the attacks observe), ``imprint``
(malicious-server imprint attack on one noised update; Fowl et al. 2022, Boenisch et al. 2023),
``prior_aware`` (informed adversary of Hayes, Mahloujifar, Balle 2023), ``matching`` (SSIM/MSE
matching and success rates) and ``job`` (one attack job of the workflow: both attacks at a plan).
"""
