"""Reconstruction robustness (ReRo) of DP-SGD: bounds on an informed adversary's success gamma.

Threat model (Balle, Cherubin, Hayes 2022, "Reconstructing training data with informed
adversaries", IEEE S&P): the adversary knows every training record but the target, drawn from a
prior with baseline success kappa (the paper of Ziller et al. 2024 uses kappa = 1/N_train). For
f-DP training, gamma <= 1 - f(kappa) (Hayes, Mahloujifar, Balle 2023, NeurIPS; Kaissis, Hayes,
Ziller, Rueckert 2023, arXiv 2307.03928). DP-SGD's worst case is the one-dimensional pair
null N(0, sigma^2)^T, alternative ((1-p) N(0, sigma^2) + p N(1, sigma^2))^T, and by
Neyman-Pearson gamma = inf over eps of [kappa e^eps + delta_{nu||mu}(eps)].

Methods (:data:`METHODS`, each giving gamma in [kappa, 1]): ``rigorous`` (upper bound: closed
forms, else a pessimistic connect-the-dots PLD composed by FFT; Doroshenko et al. 2022),
``gdp_clt`` (mu-GDP CLT; Bu, Dong, Long, Su 2020), ``edgeworth`` (Edgeworth expansion; Zheng,
Dong, Long, Su 2020) and ``glrt`` (relaxed adversary seeing X^2; Kaissis, Ziller, Kolek, Riess,
Rueckert 2023).
"""
