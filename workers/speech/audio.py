"""Recognising and measuring audio with PyAV.

PyAV links FFmpeg's libraries into the wheel faster-whisper already depends on,
so there is no ffmpeg binary to find on the PATH (Lambda has none), and a file
is judged by decoding it, never by its name or Content-Type.
"""

from __future__ import annotations

import logging
import os
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


def _packets_end(container, stream, stop_after: float | None = None) -> float | None:
    """Where the packets end, by their own timestamps: read, not decoded, so an hour
    costs a fraction of a second and no memory. Stops once past `stop_after`, so a
    file that lies about its length costs no more than the limit. None where packets
    carry no timestamps (some raw streams)."""
    end = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        end = max(end or 0.0, float((packet.pts + (packet.duration or 0)) * stream.time_base))
        if stop_after is not None and end > stop_after:
            break
    return end


def _end_of_data(container, stream, near: float, stop_after: float | None = None) -> float:
    """Seek a little before `near` and decode to the end: where the decodable data stops."""
    container.seek(max(int((near - 2.0) * av.time_base), 0), any_frame=False)
    end = 0.0
    for frame in container.decode(stream):
        if frame.time is not None:
            end = max(end, frame.time + frame.samples / (frame.sample_rate or 1))
        if stop_after is not None and end > stop_after:
            break
    return end


def measured_duration(path: str) -> float:
    """How long the audio really lasts, whatever its header says; nothing held in memory."""
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            return _end_of_data(container, stream, _packets_end(container, stream) or 0.0)
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioError("The audio could not be opened for transcription.") from exc


def probe(path: str, *, max_seconds: float | None = None, min_seconds: float = 0.0) -> AudioInfo:
    """Open, check and measure `path`; raise AudioError with a readable reason.

    The duration is measured from the data, never taken from the header: a header
    can claim seconds for hours of frames, or hours for seconds."""
    if os.path.getsize(path) == 0:
        raise AudioError("The file is empty (0 bytes).")
    # Past the limit, how far past does not matter: reading stops there.
    stop_after = max_seconds + 1.0 if max_seconds else None
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioError("The file has no audio track.")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        declared = _header_duration(container, stream)
        try:
            packets_end = _packets_end(container, stream, stop_after)
            if packets_end is not None and stop_after and packets_end > stop_after:
                raise AudioError(_too_long(max_seconds))
            # Decoding the last seconds proves the data decodes to its end, and places that end exactly.
            end = _end_of_data(container, stream, packets_end or 0.0, stop_after)
        except av.error.FFmpegError as exc:
            raise AudioError("The audio is damaged or truncated: it cannot be decoded to its end.") from exc
        if declared and end < declared - max(1.0, declared * 0.02):
            raise AudioError(
                f"The audio is truncated: it should last {declared:.1f} s but the data stops at {end:.1f} s."
            )
        duration = round(end, 3)
        if duration < min_seconds:
            raise AudioError(
                f"The audio is too short ({duration:.1f} s); at least {min_seconds:g} s is needed."
            )
        if max_seconds and duration > max_seconds:
            raise AudioError(_too_long(max_seconds))
        return AudioInfo(
            duration=duration,
            format=container.format.name,
            codec=ctx.name,
            sample_rate=ctx.sample_rate or 0,
            channels=ctx.channels or 0,
        )


def _too_long(max_seconds: float) -> str:
    # One message for every file over the limit, however far over and whatever its header says.
    return f"The audio is too long: the limit is {max_seconds / 60:g} min."
