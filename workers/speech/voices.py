"""Speaker ids that hold across the parts of long audio.

A diarizing model labels each request's speakers on its own: "A" in one part
need not be "A" in the next. OpenAI's gpt-4o-transcribe-diarize takes up to four
known speakers, each a name and a 2–10 s clip of their voice, and labels their
speech with that name. So the first part is transcribed alone, a clip of each
speaker it heard goes with every later part, and `parts.merge` keeps those ids
while giving every other speaker of a later part an id of that part's own: a
speaker first heard in part 3 is never taken for part 5's "A".
"""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Sequence

import av
import numpy as np

from .engines import Segment, Voice

# The API's limits: at most four known speakers, each clip 2 to 10 seconds.
MAX_KNOWN = 4
MIN_SECONDS = 2.0
# Long enough for a voice, short enough to keep every later request small (~250 kB in base64).
CLIP_SECONDS = 6.0
RATE = 16000


def references(path: str, segments: Sequence[Segment], limit: int = MAX_KNOWN) -> tuple[Voice, ...]:
    """A clip of each speaker in `segments` (times within the audio at `path`): their
    longest turn, cut to CLIP_SECONDS. The speakers heard most come first; a speaker
    with no turn of MIN_SECONDS gets no clip (the API would refuse it)."""
    longest: dict[str, Segment] = {}
    spoken: dict[str, float] = {}
    for s in segments:
        if s.speaker:
            spoken[s.speaker] = spoken.get(s.speaker, 0.0) + s.end - s.start
            if (
                s.speaker not in longest
                or s.end - s.start > longest[s.speaker].end - longest[s.speaker].start
            ):
                longest[s.speaker] = s
    chosen = [
        k
        for k in sorted(spoken, key=spoken.get, reverse=True)
        if longest[k].end - longest[k].start >= MIN_SECONDS
    ][:limit]
    if not chosen:
        return ()
    samples = _decode(path)
    voices = []
    for speaker in chosen:
        turn = longest[speaker]
        start = int(turn.start * RATE)
        end = int(min(turn.end, turn.start + CLIP_SECONDS) * RATE)
        clip = samples[start:end]
        if len(clip) >= MIN_SECONDS * RATE:
            voices.append(Voice(speaker, "data:audio/wav;base64," + base64.b64encode(_wav(clip)).decode()))
    return tuple(voices)


def _decode(path: str) -> np.ndarray:
    """Mono 16 kHz 16-bit samples of a part (a part is minutes long, so a few MB)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks = []
    with av.open(path, metadata_errors="ignore") as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


def _wav(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype(np.int16).tobytes())
    return buf.getvalue()


def to_list(voices: Sequence[Voice]) -> list[dict]:
    return [{"id": v.id, "reference": v.reference} for v in voices]


def from_list(data: list[dict]) -> tuple[Voice, ...]:
    return tuple(Voice(d["id"], d["reference"]) for d in data)
