"""AWS Signature Version 4, for probing Bedrock with an access key pair.

Only what a probe needs: a request with no session token, signing the `host` and `x-amz-date`
headers and the payload's hash, with the service and region read from an AWS host name
(`bedrock.eu-west-1.amazonaws.com`). Checked against AWS's published test-suite signatures.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def service_and_region(host: str) -> tuple[str, str] | None:
    """("bedrock", "eu-west-1") for bedrock.eu-west-1.amazonaws.com; None for other hosts."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) == 4 and labels[2:] == ["amazonaws", "com"] and all(labels[:2]):
        return labels[0], labels[1]
    return None


def sign(method: str, url: str, body: bytes, *, access_key: str, secret_key: str,
         region: str, service: str, now: datetime | None = None) -> dict[str, str]:
    """The headers that sign the request: `X-Amz-Date` and `Authorization`."""
    amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None and parts.port != {"https": 443, "http": 80}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    headers = {"host": host, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([
        method.upper(),
        quote(parts.path or "/", safe="/~"),
        _canonical_query(parts.query),
        "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in sorted(headers)),
        signed,
        hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Amz-Date": amz_date,
        "Authorization": f"{ALGORITHM} Credential={access_key}/{scope}, "
                         f"SignedHeaders={signed}, Signature={signature}",
    }


def _canonical_query(query: str) -> str:
    pairs = [(quote(k, safe="-_.~"), quote(v, safe="-_.~"))
             for k, v in parse_qsl(query, keep_blank_values=True)]
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))
