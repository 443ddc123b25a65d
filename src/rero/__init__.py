"""rero: the privacy budget that stops reconstruction of medical images, and its accuracy cost."""

__version__ = "0.2.0"
