"""Request bodies checked as Retell checks them: against the SDK's own parameter types
(retell/types/*_params.py), within size and nesting limits, as valid UTF-8 JSON; and the formats
and value sets the SDK names (E.164 numbers, tool names, disconnection reasons)."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import typing_extensions
from retell.types import (agent_list_params, knowledge_base_add_sources_params, knowledge_base_create_params,
                          phone_number_update_params)
from retell.types.phone_call_response import PhoneCallResponse

from .limits import (KB_DEFAULT_MAX_CHUNK, KB_DEFAULT_MIN_CHUNK, KB_FILE_TYPES, KB_FILENAME_MAX_CHARS,
                     KB_NAME_MAX_CHARS, KB_TEXT_MAX_CHARS, KB_TITLE_MAX_CHARS, MAX_JSON_DEPTH, MAX_STRING_CHARS)
from .wire import bad_request


def _literals(annotation) -> tuple[str, ...]:
    """The Literal values inside an SDK field's annotation (Optional[...] included)."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return tuple(v for arg in get_args(annotation) for v in _literals(arg))


# What Retell may end a call with, and how a call's data may be stored, as the SDK lists them.
DISCONNECTION_REASONS = frozenset(_literals(PhoneCallResponse.model_fields["disconnection_reason"].annotation))
DATA_STORAGE_SETTINGS = frozenset(_literals(PhoneCallResponse.model_fields["data_storage_setting"].annotation))
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SURROGATE = re.compile("[\ud800-\udfff]")


class Schema:
    """Checks a JSON value against a type from retell/types/*_params.py (TypedDicts, Literal,
    Union, Optional, List/Iterable/Sequence, Dict, str/int/float/bool/object). Unknown keys pass
    (Retell ignores them); missing Required keys and wrong types do not."""

    def __init__(self) -> None:
        self._fields: dict[type, dict[str, tuple[Any, bool]]] = {}
        self._lock = threading.Lock()

    def fields(self, td: type) -> dict[str, tuple[Any, bool]]:
        """JSON key -> (type, required) of a TypedDict, aliases (PropertyInfo) applied."""
        with self._lock:
            cached = self._fields.get(td)
            if cached is None:
                cached = {}
                for name, tp in typing_extensions.get_type_hints(td, include_extras=True).items():
                    required, key = False, name
                    while True:
                        origin = get_origin(tp)
                        if origin is typing_extensions.Required:
                            required, tp = True, get_args(tp)[0]
                        elif origin is typing_extensions.NotRequired:
                            tp = get_args(tp)[0]
                        elif origin is typing_extensions.Annotated:
                            for meta in getattr(tp, "__metadata__", ()):
                                key = getattr(meta, "alias", None) or key
                            tp = get_args(tp)[0]
                        else:
                            break
                    cached[key] = (tp, required)
                self._fields[td] = cached
            return cached

    def keys(self, td: type) -> set[str]:
        return set(self.fields(td))

    def check(self, value: Any, tp: Any, path: str = "body", skip: Iterable[str] = ()) -> None:
        """Raise a 400 if `value` does not fit `tp`."""
        err = self._check(value, tp, path, set(skip))
        if err:
            raise bad_request(err)

    def _check(self, value: Any, tp: Any, path: str, skip: set[str] = frozenset()) -> str | None:  # noqa: C901
        if tp is Any or tp is object:
            return None
        origin = get_origin(tp)
        if origin in (typing_extensions.Required, typing_extensions.NotRequired, typing_extensions.Annotated):
            return self._check(value, get_args(tp)[0], path)
        if origin is Union:
            members = get_args(tp)
            if value is None:
                return None if type(None) in members else f"{path} must not be null"
            errors = []
            for member in members:
                if member is type(None):
                    continue
                err = self._check(value, member, path)
                if err is None:
                    return None
                errors.append((member, err))
            # Tagged unions (tools, response engines, filters): report against the member whose
            # `type` literal matches, which says what is actually wrong with it.
            if isinstance(value, dict) and "type" in value:
                for member, err in errors:
                    if typing_extensions.is_typeddict(member):
                        type_tp = self.fields(member).get("type", (None,))[0]
                        if get_origin(type_tp) is Literal and value["type"] in get_args(type_tp):
                            return err
                return f"{path}.type {value['type']!r} is not one of the allowed types"
            return errors[0][1] if len(errors) == 1 else f"{path} has an invalid value"
        if origin is Literal:
            allowed = get_args(tp)
            if any(value == a and type(value) is type(a) for a in allowed):
                return None
            shown = ", ".join(repr(a) for a in allowed[:12]) + (", ..." if len(allowed) > 12 else "")
            return f"{path} must be one of {shown}"
        if tp is str:
            return None if isinstance(value, str) else f"{path} must be a string"
        if tp is bool:
            return None if isinstance(value, bool) else f"{path} must be a boolean"
        if tp is int:
            # JSON has one number type; Retell's JavaScript cannot tell 3.0 from 3.
            if isinstance(value, int) and not isinstance(value, bool):
                return None
            if isinstance(value, float) and value.is_integer():
                return None
            return f"{path} must be an integer"
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return None if ok else f"{path} must be a number"
        if tp is type(None):
            return None if value is None else f"{path} must be null"
        if origin in (list, Iterable, Sequence):
            if not isinstance(value, list):
                return f"{path} must be an array"
            (item_tp,) = get_args(tp) or (Any,)
            for i, item in enumerate(value):
                err = self._check(item, item_tp, f"{path}[{i}]")
                if err:
                    return err
            return None
        if origin in (dict, Mapping):
            if not isinstance(value, dict):
                return f"{path} must be an object"
            args = get_args(tp)
            value_tp = args[1] if len(args) == 2 else Any
            for k, v in value.items():
                err = self._check(v, value_tp, f"{path}.{k}")
                if err:
                    return err
            return None
        if typing_extensions.is_typeddict(tp):
            if not isinstance(value, dict):
                return f"{path} must be an object"
            for key, (field_tp, required) in self.fields(tp).items():
                if key in skip:
                    continue
                if key not in value:
                    if required:
                        return f"{path}.{key} is required"
                    continue
                err = self._check(value[key], field_tp, f"{path}.{key}")
                if err:
                    return err
            return None
        return None  # a type this checker does not know: accept rather than refuse valid input


