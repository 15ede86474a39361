"""`python -m caveat` runs the command line."""

import sys

from caveat.cli import main

sys.exit(main())
