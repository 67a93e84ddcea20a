"""TLS in front of a plaintext service: stunnel4 (Debian) with a throwaway CA the tests make.

Tansu has no TLS listener, so `tls_terminator` puts stunnel in front of it:
clients speak TLS to stunnel, stunnel speaks plaintext to the broker on
loopback. `client_auth=True` makes stunnel require a client certificate signed
by the CA (`verify = 2`), so a client without one is refused during the
handshake, exactly like a Kafka broker with `ssl.client.auth=required`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._process import free_port, wait_for_port

STUNNEL_HINT = "apt-get install stunnel4 (or `make services`)"


@dataclass(frozen=True)
class Certificates:
    """PEM files of a throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A second CA that signed nothing the server trusts (for "wrong CA" tests)."""
    rogue_cert: Path
    rogue_key: Path
    """A client certificate signed by `other_ca`: refused by a server that trusts only `ca`."""


def make_certificates(folder: Path) -> Certificates:
    """Create the CA, server and client key pairs under `folder` (RSA 2048, valid for a day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def build(subject: str, subject_key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
              *, ca: bool = False, server: bool = False) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
            .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def write(path: Path, cert: x509.Certificate | None = None, private: rsa.RSAPrivateKey | None = None) -> Path:
        if cert is not None:
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        else:
            assert private is not None
            path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
            path.chmod(0o600)
        return path

    ca_key, other_key = key(), key()
    ca = build("towpath test CA", ca_key, name("towpath test CA"), ca_key, ca=True)
    other = build("another CA", other_key, name("another CA"), other_key, ca=True)
    server_key, client_key, rogue_key = key(), key(), key()
    return Certificates(
        ca=write(folder / "ca.pem", ca),
        server_cert=write(folder / "server.pem", build("127.0.0.1", server_key, ca.subject, ca_key, server=True)),
        server_key=write(folder / "server.key", private=server_key),
        client_cert=write(folder / "client.pem", build("towpath client", client_key, ca.subject, ca_key)),
        client_key=write(folder / "client.key", private=client_key),
        other_ca=write(folder / "other-ca.pem", other),
        rogue_cert=write(folder / "rogue.pem", build("rogue client", rogue_key, other.subject, other_key)),
        rogue_key=write(folder / "rogue.key", private=rogue_key),
    )


def stunnel_binary() -> str:
    found = shutil.which("stunnel4") or shutil.which("stunnel")
    if found is None:
        raise RuntimeError(f"stunnel is not installed: {STUNNEL_HINT}")
    return found


@contextlib.contextmanager
def tls_terminator(
    target_port: int, certs: Certificates, *, client_auth: bool, port: int | None = None
) -> Iterator[int]:
    """stunnel accepting TLS on a loopback port (yielded) and forwarding to `target_port` in plaintext."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="towpath-stunnel-") as tmp:
        folder = Path(tmp)
        log = folder / "stunnel.log"
        verify = f"verify = 2\nCAfile = {certs.ca}\n" if client_auth else "verify = 0\n"
        (folder / "stunnel.conf").write_text(
            f"foreground = yes\npid =\noutput = {log}\ndebug = 5\n"
            f"[kafka]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{target_port}\n"
            f"cert = {certs.server_cert}\nkey = {certs.server_key}\n{verify}"
        )
        process = subprocess.Popen([stunnel_binary(), str(folder / "stunnel.conf")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, 30, "stunnel", log)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
