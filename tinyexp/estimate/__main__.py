"""`python -m tinyexp.estimate`: see tinyexp.estimate.cli."""

import sys

from tinyexp.estimate.cli import main

sys.exit(main())
