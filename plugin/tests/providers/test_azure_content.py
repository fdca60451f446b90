"""Azure content rules: certificate-backed secrets become key + chain (leaf to root) or PFX; keys become
public key PEM; certificates their PEM; plain secrets honour objectEncoding."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from secrets_store_csi.providers.azure_content import PEM_FILE, PKCS12, cert_pem, key_pem, secret_content
from secrets_store_csi.providers.errors import ProviderError

from .provider_certs import make_chain


def b64url(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def subjects(pem: bytes) -> list[str]:
    return [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(pem)]


def test_pkcs12_backed_secret_gives_key_then_chain_leaf_to_root() -> None:
    ch = make_chain()
    pfx = pkcs12.serialize_key_and_certificates(
        b"leaf", ch.leaf_key, ch.leaf, [ch.root, ch.intermediate], serialization.NoEncryption()
    )
    out = secret_content(
        {"value": base64.b64encode(pfx).decode(), "contentType": PKCS12, "kid": "k"}, "pem", "utf-8", "obj"
    )
    assert out.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert subjects(out) == ["CN=leaf", "CN=intermediate", "CN=root"]
    key = serialization.load_pem_private_key(out, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key().public_numbers() == ch.leaf_key.public_key().public_numbers()


def test_pem_backed_secret_is_reordered_key_first_leaf_to_root() -> None:
    ch = make_chain()
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ch.root, ch.leaf, ch.intermediate))
    pem += ch.leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    out = secret_content({"value": pem.decode(), "contentType": PEM_FILE, "kid": "k"}, "pem", "utf-8", "obj")
    assert out.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert subjects(out) == ["CN=leaf", "CN=intermediate", "CN=root"]


def test_pfx_format_returns_the_pkcs12_as_stored_or_decoded() -> None:
    ch = make_chain()
    pfx = pkcs12.serialize_key_and_certificates(
        b"x", ch.leaf_key, ch.leaf, None, serialization.NoEncryption()
    )
    value = base64.b64encode(pfx).decode()
    bundle = {"value": value, "contentType": PKCS12, "kid": "k"}
    assert secret_content(bundle, "pfx", "utf-8", "o") == value.encode()
    assert secret_content(bundle, "pfx", "base64", "o") == pfx


def test_pfx_format_of_a_plain_secret_is_rejected() -> None:
    with pytest.raises(ProviderError, match="pfx"):
        secret_content({"value": "plain"}, "pfx", "utf-8", "o")


@pytest.mark.parametrize(
    ("value", "encoding", "out"),
    [("text", "utf-8", b"text"), ("68656c6c6f", "hex", b"hello"), ("aGVsbG8=", "base64", b"hello")],
)
def test_plain_secret_honours_object_encoding(value: str, encoding: str, out: bytes) -> None:
    assert secret_content({"value": value}, "pem", encoding, "o") == out


def test_bad_encoding_names_the_object_not_the_value() -> None:
    with pytest.raises(ProviderError) as info:
        secret_content({"value": "zz-secret-zz"}, "pem", "hex", "myobj")
    assert "myobj" in str(info.value)
    assert "zz-secret-zz" not in str(info.value)


def test_rsa_and_ec_keys_become_public_key_pem() -> None:
    rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    n = rsa_pub.public_numbers()
    out = key_pem({"kty": "RSA", "n": b64url(n.n), "e": b64url(n.e)}, "o")
    assert serialization.load_pem_public_key(out).public_numbers() == n  # type: ignore[union-attr]
    ec_pub = ec.generate_private_key(ec.SECP384R1()).public_key()
    en = ec_pub.public_numbers()
    out = key_pem({"kty": "EC-HSM", "crv": "P-384", "x": b64url(en.x), "y": b64url(en.y)}, "o")
    assert out.startswith(b"-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ProviderError):
        key_pem({"kty": "oct"}, "o")


def test_certificate_becomes_its_pem() -> None:
    ch = make_chain()
    der = ch.leaf.public_bytes(serialization.Encoding.DER)
    assert x509.load_pem_x509_certificate(cert_pem(base64.b64encode(der).decode())) == ch.leaf
