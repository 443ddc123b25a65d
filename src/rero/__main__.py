"""``python -m rero``."""

import sys

from rero.cli import main

sys.exit(main())
