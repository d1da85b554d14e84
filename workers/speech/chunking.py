"""Long audio, cut into parts at silences.

The openai engine needs every request under 25 MB, and one Lambda runs at most
15 minutes, so long audio is made compact (mono 16 kHz Opus in Ogg: about 11 MB
an hour) and cut into parts. Cuts go at the quietest moment near each ideal
cut point, so no word is split between two parts.

Nothing here holds a whole file's samples: planning decodes only a short
window around each cut point (seeking), and cutting copies Opus packets into
new Ogg files without decoding or re-encoding them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from .audio import AudioError

# OpenAI's limit for one request is 25 MB (26,214,400 bytes); parts stay far below it.
REQUEST_LIMIT_BYTES = 26_214_400
SAMPLE_RATE = 16_000
OPUS_BITRATE = 24_000
# 60 ms Opus frames: a third of the packets of the 20 ms default, so decoding and
# cutting cost less per hour, with no loss that matters for speech recognition.
OPUS_FRAME_MS = "60"
HOP_SECONDS = 0.05
# Below this (or 10 dB above the quietest hop, if louder) counts as a pause.
QUIET_DBFS = -45.0
# How far either side of an ideal cut point a pause is looked for.
SEARCH_SECONDS = 20.0

# Container formats the API recognises, by PyAV's format name, with the extension
# to send: the API guesses the format from the file name.
API_EXTENSIONS = {
    "mp3": "mp3",
    "ogg": "ogg",
    "wav": "wav",
    "flac": "flac",
    "matroska,webm": "webm",
    "mov,mp4,m4a,3gp,3g2,mj2": "m4a",
}


@dataclass(frozen=True)
class Span:
    """One part of the original timeline, in seconds."""

    index: int
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def label(self, total: int) -> str:
        return f"part {self.index + 1} of {total} ({clock(self.start)}–{clock(self.end)})"


@dataclass
class Piece:
    """A part as a file of its own: `offset` is where its first sample sits in the original."""

    span: Span
    path: str
    offset: float


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def extension_for(path: str) -> str | None:
    """The extension the API should see for this file's content, or None if the API would refuse it."""
    with av.open(path, metadata_errors="ignore") as container:
        return API_EXTENSIONS.get(container.format.name)


def is_compact(path: str) -> bool:
    """Mono Opus in Ogg at a speech bit rate: already what `transcode` makes, so it can be cut as is."""
    with av.open(path, metadata_errors="ignore") as container:
        if container.format.name != "ogg" or not container.streams.audio:
            return False
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        rate = os.path.getsize(path) * 8 / duration if duration else math.inf
        return ctx.name == "opus" and ctx.channels == 1 and rate <= 48_000


def transcode(path: str, dest: str) -> str:
    """Decode anything PyAV reads and write mono 16 kHz Opus in Ogg at `dest`, streaming."""
    try:
        with av.open(path, metadata_errors="ignore") as inp, av.open(dest, "w", format="ogg") as out:
            stream = out.add_stream(
                "libopus", rate=SAMPLE_RATE, options={"frame_duration": OPUS_FRAME_MS, "application": "voip"}
            )
            stream.layout = "mono"
            stream.bit_rate = OPUS_BITRATE
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in inp.decode(audio=0):
                for f in resampler.resample(frame):
                    out.mux(stream.encode(f))
            for f in resampler.resample(None):
                out.mux(stream.encode(f))
            out.mux(stream.encode(None))
    except av.error.FFmpegError as exc:
        raise AudioError("The audio could not be converted for transcription: it may be damaged.") from exc
    return dest


def window_loudness(path: str, start: float, end: float) -> tuple[float, np.ndarray]:
    """RMS per HOP_SECONDS between `start` and `end`: (time of the first hop, values).

    Seeks, then decodes only this window; frame timestamps, not the seek target,
    place the values, because containers seek to the packet before the target."""
    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        container.seek(max(int(start * av.time_base), 0), any_frame=False)
        chunks: list[np.ndarray] = []
        first: float | None = None
        rate = SAMPLE_RATE
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if frame.time >= end:
                break
            if frame.time + frame.samples / frame.sample_rate <= start:
                continue
            if first is None:
                first, rate = frame.time, frame.sample_rate
            chunks.append(mono(frame))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return (start if first is None else first), hop_rms(samples, rate)


def mono(frame: av.AudioFrame) -> np.ndarray:
    """A frame's samples as float32 in [-1, 1], channels averaged; no resampler, so it stays cheap."""
    arr = frame.to_ndarray()
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if frame.format.is_planar:
        return arr.mean(axis=0, dtype=np.float32) if arr.shape[0] > 1 else arr[0].astype(np.float32)
    channels = max(len(frame.layout.channels), 1)
    return arr.reshape(-1, channels).mean(axis=1, dtype=np.float32)


