// The Auspex Verus seed's Node.js client, copied verbatim from
// shared/seeds/auspex-verus-ip-classify-api.txt. Tests run it with only the URL replaced.
const crypto = require('crypto');
const API_KEY = 'alk_1234567890abcdef';
const API_SECRET = 'als_abcdefghijklmnopqrstuvwxyz1234567890';
function signRequest(method, uri, body) {
const amzDate = new Date().toISOString().replace(/[-:]/g, '').split('.')[0] + 'Z';
const dateStamp = amzDate.slice(0, 8);
// Derive signing key
const kDate = crypto.createHmac('sha256', 'AWS4' + API_SECRET).update(dateStamp).digest();
const kService = crypto.createHmac('sha256', kDate).update('verus').digest();
const kSigning = crypto.createHmac('sha256', kService).update('aws4_request').digest();
// Create canonical request
const signedHeaders = 'x-amz-date';
const payloadHash = crypto.createHash('sha256').update(body).digest('hex');
const canonicalHeaders = `x-amz-date:${amzDate}\n`;
const canonicalRequest = `${method}\n${uri}\n\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
// Create string to sign
const credentialScope = `${dateStamp}/verus/aws4_request`;
const requestHash = crypto.createHash('sha256').update(canonicalRequest).digest('hex');
const stringToSign = `HMAC-SHA256\n${amzDate}\n${credentialScope}\n${requestHash}`;
// Compute signature
const signature = crypto.createHmac('sha256', kSigning).update(stringToSign).digest('hex');
const authorization = `HMAC-SHA256 Credential=${API_KEY}/${credentialScope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
return { amzDate, authorization };
}
async function classifyIP(ipAddress) {
const body = JSON.stringify({ ipAddress });
const { amzDate, authorization } = signRequest('POST', '/verus/classify', body);
const response = await fetch('https://api.auspex-labs.com/verus/classify', {
method: 'POST',
headers: {
'Content-Type': 'application/json',
'X-Amz-Date': amzDate,
'Authorization': authorization
},
body
});
const result = await response.json();
console.log(`Human: ${result.human}, Certainty: ${result.certainty}%`);
return result;
}
classifyIP('8.8.8.8');
