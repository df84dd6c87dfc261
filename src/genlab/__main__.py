"""``python -m genlab`` (also what ``torchrun -m genlab`` runs)."""

from __future__ import annotations

import sys

from genlab.cli import main

sys.exit(main())
