"""An mp3 whose Xing header lies about its length, made at test or bench time.

Encoding hours of audio would take minutes, so a short stretch of frames is
encoded once and its bytes repeated: MPEG audio frames stand alone, and a file
of repeated frames decodes like any other.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

RATE = 8000
BITRATE = 8000  # 8 kb/s: 3.6 MB an hour
BODY_SECONDS = 30.0


def _encode(seconds: float, *, xing: bool) -> bytes:
    buf = io.BytesIO()
    options = {"write_xing": "1" if xing else "0", "id3v2_version": "3" if xing else "0"}
    with av.open(buf, "w", format="mp3", options=options) as out:
        stream = out.add_stream("libmp3lame", rate=RATE)
        stream.layout = "mono"
        stream.bit_rate = BITRATE
        n = int(seconds * RATE)
        t = np.arange(n) / RATE
        # A quiet tone, gated on and off: sound and pauses, as speech has.
        tone = (0.1 * np.sin(2 * np.pi * 440 * t) * ((t % 2) < 1)).astype(np.float32)
        for start in range(0, n, 1152):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1152], format="flt", layout="mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def lying_mp3(path: Path, *, claims: float = 4.75, lasts: float = 300.0) -> Path:
    """An mp3 at `path` whose header says `claims` seconds and whose frames last about `lasts`."""
    head = bytearray(_encode(claims, xing=True))
    body = _encode(BODY_SECONDS, xing=False)
    repeats = max(round((lasts - claims) / BODY_SECONDS), 0)
    # The Info header's byte count must cover the file, or FFmpeg sees a concatenation
    # and falls back to the bit rate; the frame count (the claim) stays.
    at = head.index(b"Info") + 12
    id3 = 10 + sum(b << (7 * (3 - i)) for i, b in enumerate(head[6:10]))  # a syncsafe integer
    size = len(head) - id3 + repeats * len(body)
    head[at : at + 4] = size.to_bytes(4, "big")
    with open(path, "wb") as f:
        f.write(head)
        for _ in range(repeats):
            f.write(body)
    return path
