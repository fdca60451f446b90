"""Azure Key Vault content rules (as upstream): what file a secret, key or certificate becomes.

- `cert`: the certificate's `cer` (DER) as a PEM CERTIFICATE.
- `key`: the public key of the JWK as PEM (SubjectPublicKeyInfo).
- `secret` backed by a certificate: the private key PEM followed by the chain from leaf to root; with
  objectFormat `pfx`, the PKCS#12 as Key Vault holds it (base64 text, or bytes with objectEncoding base64).
- any other `secret`: its value, decoded from objectEncoding (utf-8, hex, base64).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from secrets_store_csi.providers.errors import invalid

PKCS12 = "application/x-pkcs12"
PEM_FILE = "application/x-pem-file"
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z ]*PRIVATE KEY)-----.+?-----END \1-----", re.DOTALL)
CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}


def b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def key_pem(jwk: dict[str, Any], obj: str) -> bytes:
    kty = str(jwk.get("kty", ""))
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    if kty.startswith("RSA"):
        public = rsa.RSAPublicNumbers(b64url_int(jwk["e"]), b64url_int(jwk["n"])).public_key()
    elif kty.startswith("EC"):
        curve = CURVES.get(str(jwk.get("crv")))
        if curve is None:
            raise invalid(f"key curve {jwk.get('crv')!r} is not supported", obj)
        public = ec.EllipticCurvePublicNumbers(b64url_int(jwk["x"]), b64url_int(jwk["y"]), curve).public_key()
    else:
        raise invalid(f"key type {kty!r} has no public key to write (oct keys cannot be exported)", obj)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_pem(cer_b64: str) -> bytes:
    cert = x509.load_der_x509_certificate(base64.b64decode(cer_b64))
    return cert.public_bytes(serialization.Encoding.PEM)


def order_chain(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """Leaf first, then each issuer up to the root (certificates outside the chain keep their order)."""
    if len(certs) < 2:
        return certs
    issuers = {c.issuer for c in certs if c.issuer != c.subject}
    leaves = [c for c in certs if c.subject not in issuers] or certs[:1]
    ordered = [leaves[0]]
    by_subject = {c.subject: c for c in certs}
    while True:
        nxt = by_subject.get(ordered[-1].issuer)
        if nxt is None or nxt in ordered:
            break
        ordered.append(nxt)
    return ordered + [c for c in certs if c not in ordered]


def pem_of_key_and_chain(key: Any, certs: list[x509.Certificate]) -> bytes:
    out = b""
    if key is not None:
        out += key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    for cert in order_chain(certs):
        out += cert.public_bytes(serialization.Encoding.PEM)
    return out


def decode(value: str, encoding: str, obj: str) -> bytes:
    try:
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
        if encoding == "hex":
            return bytes.fromhex(value)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"value is not valid {encoding} (objectEncoding)", obj) from exc
    return value.encode()


def secret_content(bundle: dict[str, Any], fmt: str, encoding: str, obj: str) -> bytes:
    value = str(bundle.get("value", ""))
    content_type = str(bundle.get("contentType") or "")
    backed_by_cert = bool(bundle.get("kid")) or content_type in (PKCS12, PEM_FILE)
    if fmt == "pfx":
        if content_type != PKCS12:
            raise invalid(
                "objectFormat pfx needs a certificate stored as PKCS#12 "
                f"(this secret's content type is {content_type or 'unset'})",
                obj,
            )
        return decode(value, encoding, obj)
    if not backed_by_cert:
        return decode(value, encoding, obj)
    if content_type == PKCS12:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(value), None)
        except ValueError as exc:
            raise invalid(
                "certificate-backed secret is not a readable PKCS#12 without a password", obj
            ) from exc
        certs = ([cert] if cert is not None else []) + list(extra)
        return pem_of_key_and_chain(key, certs)
    # PEM: private key block(s) first, then the certificates ordered leaf to root.
    raw = value.encode()
    certs = x509.load_pem_x509_certificates(raw) if b"CERTIFICATE" in raw else []
    match = _PEM_KEY.search(raw)
    key = serialization.load_pem_private_key(match.group(0), None) if match else None
    return pem_of_key_and_chain(key, certs)
