"""Long audio on the API path: an 8-part file against one request, on two kinds of server.

    .venv/bin/python -m bench.openai_chunks [--seconds-per-audio-second 0.1] [--chunk-seconds 120] [--runs 2]

The server (tests/openai_server.py, in its own process on 127.0.0.1, reached by the real
`openai` client) decodes every upload with PyAV and answers after a time proportional
to the audio it received, decoding included. It has no model: it answers with one
segment per stretch of sound it heard.

- parallel: it serves every request at once, as OpenAI's cloud does. Target (DESIGN.md):
  8 parts at least 0.7 x 8 = 5.6 times faster than one request.
- serial: it serves one request at a time, in arrival order, as a self-hosted Whisper
  server on a CPU does. Nothing can be faster than one request there; what counts is that
  the parts cost no more than one request and that nothing times out or is sent twice,
  with the engine's default limits (OPENAI_TIMEOUT_SECONDS=120, 1 s per audio second).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
KEY = "sk-bench"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


class Server:
    """tests/openai_server.py in a process of its own, as a real one runs on its own machine."""

    def __init__(self, seconds_per_audio_second: float, serial: bool):
        command = [sys.executable, "-m", "tests.openai_server", "--key", KEY]
        command += ["--seconds-per-audio-second", str(seconds_per_audio_second)]
        command += ["--serial"] if serial else []
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.base_url = self.process.stdout.readline().strip()

    def close(self) -> dict:
        """Stop it; what it received and answered."""
        return json.loads(self.process.communicate("")[0].strip())


def run_case(name: str, server: Server, path: str, duration: float, args) -> None:
    def engine(chunk_seconds: float, concurrency: int) -> OpenAIEngine:
        # The production defaults: 120 s plus 1 s per second of audio, 4 retries.
        return OpenAIEngine(KEY, server.base_url, "whisper-1", 120, 4, concurrency, chunk_seconds, 1.0)

    engines = {
        "one request": engine(duration + 1, 1),
        f"{PARTS} parts, concurrency 8": engine(args.chunk_seconds, 8),
    }
    if name == "parallel":
        engines[f"{PARTS} parts, concurrency 4"] = engine(args.chunk_seconds, 4)
    timings: dict[str, list[float]] = {k: [] for k in engines}
    segments = 0
    load_before = load()
    # Let the server hear each part once, untimed: it decodes on the 2 cores the client
    # uses, where a real one decodes on its own machine; after this it only keeps time.
    engines[f"{PARTS} parts, concurrency 8"].transcribe(path, TranscribeOptions())
    for _ in range(args.runs):
        for label, e in engines.items():
            started = time.perf_counter()
            segments = len(e.transcribe(path, TranscribeOptions()).segments)
            timings[label].append(time.perf_counter() - started)
    counts = server.close()
    expected = args.runs * (1 + PARTS * (len(engines) - 1)) + PARTS
    slowed = [
        label for label, e in engines.items() if e.pacer.slowness != 1.0 or e.pacer.limit != e.pacer.most
    ]
    print(f"\n## {name} server: {args.seconds_per_audio_second} s per audio second, decoding included")
    print(f"load average before / after: {load_before} / {load()}")
    print(
        f"requests received {counts['received']}, answered {counts['answered']}, "
        f"expected {expected}; engines that met a timeout: {slowed or 'none'}; {segments} segments"
    )
    base = statistics.median(timings["one request"])
    for label, values in timings.items():
        median = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"{label:>26}: median {median:6.2f} s ({spread})   one request / this {base / median:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds-per-audio-second", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=2)
    # Shorter than the production 600 s (OPENAI_CHUNK_SECONDS) so that one request takes a minute
    # and a half at 10x real time, and cutting 14 minutes costs little on a busy machine.
    parser.add_argument("--chunk-seconds", type=float, default=120.0)
    parser.add_argument("--case", choices=("parallel", "serial", "both"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "meeting.ogg")
        # Eight parts at 90% of CHUNK_SECONDS each (workers/speech/chunking.plan_spans).
        long_speech_opus(path, PARTS * args.chunk_seconds * 0.9 - 5)
        duration = probe(path).duration
        print(f"machine: {machine()}")
        print(
            f"audio: {duration:.1f} s of espeak-ng speech (one sentence, then 2 s of silence, repeated), "
            f"mono Opus 24 kbit/s; parts of at most {args.chunk_seconds:g} s"
        )
        print("model: none, the fake server answers per stretch of sound; the client asks for whisper-1")
        print(f"{args.runs} interleaved runs after one untimed round of the parts, median and range shown")
        for name in ("parallel", "serial") if args.case == "both" else (args.case,):
            run_case(name, Server(args.seconds_per_audio_second, name == "serial"), path, duration, args)


if __name__ == "__main__":
    main()
