"""Finding and loading a qbXML schema: the embedded one, or an Intuit SDK folder.

The embedded schema (`schemas/qbxml/qbsync-qbxml-<version>.xsd`) is derived from Intuit's
published files by `scripts/derive_schema.py` and covers the supported object types. An SDK
folder (`--schema-dir`, or env `QBSYNC_QBXML_SCHEMA_DIR`) holds Intuit's `qbxmlops<NN>.xsd` with
its includes — either directly or in per-version subfolders — and makes every request type of
that version available. Both go through the same code path: `XsdModel` for structure, lxml for
validation.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import threading
from functools import cached_property
from pathlib import Path

from lxml import etree

from qbsync.errors import QbsyncError
from qbsync.qbxml.versions import version_key
from qbsync.qbxml.xsdmodel import ElementDecl, XsdModel

SCHEMA_DIR_ENV = "QBSYNC_QBXML_SCHEMA_DIR"
DEFAULT_VERSION = "13.0"
_SDK_ENTRY = re.compile(r"^qbxmlops(\d+)\.xsd$", re.IGNORECASE)
_EMBEDDED_ENTRY = re.compile(r"^qbsync-qbxml-(\d+\.\d+)\.xsd$")


@functools.cache
def embedded_dir() -> Path:
    """Where the embedded schemas live: `schemas/qbxml/` of a source checkout, or
    `<prefix>/share/qbsync/schemas/qbxml/` of an installed qbsync. Found once per process
    (`load_schema` asks twice per message parsed or built)."""
    checkout = Path(__file__).resolve().parent.parent.parent / "schemas" / "qbxml"
    candidates = [checkout, Path(sys.prefix) / "share" / "qbsync" / "schemas" / "qbxml"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return checkout


def _sdk_version(match: re.Match[str]) -> str:
    digits = match.group(1)  # "130" -> "13.0", "20" -> "2.0"
    return f"{int(digits[:-1])}.{digits[-1]}"


def find_entries(folder: str | Path) -> dict[str, Path]:
    """Map version -> entry file for every schema found in `folder` (and its direct subfolders)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QbsyncError(f"schema folder not found: {folder}")
    found: dict[str, Path] = {}
    for place in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        for f in place.iterdir():
            m = _SDK_ENTRY.match(f.name)
            if m:
                found.setdefault(_sdk_version(m), f)
                continue
            m = _EMBEDDED_ENTRY.match(f.name)
            if m:
                found.setdefault(m.group(1), f)
    if not found:
        raise QbsyncError(f"no qbXML schema in {folder} (expected qbxmlops130.xsd or similar, from Intuit's SDK validator folder)")
    return found


def choose_version(available: list[str], wanted: str | None) -> str:
    """The exact version if present, else the newest one not above it; with no wish, the
    default version if present, else the newest."""
    ordered = sorted(available, key=version_key)
    if wanted is None:
        return DEFAULT_VERSION if DEFAULT_VERSION in ordered else ordered[-1]
    if wanted in ordered:
        return wanted
    below = [v for v in ordered if version_key(v) <= version_key(wanted)]
    if not below:
        raise QbsyncError(f"no qbXML schema for version {wanted} or below (have {', '.join(ordered)})")
    return below[-1]


class Schema:
    """One qbXML schema version: its structure (`model`) and validators."""

    def __init__(self, version: str, entry: Path, source: str):
        self.version = version
        self.entry = entry
        self.source = source  # "embedded" or the folder it came from
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Schema {self.version} from {self.source}>"

    @cached_property
    def model(self) -> XsdModel:
        return XsdModel(self.entry)

    @cached_property
    def lxml(self) -> etree.XMLSchema:
        """The compiled lxml validator (~0.05 s for the published schema). lxml validators are
        not thread-safe, so callers go through `validate_tree`."""
        return etree.XMLSchema(etree.parse(str(self.entry)))

    def validate_tree(self, tree: etree._Element | etree._ElementTree) -> list[etree._LogEntry]:
        """lxml validation; returns the error log entries (empty when valid)."""
        validator = self.lxml
        with self._lock:
            ok = validator.validate(tree)
            return [] if ok else list(validator.error_log)

    def element(self, name: str) -> ElementDecl | None:
        """A global element, or a request/response (`…Rq`/`…Rs`) declared in the envelope."""
        if name.endswith("Rq") or name.endswith("Rs"):
            return self.model.message_element(name)
        return self.model.element(name)

    def request_names(self) -> list[str]:
        return self.model.request_names()

    def supports(self, request_name: str) -> bool:
        return self.element(request_name + "Rq") is not None


_cache: dict[tuple[str, str], Schema] = {}
_cache_lock = threading.Lock()


# (folder as given, version asked) -> its schema: a repeated call (the server builds every
# request through here) costs a dict lookup, not a directory listing. Relative folders are
# not remembered (they depend on the working directory).
_chosen: dict[tuple[str | None, str | None], Schema] = {}


def load_schema(version: str | None = None, schema_dir: str | Path | None = None) -> Schema:
    """The schema for `version` (see `choose_version`), from `schema_dir`, env
    QBSYNC_QBXML_SCHEMA_DIR, or the embedded schemas. Cached per process."""
    folder = schema_dir or os.environ.get(SCHEMA_DIR_ENV) or None
    remember = folder is None or Path(folder).is_absolute()
    known = _chosen.get((str(folder) if folder else None, version)) if remember else None
    if known is not None:
        return known
    key_folder = Path(folder).resolve() if folder else embedded_dir()
    source = "embedded" if key_folder == embedded_dir() else str(Path(folder))
    entries = _entries(key_folder)
    chosen = choose_version(list(entries), version)
    key = (str(key_folder), chosen)
    with _cache_lock:
        schema = _cache.get(key)
        if schema is None:
            schema = Schema(chosen, entries[chosen], source)
            _cache[key] = schema
        if remember:
            _chosen[(str(folder) if folder else None, version)] = schema
    return schema


def available_versions(schema_dir: str | Path | None = None) -> list[str]:
    folder = schema_dir or os.environ.get(SCHEMA_DIR_ENV) or embedded_dir()
    return sorted(_entries(Path(folder)), key=version_key)


def _entries(folder: Path) -> dict[str, Path]:
    """`find_entries`; the embedded folder (part of qbsync itself, unchanging) is read once per
    process, a schema folder given by the user each time."""
    return dict(_embedded_entries()) if folder == embedded_dir() else find_entries(folder)


@functools.cache
def _embedded_entries() -> dict[str, Path]:
    return find_entries(embedded_dir())
