"""``python -m vidkit``: the same as the ``vidkit`` command."""

import sys

from vidkit.cli import main

sys.exit(main())
