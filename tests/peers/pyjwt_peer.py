#!/usr/bin/env python3
"""PyJWT as a peer of tower-shield's JWT code (run by tests/jwt.rs).

  mint   ALG KEY.pem KID CLAIMS_JSON   -> prints a token signed by PyJWT
  verify JWKS_JSON TOKEN AUDIENCE      -> verifies a tower-shield token against its JWKS,
                                          prints the claims as JSON

Needs `pip install pyjwt cryptography`.
"""
import json
import sys

try:
    import jwt
    from jwt import PyJWKSet
except ImportError:  # pragma: no cover
    sys.stderr.write("PyJWT missing: pip install pyjwt cryptography\n")
    sys.exit(3)


def main():
    cmd = sys.argv[1]
    if cmd == "mint":
        alg, key_path, kid, claims = sys.argv[2:6]
        with open(key_path, "rb") as f:
            key = f.read()
        print(jwt.encode(json.loads(claims), key, algorithm=alg, headers={"kid": kid}))
    elif cmd == "verify":
        jwks, token, audience = sys.argv[2:5]
        kid = jwt.get_unverified_header(token)["kid"]
        keys = {k.key_id: k for k in PyJWKSet.from_json(jwks).keys}
        k = keys[kid]
        claims = jwt.decode(token, k.key, algorithms=[k.algorithm_name], audience=audience)
        print(json.dumps(claims, sort_keys=True))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
