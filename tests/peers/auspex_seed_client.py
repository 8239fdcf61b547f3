# The Auspex Verus seed's Python client (shared/seeds/auspex-verus-ip-classify-api.txt).
# Every statement is the seed's; only the indentation, which the published page lost, is
# restored. Tests run it with only the URL replaced.
import hashlib
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
