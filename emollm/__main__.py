"""`python -m emollm ...` (so `accelerate launch -m emollm train ...` works)."""

import sys

from emollm.cli import main

sys.exit(main())
