"""The storage layout (DESIGN.md): one place that knows where things live."""

from __future__ import annotations

import re
import unicodedata
import uuid

AUDIO_PREFIX = "audio/"
INBOX_PREFIX = "inbox/"
TRANSCRIPTS_PREFIX = "transcripts/"
# Working files of long audio (parts, their results). The S3 event router has no
# worker for this prefix: writing here starts nothing.
WORK_PREFIX = "work/"
MAX_NAME_LENGTH = 120


def sanitise_filename(name: str) -> str:
    """A safe, readable file name: no folders, only letters, digits, `-_.`, at
    most MAX_NAME_LENGTH characters with the extension kept. It matches what
    Django's storage would make of it, so web and presigned uploads agree."""
    name = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    name = re.sub(r"[^\w.-]", "", re.sub(r"\s+", "_", name.strip())).strip("._")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:10].lower()
    stem = stem[: MAX_NAME_LENGTH - len(ext) - 1].strip("._") or "audio"
    return f"{stem}.{ext}" if ext else stem


def download_name(title: str, ext: str) -> str:
    """A file name for a download of `title`, by the same rule: its slashes are words, not folders."""
    stem = re.sub(r"[\\/]", " ", title).strip() or "transcript"
    return sanitise_filename(f"{stem}.{ext}")


def title_from_name(name: str) -> str:
    """The file's name as a person wrote it, for a title (the key keeps the storage-safe one)."""
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem.strip(".") else stem
    return " ".join(stem.replace("_", " ").split())[:200] or "Untitled recording"


def audio_key(transcript_id: uuid.UUID | str, name: str) -> str:
    return f"{AUDIO_PREFIX}{transcript_id}/{sanitise_filename(name)}"


def transcript_key(transcript_id: uuid.UUID | str) -> str:
    return f"{TRANSCRIPTS_PREFIX}{transcript_id}.json"


def work_prefix(transcript_id: uuid.UUID | str) -> str:
    return f"{WORK_PREFIX}{transcript_id}/"


def id_from_key(key: str) -> uuid.UUID | None:
    """The transcript id in `audio/<uuid>/…` or `transcripts/<uuid>.json`, else None."""
    m = re.match(r"^(?:audio/([0-9a-f-]{36})/|transcripts/([0-9a-f-]{36})\.json$)", key)
    if not m:
        return None
    try:
        return uuid.UUID(m.group(1) or m.group(2))
    except ValueError:
        return None
