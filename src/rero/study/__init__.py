"""The study as the user specifies it, torch-free: strict reading and validation of the config
files with defaults and per-dataset settings (``config``), the config's spellings of budgets and
priors (``tokens``) and which per-sample-gradient engine can run which settings (``engines``)."""
