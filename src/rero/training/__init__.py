"""DP-SGD training with Opacus (Abadi et al. 2016), the matching non-private baseline,
augmentation multiplicity (De et al. 2022), metrics, checkpoint and resume.

A run follows its :class:`rero.privacy.plan.PrivacyPlan` exactly: :func:`train_run` trains one
model (``config`` holds what the plan does not fix), checkpoints every epoch and writes
``model.pt`` (a byte-reproducible torch archive, :mod:`.checkpoint`) and ``metrics.json``, or stops
at the first non-finite loss, gradient or weight (:mod:`.finite`); :func:`load_trained_model`
reads the model back.
"""
