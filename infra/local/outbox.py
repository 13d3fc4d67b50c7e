"""What the emulator "sent": every SMS published to a phone number (SNS) and every e-mail (SES v2,
simple or raw), kept in order with the time it was sent, for `retell-ops --local outbox` and the
tests. And SNS's opt-out list as SNS keeps it: a number is opted out once it replied STOP.

    GET  /_outbox                 -> {"messages": [{channel, to, from, text|subject, attachments, at, id}]}
    POST /_outbox/reply           {"from": "+49…", "text": "STOP"} -> the number joins the opt-out list

moto 5.2.5 answers CheckIfPhoneNumberIsOptedOut with "true" for every number ending in 99 (a
customer's real number may), and keeps no time or sender with an SMS; both are replaced here.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from typing import Any

from moto.ses import models as _ses
from moto.sns import models as _sns

_lock = threading.Lock()
_sent: list[dict[str, Any]] = []
_opted_out: set[str] = set()

_original_publish = _sns.SNSBackend.publish
_original_raw = _ses.SESBackend.send_raw_email
_original_simple = _ses.SESBackend.send_email


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _attribute(attributes: dict | None, name: str) -> str | None:
    value = (attributes or {}).get(name) or {}
    return value.get("Value") or value.get("StringValue")


def _publish(self, message, *args, **kwargs):  # type: ignore[no-untyped-def]
    message_id = _original_publish(self, message, *args, **kwargs)
    phone = kwargs.get("phone_number")
    if phone:
        attributes = kwargs.get("message_attributes")
        with _lock:
            _sent.append({"channel": "sms", "id": message_id, "to": phone,
                          "from": _attribute(attributes, "AWS.SNS.SMS.SenderID"),
                          "sms_type": _attribute(attributes, "AWS.SNS.SMS.SMSType"),
                          "text": message, "at": _now()})
    return message_id


def _parts(raw: str) -> tuple[str, str, list[dict[str, str]]]:
    parsed = email.message_from_string(raw, policy=email.policy.default)
    text, attachments = "", []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        if part.get_filename():
            attachments.append({"filename": part.get_filename(),
                                "content_type": part.get_content_type(), "content": content})
        elif part.get_content_type() == "text/plain" and not text:
            text = content
    return str(parsed.get("Subject", "")), text, attachments


def _send_raw(self, source, destinations, raw_data):  # type: ignore[no-untyped-def]
    message = _original_raw(self, source, destinations, raw_data)
    subject, text, attachments = _parts(raw_data)
    parsed = email.message_from_string(raw_data, policy=email.policy.default)
    with _lock:
        _sent.append({"channel": "email", "id": message.id, "from": str(parsed.get("From", "")) or source,
                      "to": list(dict.fromkeys(destinations)) or [str(parsed.get("To", ""))], "subject": subject,
                      "text": text, "attachments": attachments, "at": _now()})
    return message


def _send_simple(self, source, subject, body, destinations, *args, **kwargs):  # type: ignore[no-untyped-def]
    message = _original_simple(self, source, subject, body, destinations, *args, **kwargs)
    to = destinations.get("ToAddresses", []) if isinstance(destinations, dict) else list(destinations)
    with _lock:
        _sent.append({"channel": "email", "id": message.id, "from": source, "to": to,
                      "subject": subject, "text": body, "attachments": [], "at": _now()})
    return message


def _opted_out_check(self, number: str) -> bool:  # type: ignore[no-untyped-def]
    with _lock:
        return number in _opted_out


def _opted_out_list(self):  # type: ignore[no-untyped-def]
    with _lock:
        return sorted(_opted_out)


def _opt_in(self, number: str) -> None:  # type: ignore[no-untyped-def]
    with _lock:
        _opted_out.discard(number)


def handle(environ: dict, start_response) -> list[bytes] | None:  # type: ignore[no-untyped-def]
    """Answers `/_outbox` requests; `None` for every other path (moto's)."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/_outbox"):
        return None
    method = environ.get("REQUEST_METHOD", "GET")

    def answer(status: str, body: dict) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    if path == "/_outbox" and method == "GET":
        with _lock:
            return answer("200 OK", {"messages": list(_sent), "opted_out": sorted(_opted_out)})
    if path == "/_outbox/reply" and method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > 10_000:
                return answer("413 Payload Too Large", {"error": "at most 10,000 bytes"})
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            sender, text = str(body["from"]), str(body.get("text", ""))
        except (KeyError, ValueError, TypeError) as e:
            return answer("400 Bad Request", {"error": f"expected {{from, text}}: {e}"})
        # SNS's keywords for opting out (AWS: STOP, and in some countries more).
        if text.strip().upper() in ("STOP", "STOPP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"):
            with _lock:
                _opted_out.add(sender)
            return answer("200 OK", {"opted_out": True})
        return answer("200 OK", {"opted_out": False})
    return answer("404 Not Found", {"error": "GET /_outbox or POST /_outbox/reply"})


def install() -> None:
    _sns.SNSBackend.publish = _publish
    _sns.SNSBackend.check_if_phone_number_is_opted_out = _opted_out_check
    _sns.SNSBackend.list_phone_numbers_opted_out = _opted_out_list
    _sns.SNSBackend.opt_in_phone_number = _opt_in
    _ses.SESBackend.send_raw_email = _send_raw
    _ses.SESBackend.send_email = _send_simple
    from moto.moto_server import werkzeug_app

    dispatch = werkzeug_app.DomainDispatcherApplication.__call__

    def call(self, environ, start_response):  # type: ignore[no-untyped-def]
        answered = handle(environ, start_response)
        return answered if answered is not None else dispatch(self, environ, start_response)

    werkzeug_app.DomainDispatcherApplication.__call__ = call
