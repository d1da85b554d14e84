"""Speech with a known text, made at test or bench time: espeak-ng reads public-domain prose.

`read_aloud` speaks whole paragraphs of tests/fixtures/public_domain.txt until it
has enough audio and returns what it said, for word error rates. `repeat_mp3`
makes hours from minutes by repeating whole MPEG frames (no re-encoding), for
benchmarks that need length more than variety.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import av

TEXT = Path(__file__).parent / "fixtures" / "public_domain.txt"


def paragraphs() -> list[str]:
    return [p.strip() for p in TEXT.read_text().splitlines() if p.strip()]


def read_aloud(path: Path, seconds: float, *, speed: int = 165, once: bool = False) -> str:
    """A 16 kHz mono WAV at `path` of at least `seconds` (whole paragraphs, a pause
    after each; with `once`, no paragraph twice); returns the text spoken."""
    spoken: list[str] = []
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        pieces: list[str] = []
        texts = paragraphs()
        i = 0
        while total < seconds and not (once and i == len(texts)):
            text = texts[i % len(texts)]
            wav = Path(tmp) / f"p{i:04d}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(wav), text], check=True)
            with av.open(str(wav)) as c:
                total += c.duration / av.time_base + 1.0
            pause = Path(tmp) / f"s{i:04d}.wav"
            subprocess.run(
                ["sox", "-R", "-n", "-r", "22050", "-c", "1", "-b", "16", str(pause), "trim", "0", "1.0"],
                check=True,
            )
            pieces += [str(wav), str(pause)]
            spoken.append(text)
            i += 1
        # -R here and for the pauses: dither from a fixed seed, so the same text makes the
        # same audio and a word error rate measured on it repeats.
        subprocess.run(["sox", "-R", *pieces, "-r", "16000", "-c", "1", "-b", "16", str(path)], check=True)
    return " ".join(spoken)


def repeat_mp3(source: Path, path: Path, times: int) -> Path:
    """`source` encoded once as constant-bit-rate mp3 (32 kb/s, no Xing header, so the
    length is read from the size), its bytes written `times` over."""
    with tempfile.TemporaryDirectory() as tmp:
        once = Path(tmp) / "once.mp3"
        with (
            av.open(str(source)) as inp,
            av.open(str(once), "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as out,
        ):
            stream = out.add_stream("libmp3lame", rate=16000)
            stream.layout = "mono"
            stream.bit_rate = 32000
            for frame in inp.decode(audio=0):
                frame.pts = None
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        data = once.read_bytes()
    with open(path, "wb") as f:
        for _ in range(times):
            f.write(data)
    return path
