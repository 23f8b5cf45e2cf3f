"""Quality filters, URL filter and PII redaction as curation steps.

`FILTER_STEPS` is the explicit registry the recipe loader reads: step name ->
`StepSpec`. Nothing registers itself on import.
"""
from __future__ import annotations

from winnow.curation.classifier.step import CLASSIFIER_STEP
from winnow.curation.decontaminate import DECONTAMINATE_STEP
from winnow.curation.filters.badwords import C4_BADWORDS_STEP
from winnow.curation.filters.c4 import C4_STEP
from winnow.curation.filters.fineweb import FINEWEB_STEP
from winnow.curation.filters.gopher import GOPHER_QUALITY_STEP, GOPHER_REPETITION_STEP
from winnow.curation.filters.pii import PII_STEP
from winnow.curation.filters.url import URL_FILTER_STEP
from winnow.curation.types import StepSpec

FILTER_STEPS: dict[str, StepSpec] = {
    "url_filter": URL_FILTER_STEP,
    "gopher_repetition": GOPHER_REPETITION_STEP,
    "gopher_quality": GOPHER_QUALITY_STEP,
    "c4": C4_STEP,
    "c4_badwords": C4_BADWORDS_STEP,
    "decontaminate": DECONTAMINATE_STEP,
    "fineweb": FINEWEB_STEP,
    "pii": PII_STEP,
    "classifier": CLASSIFIER_STEP,
}

__all__ = ["FILTER_STEPS"]
