"""`python -m winnow.pipelines.dedup`: the launcher's command line."""
import logging
import sys

from winnow.pipelines.dedup.launcher import main

logging.basicConfig(level=logging.WARNING)
sys.exit(main(sys.argv[1:]))
