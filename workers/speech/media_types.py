"""The HTTP media type to serve audio as, from the container FFmpeg recognised by
decoding it, never from the uploader's file name: a valid mp3 named evil.html is
still an mp3, and serving it as text/html would let a browser run what its tags hold."""

from __future__ import annotations

import av

# PyAV's `container.format.name` → what browsers expect for <audio>.
_BY_FORMAT = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "matroska,webm": "audio/webm",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
    "amr": "audio/amr",
    "caf": "audio/x-caf",
}
# Decodable but not something a browser plays: download it, never render it.
UNKNOWN = "application/octet-stream"


def media_type(format_name: str) -> str:
    return _BY_FORMAT.get(format_name, UNKNOWN)


def sniff_media_type(path: str) -> str:
    """Open the file's header (nothing decoded) and name its media type."""
    try:
        with av.open(path, metadata_errors="ignore") as container:
            return media_type(container.format.name)
    except (av.error.FFmpegError, OSError):
        return UNKNOWN
