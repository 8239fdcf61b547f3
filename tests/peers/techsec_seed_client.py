# The 602TechSec seed's Python client (shared/seeds/602techsec-verify-api.txt).
# Every statement is the seed's; only the indentation, which the published page lost, is
# restored. Tests run it with only the base URL and the API key replaced.
import requests
import time
import json
class TechSec602Client:
    def __init__(self, api_key, base_url="https://sec.602.tech"):
        self.api_key = api_key
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({
            'Content-Type': 'application/json',
            'X-API-Key': api_key
        })
    def verify_request(self, ip_address, host_name, request_path):
        """
        Verify a request using API v2
        """
        try:
            payload = {
                'ipAddress': ip_address,
                'hostName': host_name,
                'requestPath': request_path,
                'userAgent': 'MyApp/1.0',
                'requestId': f'req_{int(time.time())}',
                'requestMethod': 'GET'
            }
            response = self.session.post(
                f'{self.base_url}/api/v2/verify',
                json=payload,
                timeout=5
            )
            if response.status_code == 200:
                result = response.json()
                return result.get('isAllowed', False)
            else:
                print(f"API error: {response.status_code}")
                return False
        except requests.RequestException as e:
            print(f"Request failed: {e}")
            return False # Fail-safe
# Usage
client = TechSec602Client('your-api-key-here')
is_allowed = client.verify_request('192.168.1.100', 'example.com', '/api/data')
print(f"Request allowed: {is_allowed}")
