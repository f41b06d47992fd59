"""Helpers for tests of msmvp and of templates: render a project into a directory, and a
throwaway TLS certificate for the gateways' TLS listeners."""

from __future__ import annotations

from functools import cache
from pathlib import Path


def render_project(dest: Path, name: str = "shop", services: str = "users,orders", **options: str) -> Path:
    """Render a project (no git, no prompts) into ``dest`` and return it."""
    from msmvp.api import new_project

    new_project(name, output_dir=dest.parent, target=dest, services=services, options=options, git=False)
    return dest


@cache
def self_signed_pem() -> tuple[bytes, bytes]:
    """A throwaway certificate and key (PEM) for localhost, valid for a day."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(directory: Path) -> None:
    """``tls.crt`` / ``tls.key`` (see :func:`self_signed_pem`) in ``directory``, as gateway/certs holds them."""
    cert, key = self_signed_pem()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tls.crt").write_bytes(cert)
    (directory / "tls.key").write_bytes(key)
