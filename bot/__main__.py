"""`python -m bot …`: the command line (DESIGN §11)."""

import sys

from bot.cli import main

sys.exit(main())
