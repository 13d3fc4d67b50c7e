"""Retell's knowledge base routes (retell/resources/knowledge_base.py): create and add sources
take multipart/form-data as the SDK sends it (plain fields; the texts and URLs as JSON strings;
booleans "true" / "false"; numbers as decimal strings; documents as file parts), the rest are plain
JSON. A text's content_url and a document's file_url are public routes of the simulator."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from .multipart import Part, parse_form
from .request import Request, Route
from .store import Store
from .validation import scan_json
from .wire import ApiError, Blob, bad_request

FILE_FIELDS = ("knowledge_base_files", "knowledge_base_files[]")
JSON_FIELDS = ("knowledge_base_texts", "knowledge_base_urls")
BOOL_FIELDS = ("enable_auto_refresh",)
INT_FIELDS = ("max_chunk_size", "min_chunk_size")
CREATE_FIELDS = ("knowledge_base_name", *JSON_FIELDS, *BOOL_FIELDS, *INT_FIELDS)
ADD_FIELDS = JSON_FIELDS


class KnowledgeBaseApi:
    """The handlers. base_url: where the simulator serves, for content_url / file_url."""

    def __init__(self, store: Store, base_url: Callable[[], str]):
        self.store, self.base_url = store, base_url

    def routes(self) -> list[Route]:
        seg = r"([^/]+)"
        return [
            ("POST", "/create-knowledge-base", self.create_kb, "api"),
            ("GET", f"/get-knowledge-base/{seg}", self.get_kb, "api"),
            ("GET", "/list-knowledge-bases", self.list_kbs, "api"),
            ("DELETE", f"/delete-knowledge-base/{seg}", self.delete_kb, "api"),
            ("POST", f"/add-knowledge-base-sources/{seg}", self.add_sources, "api"),
            ("DELETE", f"/delete-knowledge-base-source/{seg}/source/{seg}", self.delete_source, "api"),
            ("GET", r"/knowledge-base-content/([A-Za-z0-9_-]+)/([A-Za-z0-9_]+)", self.get_content, "public"),
        ]

    def view(self, kb: dict) -> dict:
        """A knowledge base as Retell answers it: the sources' URLs absolute."""
        base = self.base_url()
        sources = []
        for source in kb["knowledge_base_sources"]:
            source = dict(source)
            for key in ("content_url", "file_url"):
                if key in source:
                    source[key] = base + source[key]
            sources.append(source)
        return {**kb, "knowledge_base_sources": sources}

    def create_kb(self, req: Request) -> tuple[int, dict]:
        params, files = read_form(req, CREATE_FIELDS)
        if "knowledge_base_name" not in params:
            raise bad_request("knowledge_base_name is required")
        return 201, self.view(self.store.store_new_kb(params, files))

    def get_kb(self, req: Request, kb_id: str) -> dict:
        with self.store.lock:
            return self.view(self.store.kb(kb_id))

    def list_kbs(self, req: Request) -> list:
        with self.store.lock:
            key = self.store.creation_keys()
            kbs = sorted(self.store.knowledge_bases.values(), key=lambda kb: key(kb["knowledge_base_id"]))
            return [self.view(kb) for kb in kbs]

    def delete_kb(self, req: Request, kb_id: str) -> tuple[int, None]:
        self.store.delete_kb(kb_id)
        return 204, None

    def add_sources(self, req: Request, kb_id: str) -> dict:
        with self.store.lock:
            self.store.kb(kb_id)  # an unknown id is a 404 before the form is looked at
        params, files = read_form(req, ADD_FIELDS)
        return self.view(self.store.add_kb_sources(kb_id, params, files))

    def delete_source(self, req: Request, kb_id: str, source_id: str) -> dict:
        return self.view(self.store.delete_kb_source(kb_id, source_id))

    def get_content(self, req: Request, kb_id: str, source_id: str) -> tuple[int, Blob]:
        """A text source's content_url (the text, text/plain) or a document's file_url (its
        bytes); public, as Retell's stored-content URLs are."""
        with self.store.lock:
            blob = self.store.kb_content.get(f"/knowledge-base-content/{kb_id}/{source_id}")
        if blob is None:
            raise ApiError(404, "Knowledge base content not found")
        return 200, blob


def read_form(req: Request, known: tuple[str, ...]) -> tuple[dict, list[tuple[str, bytes]]]:
    """The form decoded: (params as the SDK's TypedDicts have them, [(filename, bytes)]).
    Fields the endpoint does not know are ignored, as Retell ignores unknown keys; a known field
    given twice, a file in a plain field or a plain value in knowledge_base_files is a 400."""
    parts = parse_form(req.headers.get("Content-Type"), req.raw)
    params: dict[str, Any] = {}
    files: list[tuple[str, bytes]] = []
    for part in parts:
        if part.name in FILE_FIELDS:
            if part.filename is None:
                raise bad_request("knowledge_base_files parts must be files (with a filename)")
            files.append((part.filename, part.data))
            continue
        if part.name not in known:
            continue
        if part.filename is not None:
            raise bad_request(f"{part.name} must be a plain form field, not a file")
        if part.name in params:
            raise bad_request(f"form field {part.name} is given more than once")
        params[part.name] = _field_value(part)
    return params, files


def _field_value(part: Part) -> Any:
    text = part.text()
    if part.name in JSON_FIELDS:
        def no_constants(name: str) -> Any:
            raise ValueError(name)

        try:
            value = json.loads(text, parse_constant=no_constants)
        except (ValueError, RecursionError):
            raise bad_request(f"{part.name} must be a JSON array (sent as a form field)") from None
        scan_json(value)
        return value
    if part.name in BOOL_FIELDS:
        if text not in ("true", "false"):
            raise bad_request(f"{part.name} must be true or false")
        return text == "true"
    if part.name in INT_FIELDS:
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise bad_request(f"{part.name} must be an integer")
        return int(text)
    return text
