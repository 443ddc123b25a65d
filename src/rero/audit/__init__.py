"""Privacy auditing of the training code: an empirical, statistically valid lower bound on ε.

Canaries are inserted into the DP-SGD path of ``python -m rero train`` (:mod:`rero.audit.runner`,
:mod:`rero.audit.canaries`); a white-box auditor (every noisy step, gradient canaries) and a
black-box one (the final model, mislabelled input canaries) guess their membership
(:mod:`rero.audit.game`), and the guesses give ε lower bounds at the plan's δ
(:mod:`rero.audit.statistics`; Steinke, Nasr and Jagielski 2023). A correct implementation
never yields a bound above its claimed ε, except with probability 1 − confidence.
"""
