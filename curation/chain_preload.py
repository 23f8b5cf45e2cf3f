"""Imported by the extraction fork server only, before it forks any child.

A chain child (document_chain.py) runs language ID and the filters after
extraction; importing them and loading spaCy's tokenizer once here means
each child, and each child restarted after a timeout, is forked with them
ready instead of paying about a second on its first document.
"""
import signal
import sys

from winnow.curation import document_chain  # noqa: F401 - the steps' modules
from winnow.curation.filters.reference_units import load_tokenizer

if "multiprocessing.forkserver" in sys.modules and sys.argv[:1] == ["-c"]:
    # The fork server ignores Ctrl-C once its preloads are done; the parent decides what stops,
    # so a Ctrl-C while spaCy loads here must not end it with a traceback either.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        load_tokenizer()
    except Exception:  # noqa: BLE001 - a fork server that dies here would take every extraction with it;
        pass  # the children then load the tokenizer themselves, and report any failure on a document
