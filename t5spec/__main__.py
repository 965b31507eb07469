"""``python -m t5spec`` = the ``t5spec`` command."""

import sys

from t5spec.cli import main

sys.exit(main())