def scan_json(value: Any, depth: int = 0) -> None:
    """Limits on a parsed body: nesting depth, string length, no lone surrogates (\\ud800 escapes
    parse into strings that cannot be encoded back to UTF-8)."""
    if depth > MAX_JSON_DEPTH:
        raise bad_request("JSON nested too deeply")
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise bad_request(f"string longer than {MAX_STRING_CHARS} characters")
        if SURROGATE.search(value):
            raise bad_request("string is not valid Unicode")
    elif isinstance(value, dict):
        for k, v in value.items():
            scan_json(k, depth + 1)
            scan_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            scan_json(v, depth + 1)


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("body is not valid UTF-8") from None

    def no_constants(name: str) -> Any:  # NaN / Infinity are not JSON
        raise ValueError(name)

    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        raise bad_request("body is not valid JSON") from None
    scan_json(value)
    return value


def http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace or control characters."""
    if not value or re.search(r"[\x00-\x20\x7f]", value):
        return False
    try:
        url = urllib.parse.urlsplit(value)
        url.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.hostname)


def check_kb_params(schema: Schema, params: dict, create: bool, files: Sequence[tuple[str, bytes]] = ()) -> None:
    """A create-knowledge-base (create) or add-knowledge-base-sources body, decoded from its form
    (or a seed entry): the SDK's types, then what Retell documents (a name under 40 characters,
    valid URLs, min_chunk_size below max_chunk_size, the document formats) and our bounds."""
    td = knowledge_base_create_params.KnowledgeBaseCreateParams if create \
        else knowledge_base_add_sources_params.KnowledgeBaseAddSourcesParams
    schema.check(params, td, skip={"knowledge_base_files"})
    if create:
        name = params["knowledge_base_name"]
        if not name.strip():
            raise bad_request("knowledge_base_name must not be empty")
        if len(name) > KB_NAME_MAX_CHARS:
            raise bad_request(f"knowledge_base_name must be less than {KB_NAME_MAX_CHARS + 1} characters")
        low, high = params.get("min_chunk_size"), params.get("max_chunk_size")
        for key, value in (("min_chunk_size", low), ("max_chunk_size", high)):
            if value is not None and value < 1:
                raise bad_request(f"{key} must be a positive integer")
        if (low if low is not None else KB_DEFAULT_MIN_CHUNK) >= (high if high is not None else KB_DEFAULT_MAX_CHUNK):
            raise bad_request("min_chunk_size must be less than max_chunk_size")
    for i, text in enumerate(params.get("knowledge_base_texts") or ()):
        if not text["title"].strip():
            raise bad_request(f"knowledge_base_texts[{i}].title must not be empty")
        if len(text["title"]) > KB_TITLE_MAX_CHARS:
            raise bad_request(f"knowledge_base_texts[{i}].title is longer than {KB_TITLE_MAX_CHARS} characters")
        if not text["text"].strip():
            raise bad_request(f"knowledge_base_texts[{i}].text must not be empty")
        if len(text["text"]) > KB_TEXT_MAX_CHARS:
            raise bad_request(f"knowledge_base_texts[{i}].text is longer than {KB_TEXT_MAX_CHARS} characters")
    for i, url in enumerate(params.get("knowledge_base_urls") or ()):
        if not http_url(url):
            raise bad_request(f"knowledge_base_urls[{i}] must be a valid http(s) URL")
    for i, (filename, data) in enumerate(files):
        suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if not filename.strip() or len(filename) > KB_FILENAME_MAX_CHARS or "/" in filename or "\\" in filename:
            raise bad_request(f"knowledge_base_files[{i}] needs a file name of 1-{KB_FILENAME_MAX_CHARS} "
                              "characters without a path")
        if suffix not in KB_FILE_TYPES:
            raise bad_request(f"knowledge_base_files[{i}] ({filename}): unsupported file type; "
                              f"supported: {', '.join(sorted(KB_FILE_TYPES))}")
        if not data:
            raise bad_request(f"knowledge_base_files[{i}] ({filename}) is empty")


class AgentListBody(typing_extensions.TypedDict, total=False):
    """list-agents' body (limit, pagination_key and sort_order are query parameters)."""
    filter_criteria: agent_list_params.FilterCriteria


class SeedNumber(typing_extensions.TypedDict, total=False):
    """A number of the seeded account: the update fields plus the number (no SIP trunk needed)."""
    phone_number: typing_extensions.Required[str]
    phone_number_type: Literal["retell-twilio", "retell-telnyx", "custom"]


for _key, _value in typing_extensions.get_type_hints(phone_number_update_params.PhoneNumberUpdateParams,
                                                     include_extras=True).items():
    SeedNumber.__annotations__.setdefault(_key, _value)
