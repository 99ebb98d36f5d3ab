"""JWEs made and opened by jwcrypto (PyPI), an independent JOSE library, for the interop tests.

    encrypt PUBLIC_JWK_JSON IAT   (plaintext on stdin)  -> the compact JWE
    decrypt PRIVATE_JWK_JSON      (compact JWE on stdin) -> the plaintext
"""
import json
import sys

from jwcrypto import jwe, jwk

mode = sys.argv[1]
key = jwk.JWK(**json.loads(sys.argv[2]))
data = sys.stdin.read()
if mode == "encrypt":
    header = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": key.get("kid"), "iat": int(sys.argv[3])}
    token = jwe.JWE(data.encode(), protected=json.dumps(header))
    token.add_recipient(key)
    sys.stdout.write(token.serialize(compact=True))
elif mode == "decrypt":
    token = jwe.JWE()
    token.deserialize(data.strip(), key=key)
    sys.stdout.write(token.payload.decode())
else:
    sys.exit(f"unknown mode {mode}")
