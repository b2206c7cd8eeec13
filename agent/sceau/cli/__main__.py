"""`python -m sceau.cli …`: the `sceau` command."""

import sys

from sceau.cli import main

sys.exit(main())
