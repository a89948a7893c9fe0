"""SigV4 against AWS's published test suite (aws-sig-v4-test-suite: get-vanilla and
get-vanilla-query-order-key-case, with the suite's example credentials and clock)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from provision.probe import sigv4

SUITE: dict[str, Any] = {
    "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "region": "us-east-1", "service": "service",
    "now": datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC),
}
PREFIX = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=")


@pytest.mark.parametrize(("url", "signature"), [
    ("https://example.amazonaws.com/",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("https://example.amazonaws.com/?Param2=value2&Param1=value1",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
])
def test_published_signatures(url: str, signature: str) -> None:
    headers = sigv4.sign("GET", url, b"", **SUITE)
    assert headers == {"X-Amz-Date": "20150830T123600Z", "Authorization": PREFIX + signature}


def test_everything_signed_changes_the_signature() -> None:
    base = sigv4.sign("GET", "https://example.amazonaws.com/", b"", **SUITE)
    variants = [
        sigv4.sign("POST", "https://example.amazonaws.com/", b"", **SUITE),
        sigv4.sign("GET", "https://example.amazonaws.com/x", b"", **SUITE),
        sigv4.sign("GET", "https://example.amazonaws.com/", b"{}", **SUITE),
        sigv4.sign("GET", "https://other.amazonaws.com/", b"", **SUITE),
        sigv4.sign("GET", "https://example.amazonaws.com:8443/", b"", **SUITE),
        sigv4.sign("GET", "https://example.amazonaws.com/", b"",
                   **{**SUITE, "secret_key": "other"}),
    ]
    signatures = {h["Authorization"].rsplit("=", 1)[1] for h in [base, *variants]}
    assert len(signatures) == 1 + len(variants)
    assert hashlib.sha256(b"").hexdigest() not in base["Authorization"]


def test_default_port_is_not_part_of_the_host() -> None:
    assert sigv4.sign("GET", "https://example.amazonaws.com:443/", b"", **SUITE) == \
        sigv4.sign("GET", "https://example.amazonaws.com/", b"", **SUITE)


@pytest.mark.parametrize(("host", "expected"), [
    ("bedrock.eu-west-1.amazonaws.com", ("bedrock", "eu-west-1")),
    ("BEDROCK.us-east-1.amazonaws.com.", ("bedrock", "us-east-1")),
    ("bedrock-runtime.us-east-1.amazonaws.com", ("bedrock-runtime", "us-east-1")),
    ("example.amazonaws.com", None),
    ("bedrock.eu-west-1.amazonaws.com.evil.example", None),
    ("127.0.0.1", None),
])
def test_service_and_region_from_the_host(host: str, expected: tuple[str, str] | None) -> None:
    assert sigv4.service_and_region(host) == expected
