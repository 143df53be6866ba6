"""``python -m artgan``: the same command line as the ``artgan`` script."""

import sys

from artgan.cli import console_main

sys.exit(console_main())
