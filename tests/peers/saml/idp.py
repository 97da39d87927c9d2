"""A SAML 2.0 identity provider for Tally's tests, built on PyPI pysaml2 (with the xmlsec1
binary), plus defective responses made by variants.py (signxml) to check that the SP refuses them.

    python idp.py PORT WORKDIR

Writes into WORKDIR two RSA-2048 keys with self-signed certificates (the IdP's real signing key
and a "wrong" one) and an attribute map, prints one line "ready" to stdout when it listens on
127.0.0.1:PORT, and logs to stderr. The IdP entity ID is http://127.0.0.1:PORT/metadata.

HTTP interface:
  GET  /metadata                 IdP metadata (IDPSSODescriptor, signing KeyDescriptor, SSO
                                 HTTP-Redirect at /sso/redirect); ?nocert=1 leaves out every
                                 KeyDescriptor.
  GET  /cert, /wrong-cert        the real signing certificate / the wrong one (PEM).
  POST /control/sp               body: an SP's metadata XML. Kept with those loaded before (a
                                 later one with the same entity ID replaces it). 204.
  POST /control/user             JSON {"email", "first_name", "last_name",
                                 "style": "okta"|"entra"|"none", "name_id_format":
                                 "email"|"persistent"}, missing keys take the defaults
                                 (alice@example.com, Alice, Example, okta, email). 204.
  POST /control/sign-response    body "true"/"false": sign the Response as well as the
                                 Assertion (default false). 204.
  GET  /control/last-request     JSON {"id", "relay_state", "signed", "signature_valid", "acs",
                                 "issuer", "sig_alg"} of the last AuthnRequest.
  GET  /sso/redirect?SAMLRequest=..&RelayState=..[&SigAlg=..&Signature=..][&variant=NAME]
                                 HTTP-Redirect binding; answers an HTML page with an
                                 auto-submitting POST form to the SP's ACS holding
                                 SAMLResponse (and RelayState when there was one).
  GET  /idp-initiated?sp=ENTITY_ID[&variant=NAME][&relay_state=..]
                                 the same page with an unsolicited response to that SP.
Variants are listed in variants.py; an unknown one answers 400.

Attributes: okta style sends email, firstName, lastName (NameFormat basic); entra style sends
the .../ws/2005/05/identity/claims/ emailaddress, givenname, surname and name (a UPN
upn-<local>@corp.example) with NameFormat uri; none sends no AttributeStatement. The NameID is
the e-mail (emailAddress format) or an opaque persistent id.
"""

import base64
import datetime
import hashlib
import html
import json
import logging
import os
import sys
import threading
import traceback
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

# pysaml2 touches cipher modes that cryptography has moved ("decrepit"): a warning, not an error.
warnings.filterwarnings("ignore", message=".*has been moved to cryptography.hazmat.decrepit.*")
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.assertion import Policy
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import (
    AUTHN_PASSWORD_PROTECTED,
    NAME_FORMAT_BASIC,
    NAME_FORMAT_URI,
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NameID,
)
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

import variants  # beside this file

log = logging.getLogger("idp")
XMLSEC = "/usr/bin/xmlsec1"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
ATTRIBUTE_NAMES = [
    "email",
    "firstName",
    "lastName",
    CLAIMS + "emailaddress",
    CLAIMS + "givenname",
    CLAIMS + "surname",
    CLAIMS + "name",
]
REDIRECT_SIG_HASHES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512,
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1,
}
DEFAULT_USER = {
    "email": "alice@example.com",
    "first_name": "Alice",
    "last_name": "Example",
    "style": "okta",
    "name_id_format": "email",
}


class BadRequest(Exception):
    pass


