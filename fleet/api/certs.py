"""Client certificates: who a robot or gateway is under mutual TLS, and a development PKI.

With `fleet serve --tls-cert --tls-key --client-ca CA.pem` every client must present a
certificate the plant CA signed. A certificate names its holder in its subject's common name
and what it may do in URI subject alternative names:

- `fleet:robot:PATTERN` (one or more): the robot ids, or shell-style patterns of ids, it may
  register, connect or speak for through a gateway; it implies the `robot` role;
- `fleet:role:ROLE`: a role of `fleet.api.auth.ROLES` (a planner's tool, a control room).

A bearer token, if the call carries one, decides instead. `fleet certs DIR` writes a plant
CA, a server certificate and client certificates for a development setup in one go.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet.api.auth import ROLES, Principal

__all__ = ["ClientCert", "principal_of_certificate", "write_dev_pki"]

_ROBOT = "fleet:robot:"
_ROLE = "fleet:role:"


def principal_of_certificate(pem: bytes) -> Principal | None:
    """The principal a verified client certificate (PEM) names, or None if it names no
    robots and no roles."""
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else cert.serial_number.__str__()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    robots = tuple(u[len(_ROBOT):] for u in uris if u.startswith(_ROBOT) and u[len(_ROBOT):])
    roles = {u[len(_ROLE):] for u in uris if u.startswith(_ROLE)} & set(ROLES)
    if robots:
        roles.add("robot")
    if not roles:
        return None
    return Principal(f"cert:{name}", frozenset(roles), robots or ("*",))


@dataclass(frozen=True, slots=True)
class ClientCert:
    """A client certificate to issue: file stem, common name, robot patterns, roles."""

    name: str
    robots: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


DEV_CLIENTS = (
    ClientCert("gateway", robots=("*",)),
    ClientCert("robot-agv-1", robots=("agv-1",)),
    ClientCert("planner", roles=("planner",)),
    ClientCert("operator", roles=("operator", "viewer")),
)
"""What `fleet certs` issues unless told otherwise."""


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _builder(subject: str, issuer: x509.Name, public: ec.EllipticCurvePublicKey,
             days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer).public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days)))


def write_dev_pki(directory: str | Path, *, hosts: Sequence[str] = ("localhost", "127.0.0.1"),
                  clients: Sequence[ClientCert] = DEV_CLIENTS, days: int = 365,
                  ca_name: str = "fleet plant CA") -> list[Path]:
    """Write `ca.pem` (+ `ca.key`), `server.pem` + `server.key` for `hosts`, and
    `NAME.pem` + `NAME.key` per client into `directory`; returns the files written. Keys are
    ECDSA P-256, unencrypted, readable by the owner only: for development, not production."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        pem, secret = out / f"{stem}.pem", out / f"{stem}.key"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        secret.write_bytes(_pem_key(key))
        secret.chmod(0o600)
        written.extend([pem, secret])

    ca_key = _key()
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = (_builder(ca_name, ca_subject, ca_key.public_key(), days)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    save("ca", ca, ca_key)

    def issue(stem: str, common_name: str, sans: list[x509.GeneralName],
              usage: x509.ObjectIdentifier) -> None:
        key = _key()
        builder = (_builder(common_name, ca.subject, key.public_key(), days)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        save(stem, builder.sign(ca_key, hashes.SHA256()), key)

    server_sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            server_sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            server_sans.append(x509.DNSName(host))
    issue("server", hosts[0], server_sans, ExtendedKeyUsageOID.SERVER_AUTH)
    for client in clients:
        sans: list[x509.GeneralName] = [
            *(x509.UniformResourceIdentifier(f"{_ROBOT}{p}") for p in client.robots),
            *(x509.UniformResourceIdentifier(f"{_ROLE}{r}") for r in client.roles)]
        issue(client.name, client.name, sans, ExtendedKeyUsageOID.CLIENT_AUTH)
    return written
