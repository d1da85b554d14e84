"""Long audio on the API path: an 8-part file sent as 8 concurrent requests vs one request.

    .venv/bin/python -m bench.openai_chunks [--seconds-per-audio-second 0.02] [--chunk-seconds 600] [--runs 2]

The server (tests/openai_server.py, on 127.0.0.1, reached by the real `openai` client)
takes time proportional to the audio it receives, as a real Whisper service does; it
also really decodes every upload. The split side includes planning and cutting.
Target (DESIGN.md): at least 0.7 x 8 = 5.6 times faster.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.openai_server import long_speech_opus
from workers.speech.audio import probe
from workers.speech.engines import TranscribeOptions
from workers.speech.engines.openai import OpenAIEngine

PARTS = 8


def timed(engine: OpenAIEngine, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    result = engine.transcribe(path, TranscribeOptions())
    return time.perf_counter() - started, len(result.segments)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds-per-audio-second", type=float, default=0.02)
    parser.add_argument("--runs", type=int, default=2)
    # The production default (OPENAI_CHUNK_SECONDS): eight parts make a 72-minute meeting.
    parser.add_argument("--chunk-seconds", type=float, default=600.0)
    args = parser.parse_args()
    # The server runs in its own process, as a real one runs on its own machine.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.openai_server",
            "--key",
            "sk-bench",
            "--seconds-per-audio-second",
            str(args.seconds_per_audio_second),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = server.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "meeting.ogg")
        # Eight parts at 90% of CHUNK_SECONDS each (workers/chunking.plan_spans).
        long_speech_opus(path, PARTS * args.chunk_seconds * 0.9 - 5)
        duration = probe(path).duration

        def engine(chunk_seconds: float, concurrency: int) -> OpenAIEngine:
            return OpenAIEngine("sk-bench", base_url, "whisper-1", 120, 2, concurrency, chunk_seconds)

        one = engine(duration + 1, 1)
        split = engine(args.chunk_seconds, PARTS)
        split4 = engine(args.chunk_seconds, 4)
        timings: dict[str, list[float]] = {
            "one request": [],
            "8 parts, concurrency 8": [],
            "8 parts, concurrency 4": [],
        }
        for _ in range(args.runs):
            for name, e in zip(timings, (one, split, split4), strict=True):
                seconds, segments = timed(e, path)
                timings[name].append(seconds)
        answered = int(server.communicate("")[0].strip())
        assert answered == args.runs * (1 + 2 * PARTS), f"expected 1 + 8 + 8 requests a run, got {answered}"
        base = statistics.median(timings["one request"])
        print(f"parts of at most {args.chunk_seconds:g} s")
        print(f"file: {duration:.1f} s of speech and pauses (Opus), {segments} segments")
        print(f"server: {args.seconds_per_audio_second} s per audio second; {args.runs} runs, median shown")
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"{name:>24}: {median:6.2f} s   speedup {base / median:4.2f}x")


if __name__ == "__main__":
    main()