def make_key_pair(workdir, name, common_name):
    """Writes NAME-key.pem and NAME-cert.pem (RSA-2048, self-signed) and returns both PEMs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_path = os.path.join(workdir, f"{name}-key.pem")
    cert_path = os.path.join(workdir, f"{name}-cert.pem")
    with open(key_path, "w") as file:
        file.write(key_pem)
    with open(cert_path, "w") as file:
        file.write(cert_pem)
    return key_path, cert_path, key_pem, cert_pem


def write_attribute_maps(workdir):
    """pysaml2 renames attributes through maps and drops the NameFormat of unknown ones: these
    maps send every name as itself, in the basic and in the uri NameFormat."""
    directory = os.path.join(workdir, "attributemaps")
    os.makedirs(directory, exist_ok=True)
    same = {name: name for name in ATTRIBUTE_NAMES}
    with open(os.path.join(directory, "tally_passthrough.py"), "w") as file:
        file.write("# Written by idp.py: attribute names map to themselves.\n")
        for var, fmt in (("BASIC", NAME_FORMAT_BASIC), ("URI", NAME_FORMAT_URI)):
            file.write(f"{var} = {{'identifier': {fmt!r}, 'fro': {same!r}, 'to': {same!r}}}\n")
    return directory


class ReleaseAll(Policy):
    """Releases every attribute whatever the SP's metadata asks for (a test IdP sends what the
    test set up), in the given NameFormat."""

    def restrict(self, ava, sp_entity_id, metadata=None):
        return dict(ava)


def entity_ids_in(metadata_xml):
    root = etree.fromstring(metadata_xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    if root.tag == f"{{{MD}}}EntityDescriptor":
        return [root.get("entityID")]
    return [e.get("entityID") for e in root.iter(f"{{{MD}}}EntityDescriptor")]


def raw_query_value(raw_query, name):
    """The value of name in the query string exactly as it was URL-encoded, or None."""
    for pair in raw_query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == name:
            return value
    return None


def load_cert(text):
    text = text.strip()
    if "BEGIN CERTIFICATE" in text:
        return x509.load_pem_x509_certificate(text.encode())
    return x509.load_der_x509_certificate(base64.b64decode(text))


class IdP:
    def __init__(self, port, workdir):
        self.base = f"http://127.0.0.1:{port}"
        self.entity_id = self.base + "/metadata"
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.key_file, self.cert_file, key_pem, cert_pem = make_key_pair(workdir, "idp", "Tally test IdP")
        _, _, wrong_key_pem, wrong_cert_pem = make_key_pair(workdir, "wrong", "Tally test IdP (wrong key)")
        self.keys = {"key": key_pem, "cert": cert_pem, "wrong_key": wrong_key_pem, "wrong_cert": wrong_cert_pem}
        self.attribute_map_dir = write_attribute_maps(workdir)
        self.sp_metadata = {}  # entity ID -> metadata XML, in the order loaded
        self.user = dict(DEFAULT_USER)
        self.sign_response = False
        self.last_request = None
        self.lock = threading.Lock()
        self.build()

    def config(self):
        config = {
            "entityid": self.entity_id,
            "service": {
                "idp": {
                    "name": "Tally test IdP",
                    "endpoints": {
                        "single_sign_on_service": [(self.base + "/sso/redirect", BINDING_HTTP_REDIRECT)],
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT],
                    "want_authn_requests_signed": False,
                    "sign_assertion": True,
                    "sign_response": False,
                },
            },
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "xmlsec_binary": XMLSEC,
            "attribute_map_dir": self.attribute_map_dir,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "delete_tmpfiles": True,
        }
        if self.sp_metadata:
            config["metadata"] = {"inline": list(self.sp_metadata.values())}
        return config

    def build(self):
        config = IdPConfig().load(self.config())
        self.server = Server(config=config)
        self.metadata_xml = str(entity_descriptor(self.server.config))

    # ------------------------------------------------------------------ controls

    def metadata(self, nocert):
        if not nocert:
            return self.metadata_xml
        root = etree.fromstring(self.metadata_xml.encode())
        for key_descriptor in root.findall(f".//{{{MD}}}KeyDescriptor"):
            key_descriptor.getparent().remove(key_descriptor)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()

    def add_sp(self, metadata_xml):
        try:
            ids = entity_ids_in(metadata_xml)
        except etree.XMLSyntaxError as exc:
            raise BadRequest(f"SP metadata is not XML: {exc}") from exc
        if not ids or not all(ids):
            raise BadRequest("SP metadata has no entityID")
        before = dict(self.sp_metadata)
        for entity_id in ids:
            self.sp_metadata.pop(entity_id, None)
        self.sp_metadata[ids[0]] = metadata_xml
        try:
            self.build()
        except Exception as exc:
            self.sp_metadata = before
            self.build()
            raise BadRequest(f"pysaml2 refused the SP metadata: {exc!r}") from exc
        log.info("loaded SP metadata for %s", ", ".join(ids))

    def set_user(self, body):
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise BadRequest(f"user is not JSON: {exc}") from exc
        user = dict(DEFAULT_USER)
        user.update({k: v for k, v in data.items() if v is not None})
        if user["style"] not in ("okta", "entra", "none"):
            raise BadRequest(f"unknown style {user['style']!r}")
        if user["name_id_format"] not in ("email", "persistent"):
            raise BadRequest(f"unknown name_id_format {user['name_id_format']!r}")
        self.user = user

    # ------------------------------------------------------------------ responses

    def identity(self):
        user = self.user
        if user["style"] == "okta":
            return NAME_FORMAT_BASIC, {
                "email": [user["email"]],
                "firstName": [user["first_name"]],
                "lastName": [user["last_name"]],
            }
        if user["style"] == "entra":
            local = user["email"].split("@", 1)[0]
            return NAME_FORMAT_URI, {
                CLAIMS + "emailaddress": [user["email"]],
                CLAIMS + "givenname": [user["first_name"]],
                CLAIMS + "surname": [user["last_name"]],
                CLAIMS + "name": [f"upn-{local}@corp.example"],
            }
        return NAME_FORMAT_BASIC, {}

    def name_id(self, sp_entity_id):
        email = self.user["email"]
        if self.user["name_id_format"] == "persistent":
            opaque = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
            return NameID(
                format=NAMEID_FORMAT_PERSISTENT,
                name_qualifier=self.entity_id,
                sp_name_qualifier=sp_entity_id,
                text=opaque,
            )
        return NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email)

    def response(self, sp_entity_id, acs, in_response_to, variant):
        if (variant or "control") not in variants.VARIANTS:
            raise BadRequest(f"unknown variant {variant!r}; known: {', '.join(variants.NAMES)}")
        name_form, identity = self.identity()
        restrictions = {"default": {"name_form": name_form, "lifetime": {"minutes": 15}}}
        policy = ReleaseAll(restrictions, mds=self.server.metadata)
        xml = self.server.create_authn_response(
            identity,
            in_response_to=in_response_to,
            destination=acs,
            sp_entity_id=sp_entity_id,
            name_id=self.name_id(sp_entity_id),
            authn={"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": self.entity_id},
            sign_assertion=True,
            sign_response=self.sign_response,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            release_policy=policy,
        )
        xml = str(xml)
        if "<" not in xml or "Assertion" not in xml:
            raise RuntimeError(f"pysaml2 made no assertion: {xml}")
        ctx = variants.Context(
            self.keys["key"], self.keys["cert"], self.keys["wrong_key"], self.keys["wrong_cert"], self.user["email"]
        )
        out = variants.apply(variant, xml, ctx)
        log.info("response to %s (variant %s, InResponseTo %s)", acs, variant or "control", in_response_to)
        return out

    def verify_redirect_signature(self, raw_query, issuer):
        """The HTTP-Redirect binding's rule: the signature is over SAMLRequest=..&RelayState=..
        &SigAlg=.. exactly as they were URL-encoded in the request."""
        parts = []
        for name in ("SAMLRequest", "RelayState", "SigAlg"):
            value = raw_query_value(raw_query, name)
            if value is not None:
                parts.append(f"{name}={value}")
        signed = "&".join(parts).encode()
        sig_alg = unquote_plus(raw_query_value(raw_query, "SigAlg") or "")
        signature = base64.b64decode(unquote_plus(raw_query_value(raw_query, "Signature")))
        algorithm = REDIRECT_SIG_HASHES.get(sig_alg)
        if algorithm is None:
            log.info("unknown SigAlg %r", sig_alg)
            return False
        try:
            certs = self.server.metadata.certs(issuer, "spsso", "signing")
        except Exception:
            certs = []
        for _, cert in certs:
            try:
                load_cert(cert).public_key().verify(signature, signed, padding.PKCS1v15(), algorithm())
                return True
            except InvalidSignature:
                continue
        log.info("AuthnRequest signature did not verify against %d SP certificate(s)", len(certs))
        return False

    def sso_redirect(self, raw_query):
        args = parse_qs(raw_query, keep_blank_values=True)
        saml_request = (args.get("SAMLRequest") or [None])[0]
        if not saml_request:
            raise BadRequest("no SAMLRequest")
        relay_state = (args.get("RelayState") or [None])[0]
        variant = (args.get("variant") or [""])[0]
        try:
            request = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        except Exception as exc:
            raise BadRequest(f"AuthnRequest refused by pysaml2: {exc!r}") from exc
        message = request.message
        issuer = message.issuer.text.strip() if message.issuer is not None else None
        signed = "Signature" in args
        signature_valid = self.verify_redirect_signature(raw_query, issuer) if signed else None
        self.last_request = {
            "id": message.id,
            "relay_state": relay_state,
            "signed": signed,
            "signature_valid": signature_valid,
            "acs": None,
            "issuer": issuer,
            "sig_alg": (args.get("SigAlg") or [None])[0],
        }
        log.info("AuthnRequest %s from %s (signed %s, valid %s)", message.id, issuer, signed, signature_valid)
        if issuer not in self.server.metadata.keys():
            raise BadRequest(f"unknown SP {issuer!r}: POST its metadata to /control/sp first")
        try:
            args_out = self.server.response_args(message, [BINDING_HTTP_POST])
        except Exception as exc:
            raise BadRequest(f"no usable ACS for {issuer!r}: {exc!r}") from exc
        acs = args_out["destination"]
        self.last_request["acs"] = acs
        xml = self.response(issuer, acs, message.id, variant)
        return post_form(acs, xml, relay_state)

    def idp_initiated(self, raw_query):
        args = parse_qs(raw_query, keep_blank_values=True)
        sp = (args.get("sp") or [None])[0]
        if not sp:
            raise BadRequest("no sp")
        variant = (args.get("variant") or [""])[0]
        relay_state = (args.get("relay_state") or [None])[0]
        try:
            _, acs = self.server.pick_binding(
                "assertion_consumer_service", [BINDING_HTTP_POST], descr_type="spsso", entity_id=sp
            )
        except Exception as exc:
            raise BadRequest(f"unknown SP {sp!r} or no HTTP-POST ACS: {exc!r}") from exc
        xml = self.response(sp, acs, None, variant)
        return post_form(acs, xml, relay_state)


def post_form(acs, xml, relay_state):
    """The HTTP-POST binding's page. Tests read it with a regex: keep the attribute order."""
    encoded = base64.b64encode(xml.encode("utf-8")).decode()
    relay = ""
    if relay_state is not None:
        relay = f'<input type="hidden" name="RelayState" value="{html.escape(relay_state, quote=True)}"/>'
    return (
        "<!DOCTYPE html>\n<html><head><title>Signing in</title></head><body>\n"
        f'<form method="post" action="{html.escape(acs, quote=True)}">'
        f'<input type="hidden" name="SAMLResponse" value="{encoded}"/>{relay}'
        '<noscript><button type="submit">Continue</button></noscript></form>\n'
        "<script>document.forms[0].submit();</script>\n</body></html>\n"
    )


