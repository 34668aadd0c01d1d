"""Certificate generation for the local mesh (Python `cryptography`).

Two kinds of PKI are made here:

* the Kubernetes control-plane PKI (API server serving cert, client certs for
  admin / viewer / controller-manager / kwok, service-account signing key);
* the *mesh* PKI, shaped like the two CAs the runbook tells apart:
  - "istiod": istiod's self-signed CA. One level: root Subject is just
    O=<trust domain> (no CN), leaves are signed by that root directly.
  - "meshca": Google Mesh CA shape. Root CN istio_v1_cloud_workload_root-signer-...,
    intermediate CN istio_v1_cloud_workload_intermediate-signer-..., leaves with
    Subject OU=istio_v1_cloud_workload,O=Google LLC,L=Mountain View,ST=California,C=US.

Workload leaves carry the SPIFFE URI SAN spiffe://TD/ns/NS/sa/SA, live 24h and
use EC P-256 keys (as istio-agent does by default for ECC... and RSA is kept
for the CAs, like istiod's RSA 2048 self-signed root).
"""

import datetime as dt
import ipaddress
import os

import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
MESHCA_STAMP = "0-2018-04-25T14:11:33-07:00"
warnings.filterwarnings("ignore", message="Attribute.s length")


def _name(**attrs):
    order = [("C", NameOID.COUNTRY_NAME), ("ST", NameOID.STATE_OR_PROVINCE_NAME),
             ("L", NameOID.LOCALITY_NAME), ("O", NameOID.ORGANIZATION_NAME),
             ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME), ("CN", NameOID.COMMON_NAME)]
    # _validate=False: Mesh CA's intermediate CN is longer than X.520's 64 chars
    return x509.Name([x509.NameAttribute(oid, attrs[k], _validate=False) for k, oid in order if k in attrs])


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


class Cert:
    def __init__(self, cert, key):
        self.cert, self.key = cert, key

    @property
    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()


def make_cert(subject, key, issuer=None, *, ca=False, path_len=None, not_before=None, days=None,
              hours=None, uris=(), dns=(), ips=(), server=False, client=False):
    """Sign a certificate. issuer None means self-signed."""
    not_before = not_before or (NOW - dt.timedelta(minutes=5))
    lifetime = dt.timedelta(days=days) if days is not None else dt.timedelta(hours=hours or 24)
    issuer_name = issuer.cert.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_before + lifetime))
    b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True)
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        ekus = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        if ekus:
            b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    sans = [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName(d) for d in dns] + \
           [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        # Istio marks the SAN critical when the subject is empty (RFC 5280).
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=len(subject) == 0)
    return Cert(b.sign(signing_key, hashes.SHA256()), key)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def save(cert, d, name):
    write(os.path.join(d, name + ".crt"), cert.pem)
    write(os.path.join(d, name + ".key"), cert.key_pem, 0o600)


def load(d, name):
    with open(os.path.join(d, name + ".crt"), "rb") as f:
        c = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(d, name + ".key"), "rb") as f:
        k = serialization.load_pem_private_key(f.read(), None)
    return Cert(c, k)


