"""Imported by the extraction fork server only, before it forks any child.

A chain child (document_chain.py) runs language ID and the filters after
extraction. Loading spaCy's tokenizer here, and building the steps of the
chains `extract_pool.warm_up` named (WINNOW_CHAIN_PRELOAD), once, means each
child, and each child restarted after a timeout, is forked with them ready
instead of paying for them itself (about a second for spaCy; seconds and
hundreds of MB per process for a full UT1 blocklist).
"""
import signal
import sys

from winnow.curation import document_chain
from winnow.curation.filters.reference_units import load_tokenizer

if "multiprocessing.forkserver" in sys.modules and sys.argv[:1] == ["-c"]:
    # The fork server ignores Ctrl-C once its preloads are done; the parent decides what stops,
    # so a Ctrl-C while this runs must not end it with a traceback either.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        load_tokenizer()
        document_chain.build_ahead_from_environment()
    except Exception:  # noqa: BLE001 - a fork server that dies here would take every extraction with it;
        pass  # the children then build what they need themselves, and report any failure on a document