class Handler(BaseHTTPRequestHandler):
    idp: IdP = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log.info("%s %s", self.address_string(), fmt % args)

    def send(self, status, body=b"", content_type="text/plain; charset=utf-8"):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_safely(self, route):
        try:
            with self.idp.lock:
                route()
        except BadRequest as exc:
            log.info("400: %s", exc)
            self.send(400, str(exc) + "\n")
        except Exception as exc:
            log.error("500: %s", traceback.format_exc())
            self.send(500, f"{exc!r}\n")

    def do_GET(self):
        url = urlsplit(self.path)
        raw_query = url.query
        idp = self.idp

        def route():
            if url.path == "/metadata":
                nocert = parse_qs(raw_query).get("nocert", ["0"])[0] not in ("", "0", "false")
                self.send(200, idp.metadata(nocert), "application/samlmetadata+xml")
            elif url.path == "/cert":
                self.send(200, idp.keys["cert"], "application/x-pem-file")
            elif url.path == "/wrong-cert":
                self.send(200, idp.keys["wrong_cert"], "application/x-pem-file")
            elif url.path == "/control/last-request":
                self.send(200, json.dumps(idp.last_request), "application/json")
            elif url.path == "/sso/redirect":
                self.send(200, idp.sso_redirect(raw_query), "text/html; charset=utf-8")
            elif url.path == "/idp-initiated":
                self.send(200, idp.idp_initiated(raw_query), "text/html; charset=utf-8")
            else:
                self.send(404, "not found\n")

        self.handle_safely(route)

    def do_POST(self):
        path = urlsplit(self.path).path
        body = self.body()
        idp = self.idp

        def route():
            if path == "/control/sp":
                idp.add_sp(body.decode("utf-8"))
                self.send(204)
            elif path == "/control/user":
                idp.set_user(body)
                self.send(204)
            elif path == "/control/sign-response":
                value = body.decode().strip().lower()
                if value not in ("true", "false"):
                    raise BadRequest("body must be true or false")
                idp.sign_response = value == "true"
                self.send(204)
            else:
                self.send(404, "not found\n")

        self.handle_safely(route)


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="idp: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("saml2").setLevel(logging.WARNING)
    port, workdir = int(sys.argv[1]), sys.argv[2]
    Handler.idp = IdP(port, workdir)
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
