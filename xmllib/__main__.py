"""`python -m xmllib ...`: see xmllib.cli."""

import sys

from xmllib.cli import main

sys.exit(main())
