"""What every job shares at run time: atomic writes and strict JSON (``io``), the package files a
subcommand runs (``sources``), line-based progress for job logs (``progress``) and the device
choices (``device``)."""
