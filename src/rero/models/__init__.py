"""The models of the study (``registry``: name → module, built lazily), the layers they share
with their per-sample-gradient samplers (``layers``, ``grad_samples``), the classifiers
(``classifiers``) and the 3-D U-Net (``unet3d``)."""
