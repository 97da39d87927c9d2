"""Defective variants of a SAML Response for idp.py: each takes the Response XML that pysaml2
made and returns a copy with one defect in it (an attack or a broken rule) that a SAML service
provider must refuse. Re-signing is done with PyPI signxml, the way an attacker holding (or a
misconfigured IdP using) a key would: an enveloped signature right after the Assertion's Issuer,
exclusive C14N, RSA-SHA256 and SHA-256 (SHA-1 for the "sha1" variant), reference "#<Assertion ID>",
and the certificate in KeyInfo. Variants that re-sign use the IdP's real key unless the defect is
the key, so that only the intended defect remains. When the Response itself was signed as well,
the variants that edit the document drop the Response signature (it could not verify any more).

apply(name, xml, ctx) is the entry point; NAMES lists the variant names.
"""

import base64
import copy
import datetime
import os
import secrets

from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS, "xenc": XENC}
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
OTHER_AUDIENCE = "https://other.example/sp"
OTHER_URL = "https://other.example/sp/acs"
TIME_ATTRIBUTES = ("IssueInstant", "AuthnInstant", "NotBefore", "NotOnOrAfter", "SessionNotOnOrAfter")


class Context:
    """What the variants need to know besides the XML."""

    def __init__(self, key_pem, cert_pem, wrong_key_pem, wrong_cert_pem, email):
        self.key_pem = key_pem
        self.cert_pem = cert_pem
        self.wrong_key_pem = wrong_key_pem
        self.wrong_cert_pem = wrong_cert_pem
        self.email = email

    @property
    def mallory(self):
        return "mallory@" + self.email.rsplit("@", 1)[-1]


class Sha1Signer(XMLSigner):
    """signxml refuses SHA-1 unless the check is switched off in a subclass (as its docs say)."""

    def check_deprecated_methods(self):
        pass


# ----------------------------------------------------------------------------- helpers


def parse(xml):
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    return etree.fromstring(xml, parser)


def serialize(root):
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def q(prefix, name):
    return f"{{{NS[prefix]}}}{name}"


def new_id():
    return "_" + secrets.token_hex(16)


def the_assertion(response):
    assertion = response.find("saml:Assertion", NS)
    if assertion is None:
        raise ValueError("the Response holds no Assertion")
    return assertion


def remove(element):
    """Removes an element, keeping its tail text in place."""
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def drop_signature(element):
    """Removes the enveloped signature that is a direct child of element."""
    for signature in element.findall("ds:Signature", NS):
        remove(signature)


def drop_response_signature(response):
    drop_signature(response)


