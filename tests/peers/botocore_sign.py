#!/usr/bin/env python3
"""Signs requests with botocore's real SigV4 signers, for the Rust tests.

Reads a JSON list of cases on stdin:
  {"method", "url", "headers": [[name, value], ...], "body", "key", "secret",
   "region", "service", "mode": "header" | "presign" | "s3-header",
   "expires": seconds (presign only), "timestamp": "YYYYMMDDTHHMMSSZ" or null}
and writes, per case, the request as it goes on the wire:
  {"method", "url", "headers": [[name, value], ...], "body"}
(`host` is added as the HTTP client would send it.)

Exits 3 with a message when botocore is not importable.
"""
import datetime
import json
import sys

try:
    import botocore.auth
    from botocore.auth import S3SigV4Auth, SigV4Auth, SigV4QueryAuth, _host_from_url
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"botocore is not installed ({e}); run: pip install botocore\n")
    sys.exit(3)


def sign(case):
    fixed = case.get("timestamp")
    if fixed:
        when = datetime.datetime.strptime(fixed, "%Y%m%dT%H%M%SZ")
        botocore.auth.get_current_datetime = lambda *a, **k: when
    creds = Credentials(case["key"], case["secret"])
    body = case.get("body", "").encode()
    req = AWSRequest(method=case["method"], url=case["url"], data=body)
    for name, value in case.get("headers", []):
        req.headers[name] = value
    mode = case.get("mode", "header")
    if mode == "presign":
        signer = SigV4QueryAuth(creds, case["service"], case["region"], expires=case.get("expires", 3600))
    elif mode == "s3-header":
        signer = S3SigV4Auth(creds, case["service"], case["region"])
    else:
        signer = SigV4Auth(creds, case["service"], case["region"])
    signer.add_auth(req)
    headers = [[k, v] for k, v in req.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(["host", _host_from_url(req.url)])
    return {"method": req.method, "url": req.url, "headers": headers, "body": body.decode()}


def main():
    json.dump([sign(c) for c in json.load(sys.stdin)], sys.stdout)


if __name__ == "__main__":
    main()
