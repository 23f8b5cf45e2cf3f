"""`python -m winnow.cli ...` runs the `winnow` command."""
import sys

from winnow.cli import main

sys.exit(main())
