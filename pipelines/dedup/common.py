"""Names shared by the dedup modules: counters, summary keys, duplicate kinds, errors.

Beam-free, so the command line and the driver-side code can use them too.
"""
from __future__ import annotations
from winnow.curation import dedup_rules
from winnow.core.errors import RuntimeFailure

NAMESPACE = "dedup"
# Counter names (Metrics.counter(NAMESPACE, ...)) and summary keys.
DOCUMENTS_IN = "documents_in"
KEPT = "kept"
EXACT_DUPLICATES = "exact_duplicates"
NEAR_DUPLICATES = "near_duplicates"
FILES_READ = "files_read"
FILES_WRITTEN = "files_written"
CANDIDATE_EDGES = "candidate_edges"
EDGES_REJECTED_BY_VERIFY = "edges_rejected_by_verification"
CLUSTER_SIZE = "cluster_size"
CC_ROUNDS = "cc_rounds"

# Duplicate kinds (the `kind` column of duplicates/), defined with the rule that ranks them.
KIND_EXACT = dedup_rules.KIND_EXACT
KIND_NEAR = dedup_rules.KIND_NEAR

# Output columns added to kept documents (declared in schemas.DEDUP_FIELDS).
CLUSTER_ID = "cluster_id"
CLUSTER_SIZE_COLUMN = "minhash_cluster_size"

SCHEMA_TAG = "schema"
DOCUMENTS_TAG = "documents"
SUMMARY_FILE = "_dedup_summary.json"
ROWS_PER_FILE = 20_000
READ_BATCH_ROWS = 1024
PARQUET_COMPRESSION = "zstd"

# A light per-document record: (id, text key | None, url key | None, signature bytes | None).
Features = tuple


class DedupError(RuntimeFailure):
    """The dedup pipeline cannot produce a correct result (bad input, no convergence)."""
