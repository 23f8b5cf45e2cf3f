"""PII redaction as step `pii`: e-mail addresses and public IP addresses become placeholders.

A transform: it never rejects, it returns the redacted text and counts what it
replaced. Candidates found by regex are validated before they are replaced:
IPs with the `ipaddress` module (only globally routable unicast addresses are
personal data worth hiding; private, loopback, link-local, reserved,
multicast and documentation ranges are left alone), and look-alikes such as
version numbers (`1.2.3.4.5`, `v1.2.3.4`), dates and image names
(`logo@2x.png`) are skipped.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from winnow.curation.types import Document, Step, StepResult, StepSpec, Verdict

REASONS: tuple[str, ...] = ()  # a transform never rejects

SIGNALS: tuple[tuple[str, str], ...] = (
    ("pii_emails_redacted", "int"),  # >= 0
    ("pii_ipv4_redacted", "int"),  # >= 0
    ("pii_ipv6_redacted", "int"),  # >= 0
)

_EMAIL_RE = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![\w\-]|\.[A-Za-z0-9])"
)
# "name@2x.png" is an image file name, not an address.
_FILE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "avif"})

# Four dotted numbers not glued to more digits, dots or letters: "1.2.3.4.5" and "v1.2.3.4x" never match.
_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\w)")
# Every IPv4 match contains ".d.d" and every IPv6 match two colons at most four hex digits
# apart. Both hints start with a literal, which the regex engine finds by a fast scan; the
# full patterns start with a lookbehind and are tried at every position (30x slower).
_IPV4_HINT_RE = re.compile(r"\.\d{1,3}\.\d")
_IPV6_HINT_RE = re.compile(r":[0-9A-Fa-f]{0,4}:")
_VERSION_CONTEXT_RE = re.compile(r"(?:\bversion|\bver\.?|\brelease|\bbuild|\bv)\s*$", re.IGNORECASE)

# Hex groups separated by colons (at least two colons), optionally ending in a dotted IPv4.
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:]|\.\w)"
)


@dataclass(frozen=True)
class PiiConfig:
    """What to redact and the placeholders that replace it."""

    redact_emails: bool = True  # replace email addresses
    redact_ipv4: bool = True  # replace IPv4 addresses
    redact_ipv6: bool = True  # replace IPv6 addresses
    email_placeholder: str = "<EMAIL>"  # what replaces an email address
    ip_placeholder: str = "<IP_ADDRESS>"  # what replaces an IP address


def is_public_ip(candidate: str) -> bool:
    """True for a valid, globally routable unicast address (IPv4 or IPv6)."""
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback)


def _redact(
    pattern: re.Pattern[str], text: str, accept: Callable[[re.Match[str]], bool], placeholder: str
) -> tuple[str, int]:
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if accept(match):
            count += 1
            return placeholder
        return match.group(0)

    return pattern.sub(replace, text), count


def _accept_email(match: re.Match[str]) -> bool:
    return match.group(1).lower() not in _FILE_SUFFIXES


def _accept_ipv4(match: re.Match[str]) -> bool:
    preceding = match.string[max(0, match.start() - 12) : match.start()]
    return not _VERSION_CONTEXT_RE.search(preceding) and is_public_ip(match.group(0))


def _accept_ipv6(match: re.Match[str]) -> bool:
    return is_public_ip(match.group(0))


def redact(text: str, config: PiiConfig) -> tuple[str, dict[str, int]]:
    """The redacted text and the number of replacements of each kind."""
    emails = ipv4 = ipv6 = 0
    # Cheap substring tests skip the regexes for the many documents without candidates.
    if config.redact_emails and "@" in text:
        text, emails = _redact(_EMAIL_RE, text, _accept_email, config.email_placeholder)
    # IPv6 first: an IPv4 tail ("64:ff9b::8.8.8.8") belongs to the IPv6 address around it.
    if config.redact_ipv6 and _IPV6_HINT_RE.search(text):
        text, ipv6 = _redact(_IPV6_RE, text, _accept_ipv6, config.ip_placeholder)
    if config.redact_ipv4 and _IPV4_HINT_RE.search(text):
        text, ipv4 = _redact(_IPV4_RE, text, _accept_ipv4, config.ip_placeholder)
    return text, {"pii_emails_redacted": emails, "pii_ipv4_redacted": ipv4, "pii_ipv6_redacted": ipv6}


def build(config: PiiConfig) -> Step:
    """The pii step: returns the redacted text (None when nothing changed) and never rejects."""
    def step(doc: Document) -> StepResult:
        text, signals = redact(doc.text, config)
        return StepResult(signals, text=text if text != doc.text else None)

    return step


def decide(config: PiiConfig, row: Mapping[str, Any]) -> Verdict | None:
    """Redaction never rejects."""
    return None


PII_STEP = StepSpec(
    name="pii",
    config_type=PiiConfig,
    build=build,
    decide=decide,
    edits_text=True,
    recompute_fields=tuple(f.name for f in fields(PiiConfig)),
    signals=SIGNALS,
    reasons=REASONS,
    description="Replaces e-mail addresses and public IPv4/IPv6 addresses with placeholders; never rejects.",
)
