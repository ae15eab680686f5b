"""`python -m pipeline`: the command-line entry point."""

import sys

from pipeline.cli import main

sys.exit(main())
