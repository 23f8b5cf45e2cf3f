"""Stage names: where a record can leave the curation path.

A record is read, triaged (record type, HTTP status, media type, size) and
decoded before any recipe step runs; after that, each recipe step is a stage
named after the step (`extract`, `language`, `gopher_quality`, ...). These
names appear in `rejected.stage`, `errors.stage`, counters and stats.json.
"""
from __future__ import annotations

STAGE_READ = "read"
STAGE_TRIAGE = "triage"
STAGE_DECODE = "decode"
STAGE_EXTRACT = "extract"
STAGE_LANGUAGE = "language"

# The stages every record passes before the recipe's steps, in order.
PRE_STEP_STAGES: tuple[str, ...] = (STAGE_READ, STAGE_TRIAGE, STAGE_DECODE)


def stage_order(step_names: list[str] | tuple[str, ...]) -> list[str]:
    """Every stage of a run in the order a record meets them."""
    return [*PRE_STEP_STAGES, *(name for name in step_names if name not in PRE_STEP_STAGES)]
