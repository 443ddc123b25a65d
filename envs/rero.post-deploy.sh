#!/usr/bin/env bash
# Runs once inside the new conda environment, from Snakemake's working directory (the repository
# root when the workflow is started there, as the README shows): installs the rero package itself.
set -euo pipefail
python -m pip install --no-deps .