# ---------------------------------------------------------------- kube PKI
def kube_pki(d, cluster):
    """Control-plane certs for one cluster into directory d (idempotent)."""
    if os.path.exists(os.path.join(d, "done")):
        return
    ca = make_cert(_name(CN=f"kube-ca-mesh-{cluster}"), rsa_key(), ca=True, days=3650)
    save(ca, d, "ca")
    srv = make_cert(_name(CN="kube-apiserver"), ec_key(), ca, days=365, server=True,
                    dns=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                         "kubernetes.default.svc.cluster.local"], ips=["127.0.0.1"])
    save(srv, d, "apiserver")
    for name, cn, org in [("admin", "mesh-admin", "system:masters"),
                          ("viewer", "mesh-viewer", "mesh:viewers"),
                          ("kcm", "system:kube-controller-manager", "system:masters"),
                          ("kwok", "kwok-controller", "system:masters"),
                          ("kubelet-client", "kube-apiserver-kubelet-client", "system:masters")]:
        attrs = {"CN": cn}
        if org:
            attrs["O"] = org
        save(make_cert(_name(**attrs), ec_key(), ca, days=365, client=True), d, name)
    # kwok's kubelet-port serving cert (the API server does not verify it,
    # as with --kubelet-certificate-authority unset).
    save(make_cert(_name(CN="kwok-kubelet"), ec_key(), ca, days=365, server=True,
                   ips=["127.0.0.1", "127.0.10.1", "127.0.20.1"]), d, "kubelet")
    sa = rsa_key()
    write(os.path.join(d, "sa.key"), Cert(None, sa).key_pem, 0o600)
    write(os.path.join(d, "sa.pub"), sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    write(os.path.join(d, "done"), "")


# ---------------------------------------------------------------- mesh PKI
def mesh_ca(d, flavor, trust_domain):
    """Create (once) the mesh CA of a cluster. Returns dict with signer + chain."""
    if not os.path.exists(os.path.join(d, "root.crt")):
        if flavor == "istiod":
            root = make_cert(_name(O=trust_domain), rsa_key(), ca=True, days=3650)
            save(root, d, "root")
            save(root, d, "signer")
        else:
            g = dict(O="Google LLC", L="Mountain View", ST="California", C="US")
            root = make_cert(_name(CN=f"istio_v1_cloud_workload_root-signer-{MESHCA_STAMP}", **g), rsa_key(),
                             ca=True, days=3650)
            inter = make_cert(_name(CN=f"istio_v1_cloud_workload_intermediate-signer-{MESHCA_STAMP}", **g),
                              rsa_key(), root, ca=True, path_len=0, days=1825)
            save(root, d, "root")
            save(inter, d, "signer")
    return load_ca(d)


def load_ca(d):
    root, signer = load(d, "root"), load(d, "signer")
    # chain above the leaf as a workload sends it: intermediates then root
    above = [signer] if signer.cert != root.cert else []
    return {"root": root, "signer": signer, "above": above + [root]}


def leaf_subject(flavor):
    if flavor == "istiod":
        return x509.Name([])
    return _name(C="US", ST="California", L="Mountain View", O="Google LLC", OU="istio_v1_cloud_workload")


def workload_cert(ca, flavor, trust_domain, ns, sa, out_dir, *, not_before=None, hours=24, signer=None,
                  above=None):
    """Write cert-chain.pem / key.pem / root-cert.pem for one workload identity."""
    leaf = make_cert(leaf_subject(flavor), ec_key(), signer or ca["signer"], not_before=not_before, hours=hours,
                     uris=[f"spiffe://{trust_domain}/ns/{ns}/sa/{sa}"], server=True, client=True)
    chain = leaf.pem + "".join(c.pem for c in (above if above is not None else ca["above"]))
    write(os.path.join(out_dir, "cert-chain.pem"), chain)
    write(os.path.join(out_dir, "key.pem"), leaf.key_pem, 0o600)
    write(os.path.join(out_dir, "root-cert.pem"), ca["root"].pem)
    return leaf


def istiod_serving(ca, out_dir):
    c = make_cert(x509.Name([]), ec_key(), ca["signer"], hours=24 * 30, server=True,
                  dns=["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local", "istiod.istio-system",
                       "istiod"])
    write(os.path.join(out_dir, "cert-chain.pem"), c.pem + "".join(x.pem for x in ca["above"][:-1]))
    write(os.path.join(out_dir, "key.pem"), c.key_pem, 0o600)
    write(os.path.join(out_dir, "root-cert.pem"), ca["root"].pem)


def fixtures(d, ca, flavor, trust_domain):
    """Special certificates the tests use (one set per cluster)."""
    # expired leaf: valid 24h, ended two days ago
    workload_cert(ca, flavor, trust_domain, "sample", "expired", os.path.join(d, "expired-leaf"),
                  not_before=NOW - dt.timedelta(days=3))
    # not-yet-valid leaf: starts tomorrow
    workload_cert(ca, flavor, trust_domain, "sample", "future", os.path.join(d, "notyetvalid-leaf"),
                  not_before=NOW + dt.timedelta(days=1))
    # broken chain: leaf signed by an intermediate that is NOT the one shipped
    g = dict(O="Google LLC", L="Mountain View", ST="California", C="US") if flavor != "istiod" else {"O": trust_domain}
    rogue = make_cert(_name(CN="istio_v1_cloud_workload_intermediate-signer-rogue", **g), rsa_key(), ca["root"],
                      ca=True, path_len=0, days=365)
    workload_cert(ca, flavor, trust_domain, "sample", "brokenchain", os.path.join(d, "broken-chain"),
                  signer=rogue, above=ca["above"])
    # wrong trust domain
    workload_cert(ca, flavor, "wrong.example", "sample", "sleep", os.path.join(d, "wrong-trust-domain"))
    # unrelated CA (valid) and an expired CA for the webhook caBundle scenarios
    unrelated = make_cert(_name(O="unrelated.example", CN="Unrelated Root CA"), rsa_key(), ca=True, days=3650)
    write(os.path.join(d, "unrelated-ca.pem"), unrelated.pem)
    expired_ca = make_cert(_name(O=trust_domain), rsa_key(), ca=True, not_before=NOW - dt.timedelta(days=400),
                           days=365)
    write(os.path.join(d, "expired-ca.pem"), expired_ca.pem)
