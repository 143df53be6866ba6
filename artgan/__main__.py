"""``python -m artgan``: the same command line as the ``artgan`` script."""

import sys

from artgan.cli import main

sys.exit(main())
