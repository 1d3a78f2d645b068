"""`python -m fast_crewai.cli` == the `fast-crewai` console script."""

import sys

from fast_crewai.cli import main

sys.exit(main())
