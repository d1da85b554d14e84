"""Recognising and measuring audio with PyAV.

PyAV links FFmpeg's libraries into the wheel faster-whisper already depends on,
so there is no ffmpeg binary to find on the PATH (Lambda has none), and a file
is judged by decoding it, never by its name or Content-Type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av

log = logging.getLogger(__name__)


class AudioError(Exception):
    """Input that is not usable audio; the message is written for the person who uploaded it."""


@dataclass
class AudioInfo:
    duration: float
    format: str
    codec: str
    sample_rate: int
    channels: int


def _open(path: str):
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise AudioError("This file is not audio or video we can read.") from exc
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"This file could not be opened as audio: {exc.strerror or exc}.") from exc


def _header_duration(container, stream) -> float | None:
    """What the headers say, nothing decoded; None where they say nothing."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def declared_duration(path: str) -> float:
    """The duration the container states (0 where it states none), nothing decoded."""
    try:
        with av.open(path, metadata_errors="ignore") as container:
            return _header_duration(container, container.streams.audio[0]) or 0.0
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioError("The audio could not be opened for transcription.") from exc


def _end_of_data(container, stream, declared: float) -> float:
    """Seek near the declared end and decode: where the data really stops."""
    container.seek(max(int((declared - 2.0) * av.time_base), 0), any_frame=False)
    end = 0.0
    for frame in container.decode(stream):
        if frame.time is not None:
            end = max(end, frame.time + frame.samples / (frame.sample_rate or 1))
    return end


def probe(path: str, *, max_seconds: float | None = None, min_seconds: float = 0.0) -> AudioInfo:
    """Open, check and measure `path`; raise AudioError with a readable reason."""
    import os

    if os.path.getsize(path) == 0:
        raise AudioError("The file is empty (0 bytes).")
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioError("The file has no audio track.")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        declared = _header_duration(container, stream)
        try:
            if declared is None:
                # Streams without a header duration (raw ADTS, some webm): decode to measure.
                declared = _end_of_data(container, stream, 0.0)
                end = declared
            else:
                end = _end_of_data(container, stream, declared)
        except av.error.FFmpegError as exc:
            raise AudioError("The audio is damaged or truncated: it cannot be decoded to its end.") from exc
        if declared > 0 and end < declared - max(1.0, declared * 0.02):
            raise AudioError(
                f"The audio is truncated: it should last {declared:.1f} s but the data stops at {end:.1f} s."
            )
        duration = round(declared, 3)
        if duration < min_seconds:
            raise AudioError(
                f"The audio is too short ({duration:.1f} s); at least {min_seconds:g} s is needed."
            )
        if max_seconds and duration > max_seconds:
            raise AudioError(
                f"The audio is too long ({duration / 60:.0f} min); the limit is {max_seconds / 60:.0f} min."
            )
        return AudioInfo(
            duration=duration,
            format=container.format.name,
            codec=ctx.name,
            sample_rate=ctx.sample_rate or 0,
            channels=ctx.channels or 0,
        )
