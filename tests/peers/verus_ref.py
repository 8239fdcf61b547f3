#!/usr/bin/env python3
"""Independent reference for the Auspex Verus signature scheme (hashlib/hmac only).

`sign_request` is the seed's Python client code, ported unchanged except that the
key, secret and timestamp are parameters (the seed reads module constants and
`datetime.now()`), so the Rust tests can compare byte for byte.

Reads a JSON list of cases on stdin:
  {"method", "uri", "body", "key", "secret", "amz_date"}
and writes a JSON list of results:
  {"amz_date", "authorization", "canonical_request", "string_to_sign"}
"""
import hashlib
import hmac
import json
import sys


def sign_request(method, uri, body, api_key, api_secret, amz_date):
    """Generate HMAC-SHA256 signature for API request."""
    date_stamp = amz_date[:8]

    # Derive signing key
    k_date = hmac.new(f"AWS4{api_secret}".encode(), date_stamp.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_date, b"verus", hashlib.sha256).digest()
    k_signing = hmac.new(k_service, b"aws4_request", hashlib.sha256).digest()

    # Create canonical request
    signed_headers = "x-amz-date"
    payload_hash = hashlib.sha256(body.encode()).hexdigest()
    canonical_headers = f"x-amz-date:{amz_date}\n"
    canonical_request = f"{method}\n{uri}\n\n{canonical_headers}\n{signed_headers}\n{payload_hash}"

    # Create string to sign
    credential_scope = f"{date_stamp}/verus/aws4_request"
    request_hash = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = f"HMAC-SHA256\n{amz_date}\n{credential_scope}\n{request_hash}"

    # Compute signature
    signature = hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()

    authorization = f"HMAC-SHA256 Credential={api_key}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}"
    return {
        "Content-Type": "application/json",
        "X-Amz-Date": amz_date,
        "Authorization": authorization,
        "_canonical_request": canonical_request,
        "_string_to_sign": string_to_sign,
    }


def main():
    cases = json.load(sys.stdin)
    out = []
    for c in cases:
        h = sign_request(c["method"], c["uri"], c["body"], c["key"], c["secret"], c["amz_date"])
        out.append({
            "amz_date": h["X-Amz-Date"],
            "authorization": h["Authorization"],
            "canonical_request": h["_canonical_request"],
            "string_to_sign": h["_string_to_sign"],
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
