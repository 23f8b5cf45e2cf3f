"""Stable document ids and URL helpers."""
from __future__ import annotations

from urllib.parse import urlsplit

import xxhash


def document_id(warc_record_id: str | None, url: str | None = None, date: str | None = None) -> str:
    """A 16-hex-digit id: the hash of the WARC record id, or of url+date when there is none.

    Stable across runs, machines and input order, so splits and dedup choices
    that depend on it are reproducible.
    """
    key = warc_record_id.strip() if warc_record_id and warc_record_id.strip() else f"{url or ''}\x00{date or ''}"
    return xxhash.xxh3_64_hexdigest(key.encode("utf-8", "surrogatepass"))


def domain_of(url: str | None) -> str:
    """Lower-case host without `www.` and port; empty for unparsable URLs."""
    if not url:
        return ""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host