def hop_rms(samples: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    hop = int(rate * HOP_SECONDS)
    n = len(samples) // hop
    if n == 0:
        return np.zeros(0, np.float32)
    blocks = samples[: n * hop].astype(np.float32).reshape(n, hop)
    return np.sqrt(np.mean(blocks * blocks, axis=1))


def quietest(rms: np.ndarray, lo: int, hi: int, prefer: int) -> int:
    """Where to cut within hops [lo, hi): the middle of a pause.

    Pauses are runs of hops well below the speech around them. Any pause of a
    second or more will do, the one nearest `prefer` winning; failing that the
    longest. Short gaps inside a sentence lose to real pauses that way."""
    lo, hi = max(lo, 0), min(hi, len(rms))
    if hi <= lo:
        return lo
    level = 20 * np.log10(rms[lo:hi] + 1e-9)
    quiet = level < max(level.min() + 10.0, QUIET_DBFS)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    runs = list(zip(edges[::2], edges[1::2], strict=True))
    if not runs:
        return max(min(prefer, hi - 1), lo)
    enough = min(max(b - a for a, b in runs), int(1.0 / HOP_SECONDS))
    centres = [lo + (a + b) // 2 for a, b in runs if b - a >= enough]
    return min(centres, key=lambda c: abs(c - prefer))


Loudness = Callable[[float, float], tuple[float, np.ndarray]]


def plan_spans(duration: float, max_seconds: float, loudness: Loudness) -> list[Span]:
    """Cut [0, duration] into parts of at most `max_seconds` (about 90% of it on average),
    each cut at a pause within SEARCH_SECONDS of its ideal place.

    `loudness(start, end)` answers (first hop time, RMS per hop) for a window; the
    plan depends on nothing else, so the same audio always gets the same plan."""
    # Aim at 90% of the maximum, leaving each cut room to move to a pause.
    count = max(math.ceil(duration / (max_seconds * 0.9)), 1) if duration > max_seconds else 1
    search = min(SEARCH_SECONDS, duration / count / 4)
    cuts = [0.0]
    for i in range(1, count):
        left = count - i  # parts still to come after this cut
        ideal = cuts[-1] + (duration - cuts[-1]) / (left + 1)
        lo = max(ideal - search, cuts[-1] + 1.0, duration - left * max_seconds)
        hi = min(ideal + search, cuts[-1] + max_seconds)
        if hi - lo < 2 * HOP_SECONDS:
            cuts.append(round(ideal, 3))
            continue
        first, rms = loudness(lo, hi)
        hop = quietest(
            rms,
            int((lo - first) / HOP_SECONDS),
            int((hi - first) / HOP_SECONDS),
            int((ideal - first) / HOP_SECONDS),
        )
        cut = float(first + hop * HOP_SECONDS) if len(rms) else ideal
        cuts.append(round(min(max(cut, lo), hi), 3))
    cuts.append(duration)
    return [Span(i, round(a, 3), round(b, 3)) for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))]


def plan(path: str, duration: float, max_seconds: float) -> list[Span]:
    """The parts of the audio at `path` (ideally the compact copy: it seeks cheaply)."""
    return plan_spans(duration, max_seconds, lambda a, b: window_loudness(path, a, b))


def cut(compact_path: str, spans: list[Span], out_dir: str) -> list[Piece]:
    """Copy the Opus packets of each span into its own Ogg file, in one pass, no re-encoding."""
    pieces: list[Piece] = []
    with av.open(compact_path) as inp:
        src = inp.streams.audio[0]
        bounds = [s.end for s in spans]
        current = -1
        out = dst = None
        base = 0
        try:
            for packet in inp.demux(src):
                if packet.size == 0 or packet.pts is None:
                    continue
                t = float(packet.pts * src.time_base)
                i = current if current >= 0 else 0
                while i < len(spans) - 1 and t >= bounds[i]:
                    i += 1
                if i != current:
                    if out is not None:
                        out.close()
                    path = os.path.join(out_dir, f"part-{i + 1}.ogg")
                    out = av.open(path, "w", format="ogg")
                    dst = out.add_stream_from_template(src)
                    base = packet.pts
                    # Each file keeps the source's Opus pre-skip, so its time 0 is this packet's time.
                    pieces.append(Piece(spans[i], path, round(t, 3)))
                    current = i
                packet.pts -= base
                packet.dts = packet.pts
                packet.stream = dst
                out.mux(packet)
        finally:
            if out is not None:
                out.close()
    return pieces


def split(path: str, duration: float, max_seconds: float, work_dir: str) -> list[Piece]:
    """The audio as compact parts of at most `max_seconds`: transcoded first unless already compact."""
    compact = path if is_compact(path) else transcode(path, os.path.join(work_dir, "compact.ogg"))
    return cut(compact, plan(compact, duration, max_seconds), work_dir)