def sign_assertion(response, key_pem, cert_pem, sha1=False):
    """(Re-)signs the Assertion of response, returning the new Response root (signxml works on a
    copy). The old assertion signature goes away and the new one sits right after saml:Issuer."""
    assertion = the_assertion(response)
    drop_signature(assertion)
    placeholder = etree.Element(q("ds", "Signature"), Id="placeholder", nsmap={"ds": DS})
    assertion.find("saml:Issuer", NS).addnext(placeholder)
    if sha1:
        signer = Sha1Signer(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.RSA_SHA1,
            digest_algorithm=DigestAlgorithm.SHA1,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
    else:
        signer = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
    return signer.sign(
        response,
        key=key_pem,
        cert=cert_pem,
        reference_uri="#" + assertion.get("ID"),
        id_attribute="ID",
    )


def sign_response(response, key_pem, cert_pem):
    """Signs the Response itself (enveloped, right after its saml:Issuer), over whatever it
    carries, returning the new root."""
    drop_signature(response)
    placeholder = etree.Element(q("ds", "Signature"), Id="placeholder", nsmap={"ds": DS})
    issuer = response.find("saml:Issuer", NS)
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        response.insert(0, placeholder)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    return signer.sign(response, key=key_pem, cert=cert_pem, reference_uri="#" + response.get("ID"), id_attribute="ID")


def replace_email(assertion, old, new):
    """Puts new in place of old in the NameID and in every attribute value equal to old."""
    nodes = assertion.findall("saml:Subject/saml:NameID", NS)
    nodes += assertion.findall("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", NS)
    for node in nodes:
        if (node.text or "").strip() == old:
            node.text = new


def evil_copy(assertion, ctx, same_id):
    """An unsigned copy of assertion about mallory@<the user's domain>."""
    evil = copy.deepcopy(assertion)
    drop_signature(evil)
    replace_email(evil, ctx.email, ctx.mallory)
    if not same_id:
        evil.set("ID", new_id())
    evil.tail = None
    return evil


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def shift_times(root, delta):
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in TIME_ATTRIBUTES:
            value = element.get(attribute)
            if value:
                element.set(attribute, format_time(parse_time(value) + delta))


# ----------------------------------------------------------------------------- variants
# Each takes (xml string as pysaml2 made it, Context) and returns the new XML string.


def control(xml, ctx):
    return xml


def resigned(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def unsigned(xml, ctx):
    response = parse(xml)
    for signature in response.findall(".//ds:Signature", NS):
        remove(signature)
    return serialize(response)


def wrong_key(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    return serialize(sign_assertion(response, ctx.wrong_key_pem, ctx.wrong_cert_pem))


def tampered(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    replace_email(the_assertion(response), ctx.email, ctx.mallory)
    return serialize(response)


def swap_in_evil_copy(response, original, ctx):
    """Puts an unsigned copy of the signed assertion (same ID, mallory's address) where the
    original was, and detaches the original so the caller can hide it elsewhere."""
    evil = evil_copy(original, ctx, same_id=True)
    original.addprevious(evil)
    response.remove(original)
    original.tail = None
    return evil


def xsw_sibling(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    original = the_assertion(response)
    original.addprevious(evil_copy(original, ctx, same_id=False))
    return serialize(response)


def xsw_advice(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    original = the_assertion(response)
    evil = swap_in_evil_copy(response, original, ctx)
    advice = etree.Element(q("saml", "Advice"))
    advice.append(original)
    # Advice comes after Issuer, Signature, Subject and Conditions in an Assertion.
    anchor = None
    for name in ("saml:Issuer", "saml:Subject", "saml:Conditions"):
        found = evil.find(name, NS)
        if found is not None:
            anchor = found
    anchor.addnext(advice)
    return serialize(response)


def xsw_extensions(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    original = the_assertion(response)
    swap_in_evil_copy(response, original, ctx)
    extensions = etree.Element(q("samlp", "Extensions"))
    extensions.append(original)
    # Extensions comes after Issuer and Signature in a Response.
    response.find("saml:Issuer", NS).addnext(extensions)
    return serialize(response)


def xsw_nested(xml, ctx):
    inner = parse(xml)
    # The same prefixes as the original's, so that lxml keeps its signed content as it was.
    outer = etree.Element(inner.tag, nsmap=inner.nsmap)
    for name, value in inner.attrib.items():
        outer.set(name, value)
    outer.set("ID", new_id())
    outer.append(copy.deepcopy(inner.find("saml:Issuer", NS)))
    extensions = etree.SubElement(outer, q("samlp", "Extensions"))
    outer.append(copy.deepcopy(inner.find("samlp:Status", NS)))
    outer.append(evil_copy(the_assertion(inner), ctx, same_id=True))
    inner.tail = None
    extensions.append(inner)
    return serialize(outer)


def expired(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    shift_times(response, datetime.timedelta(hours=-2))
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def not_yet_valid(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    conditions = the_assertion(response).find("saml:Conditions", NS)
    now = datetime.datetime.now(datetime.timezone.utc)
    conditions.set("NotBefore", format_time(now + datetime.timedelta(hours=2)))
    # Keep the window well formed (NotBefore < NotOnOrAfter), so that "not yet" is the only defect.
    end = conditions.get("NotOnOrAfter")
    if end and parse_time(end) < now + datetime.timedelta(hours=3):
        conditions.set("NotOnOrAfter", format_time(now + datetime.timedelta(hours=3)))
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def wrong_audience(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    for audience in the_assertion(response).findall(".//saml:AudienceRestriction/saml:Audience", NS):
        audience.text = OTHER_AUDIENCE
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def no_audience(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    for restriction in the_assertion(response).findall("saml:Conditions/saml:AudienceRestriction", NS):
        remove(restriction)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def wrong_recipient(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    for data in the_assertion(response).findall(".//saml:SubjectConfirmationData", NS):
        data.set("Recipient", OTHER_URL)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def wrong_destination(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    response.set("Destination", OTHER_URL)
    return serialize(response)


def signed_no_destination(xml, ctx):
    """A Response signed by the IdP's real key that names no Destination: the bindings spec
    (3.5.5.2) requires one on every signed message, so it could be replayed to any ACS."""
    response = parse(xml)
    drop_response_signature(response)
    if "Destination" in response.attrib:
        del response.attrib["Destination"]
    response = sign_assertion(response, ctx.key_pem, ctx.cert_pem)
    return serialize(sign_response(response, ctx.key_pem, ctx.cert_pem))


def future_issue_instant(xml, ctx):
    """Issued a day from now (everything else valid): a clock that far off, or a response
    minted to be used later, is refused."""
    response = parse(xml)
    drop_response_signature(response)
    later = format_time(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=24))
    response.set("IssueInstant", later)
    the_assertion(response).set("IssueInstant", later)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def wrong_in_response_to(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    other = new_id()
    for element in response.iter():
        if isinstance(element.tag, str) and element.get("InResponseTo") is not None:
            element.set("InResponseTo", other)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def unsolicited_in_response_to(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    other = new_id()
    response.set("InResponseTo", other)
    for data in the_assertion(response).findall(".//saml:SubjectConfirmationData", NS):
        data.set("InResponseTo", other)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def sha1(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem, sha1=True))


def doctype(xml, ctx):
    root_name = parse(xml).prefix
    qname = f"{root_name}:Response" if root_name else "Response"
    decl = f'<!DOCTYPE {qname} [<!ENTITY x "y">]>'
    stripped = xml.lstrip()
    if stripped.startswith("<?xml"):
        end = stripped.index("?>") + 2
        return stripped[:end] + "\n" + decl + stripped[end:]
    return decl + xml


def comment_nameid(xml, ctx):
    """The signed value is '<email>.evil.example'; a comment after '<email>' makes a parser that
    reads only the first text node see '<email>' (the comment is outside exclusive C14N)."""
    response = parse(xml)
    drop_response_signature(response)
    assertion = the_assertion(response)
    nodes = assertion.findall("saml:Subject/saml:NameID", NS)
    nodes += assertion.findall("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", NS)
    for node in nodes:
        if (node.text or "").strip() == ctx.email:
            node.text = ctx.email
            comment = etree.Comment("")
            comment.tail = ".evil.example"
            node.append(comment)
    return serialize(sign_assertion(response, ctx.key_pem, ctx.cert_pem))


def encrypted(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    assertion = the_assertion(response)
    wrapper = etree.Element(q("saml", "EncryptedAssertion"), nsmap={"saml": SAML, "xenc": XENC})
    data = etree.SubElement(wrapper, q("xenc", "EncryptedData"), Type=XENC + "Element")
    etree.SubElement(data, q("xenc", "EncryptionMethod"), Algorithm=XENC + "aes256-cbc")
    cipher = etree.SubElement(etree.SubElement(data, q("xenc", "CipherData")), q("xenc", "CipherValue"))
    cipher.text = base64.b64encode(os.urandom(256)).decode()
    wrapper.tail = assertion.tail
    assertion.addprevious(wrapper)
    response.remove(assertion)
    return serialize(response)


def status_failed(xml, ctx):
    response = parse(xml)
    drop_response_signature(response)
    for assertion in response.findall("saml:Assertion", NS):
        remove(assertion)
    code = response.find("samlp:Status/samlp:StatusCode", NS)
    code.set("Value", STATUS_RESPONDER)
    for child in list(code):
        code.remove(child)
    return serialize(response)


VARIANTS = {
    f.__name__: f
    for f in (
        control,
        resigned,
        unsigned,
        wrong_key,
        tampered,
        xsw_sibling,
        xsw_advice,
        xsw_extensions,
        xsw_nested,
        expired,
        not_yet_valid,
        wrong_audience,
        no_audience,
        wrong_recipient,
        wrong_destination,
        signed_no_destination,
        future_issue_instant,
        wrong_in_response_to,
        unsolicited_in_response_to,
        sha1,
        doctype,
        comment_nameid,
        encrypted,
        status_failed,
    )
}
NAMES = sorted(VARIANTS)


def apply(name, xml, ctx):
    """Returns the Response XML for variant name ("" means control). KeyError if unknown."""
    return VARIANTS[name or "control"](xml, ctx)
