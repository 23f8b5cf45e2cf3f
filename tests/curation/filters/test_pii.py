"""pii: e-mail and public IP redaction, and the look-alikes it must leave alone."""
from __future__ import annotations

import pytest

from winnow.curation.filters import FILTER_STEPS
from winnow.curation.filters.pii import PiiConfig, redact

from .helpers import run


@pytest.mark.parametrize(
    "text, expected, kind",
    [
        ("Write to jane.doe+news@example.co.uk today.", "Write to <EMAIL> today.", "pii_emails_redacted"),
        ("Contact: INFO@Mail.Example.ORG.", "Contact: <EMAIL>.", "pii_emails_redacted"),
        ("Our DNS is 8.8.8.8.", "Our DNS is <IP_ADDRESS>.", "pii_ipv4_redacted"),
        ("server 93.184.216.34:443 answered", "server <IP_ADDRESS>:443 answered", "pii_ipv4_redacted"),
        ("ping 2001:4860:4860::8888 now", "ping <IP_ADDRESS> now", "pii_ipv6_redacted"),
        ("[2606:4700:4700::1111]", "[<IP_ADDRESS>]", "pii_ipv6_redacted"),
    ],
)
def test_redacts(text, expected, kind):
    result = run("pii", text)
    assert result.kept
    assert result.text == expected
    assert result.signals[kind] == 1
    assert sum(result.signals.values()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Upgrade from 1.2.3.4.5 to 2.0.1 soon.",
        "Released as v1.2.3.4 and version 4.3.2.1.",
        "Private hosts 10.0.0.1, 192.168.1.1, 172.16.5.4 and loopback 127.0.0.1.",
        "Link-local 169.254.1.1, broadcast 255.255.255.255, unspecified 0.0.0.0, multicast 224.0.0.1.",
        "Not an address: 256.1.1.1 or 01.02.03.04.",
        "Write to user at example dot com.",
        "The meeting is on 2023.01.15 at 12:30:45, or 15.01.2023.",
        "Loopback ::1, link-local fe80::1, documentation 2001:db8::1, unique-local fd00::1.",
        "C++ uses std::vector and a::b, MAC 00:1a:2b:3c:4d:5e.",
        "Retina images like logo@2x.png and icon@3x.jpg.",
        "No at sign here, and a lone @ or foo@bar.",
    ],
)
def test_leaves_look_alikes_alone(text):
    result = run("pii", text)
    assert result.kept
    assert result.text is None, result.text
    assert all(v == 0 for v in result.signals.values())


def test_counts_several_per_document():
    text = "a@example.com, b@example.org; 1.1.1.1 and 9.9.9.9; 2001:4860:4860::8844"
    redacted, counts = redact(text, PiiConfig())
    assert counts == {"pii_emails_redacted": 2, "pii_ipv4_redacted": 2, "pii_ipv6_redacted": 1}
    assert redacted == "<EMAIL>, <EMAIL>; <IP_ADDRESS> and <IP_ADDRESS>; <IP_ADDRESS>"


def test_placeholders_and_switches_are_configurable():
    text = "mail a@example.com from 8.8.8.8"
    result = run("pii", text, email_placeholder="[mail]", ip_placeholder="[ip]")
    assert result.text == "mail [mail] from [ip]"
    assert run("pii", text, redact_ipv4=False).text == "mail <EMAIL> from 8.8.8.8"
    assert run("pii", text, redact_emails=False).text == "mail a@example.com from <IP_ADDRESS>"


def test_pii_never_rejects():
    assert FILTER_STEPS["pii"].reasons == ()
