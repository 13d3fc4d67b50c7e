"""multipart/form-data bodies (RFC 7578), as the SDK's httpx and a hand-written client send them:
`--BOUNDARY CRLF`, the part's headers (`Content-Disposition: form-data; name="x"[; filename="f"]`,
optionally `Content-Type`), a blank line, the value, `CRLF`; after the last part
`--BOUNDARY-- [CRLF]`. Lines end in CRLF. Anything else is a 400 in Retell's shape."""

from __future__ import annotations

import email.message
import email.utils
import re
from dataclasses import dataclass

from .limits import MULTIPART_MAX_HEADER_BYTES, MULTIPART_MAX_PARTS
from .wire import bad_request

# RFC 2046: 1-70 characters, no trailing space.
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None: a plain form field
    content_type: str | None
    data: bytes

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"form field {self.name} is not valid UTF-8") from None


def _params(header_name: str, value: str) -> email.message.Message:
    msg = email.message.Message()
    msg[header_name] = value
    return msg


def parse_form(content_type: str | None, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body, in order."""
    header = _params("Content-Type", content_type or "")
    if header.get_content_type() != "multipart/form-data":
        raise bad_request("Content-Type must be multipart/form-data")
    boundary = header.get_boundary()
    if not boundary or not BOUNDARY.fullmatch(boundary):
        raise bad_request("multipart/form-data needs a boundary of 1-70 characters")
    delimiter = b"--" + boundary.encode("ascii")
    if body.startswith(delimiter):
        pos = 0
    else:  # a preamble before the first delimiter is allowed (and ignored)
        pos = body.find(b"\r\n" + delimiter)
        if pos < 0:
            raise bad_request("multipart body does not start with its boundary")
        pos += 2
    parts: list[Part] = []
    while True:
        pos += len(delimiter)
        if body.startswith(b"--", pos):
            return parts  # the close delimiter; an epilogue after it is ignored
        eol = body.find(b"\r\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t"):
            raise bad_request("multipart boundary line is malformed (lines end in CRLF)")
        start = eol + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise bad_request("multipart body is not terminated by --boundary--")
        if len(parts) == MULTIPART_MAX_PARTS:
            raise bad_request(f"multipart body has more than {MULTIPART_MAX_PARTS} parts")
        parts.append(_part(body[start:end]))
        pos = end + 2


def _part(chunk: bytes) -> Part:
    if chunk.startswith(b"\r\n"):
        head, data = b"", chunk[2:]
    else:
        split = chunk.find(b"\r\n\r\n")
        if split < 0:
            raise bad_request("multipart part has no blank line after its headers")
        head, data = chunk[:split], chunk[split + 4:]
    if len(head) > MULTIPART_MAX_HEADER_BYTES:
        raise bad_request("multipart part headers are too long")
    try:
        head_text = head.decode("utf-8")  # httpx sends non-ASCII file names as UTF-8
    except UnicodeDecodeError:
        raise bad_request("multipart part headers are not valid UTF-8") from None
    headers: dict[str, str] = {}
    for line in head_text.split("\r\n") if head_text else ():
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name or CONTROL.search(value):
            raise bad_request("multipart part has a malformed header line")
        if name in headers:
            raise bad_request(f"multipart part has two {name} headers")
        headers[name] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise bad_request("multipart part has no Content-Disposition header")
    msg = _params("Content-Disposition", disposition)
    if msg.get_content_disposition() != "form-data":
        raise bad_request("multipart part is not Content-Disposition: form-data")
    raw_name = msg.get_param("name", header="content-disposition")
    name = email.utils.collapse_rfc2231_value(raw_name) if raw_name is not None else ""
    if not name:
        raise bad_request("multipart part has no name")
    filename = msg.get_filename()
    if filename is not None and CONTROL.search(filename):
        raise bad_request("multipart file name has control characters")
    return Part(name, filename, headers.get("content-type"), data)
