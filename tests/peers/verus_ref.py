#!/usr/bin/env python3
"""Independent reference for the Auspex Verus signature scheme (hashlib/hmac only).

`sign_request` is the seed's Python client code, ported unchanged except that the
key, secret and timestamp are parameters (the seed reads module constants and
`datetime.now()`), so the Rust tests can compare byte for byte.

`python3 verus_ref.py --seed-client URL` instead runs the seed's Python client
exactly as published (text below, only its URL replaced) against URL; when the
`requests` package is missing, a minimal stand-in built on urllib is provided.

Reads a JSON list of cases on stdin:
  {"method", "uri", "body", "key", "secret", "amz_date"}
and writes a JSON list of results:
  {"amz_date", "authorization", "canonical_request", "string_to_sign"}
"""
import hashlib
import hmac
import json
import sys
import types
import urllib.error
import urllib.request

SEED_URL = "https://api.auspex-labs.com/verus/classify"

# The seed's Python example, verbatim (indentation restored from the page).
SEED_CLIENT = r'''import hashlib
import hmac
import json
from datetime import datetime, timezone
import requests
API_KEY = "alk_1234567890abcdef"
API_SECRET = "als_abcdefghijklmnopqrstuvwxyz1234567890"
def sign_request(method, uri, body):
    """Generate HMAC-SHA256 signature for API request."""
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    date_stamp = amz_date[:8]
    # Derive signing key
    k_date = hmac.new(f"AWS4{API_SECRET}".encode(), date_stamp.encode(), hashlib.sha256).digest()
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
    authorization = f"HMAC-SHA256 Credential={API_KEY}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}"
    return {"Content-Type": "application/json", "X-Amz-Date": amz_date, "Authorization": authorization}
# Make request
body = json.dumps({"ipAddress": "8.8.8.8"})
headers = sign_request("POST", "/verus/classify", body)
response = requests.post("https://api.auspex-labs.com/verus/classify", headers=headers, data=body)
result = response.json()
print(f"Human: {result['human']}, Certainty: {result['certainty']}%")
'''


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


def _requests_stand_in():
    """Just enough of `requests` for the seed client: post(url, headers, data).json()."""
    mod = types.ModuleType("requests")

    class Response:
        def __init__(self, status, body):
            self.status_code = status
            self.text = body.decode()

        def json(self):
            return json.loads(self.text)

    def post(url, headers=None, data=None):
        data = data.encode() if isinstance(data, str) else data
        req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST")
        try:
            with urllib.request.urlopen(req) as r:
                return Response(r.status, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read())

    mod.post = post
    return mod


def run_seed_client(url):
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = _requests_stand_in()
    code = SEED_CLIENT.replace(SEED_URL, url)
    assert code != SEED_CLIENT, "the seed's URL was not found"
    exec(compile(code, "auspex_seed_client.py", "exec"), {"__name__": "__main__"})


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--seed-client":
        run_seed_client(sys.argv[2])
        return
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
