"""`python -m squeeze.cli ...`: the same as the `squeeze` command (the README's torchrun line uses it)."""
import sys

from squeeze.cli import main

sys.exit(main())
