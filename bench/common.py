"""Shared pieces of the benchmarks: paths, generated audio, small statistics."""

from __future__ import annotations

import random
import socket
import statistics
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"

_SUBJECTS = [
    "The quarterly budget",
    "Our product team",
    "The new database server",
    "Maria from accounting",
    "The customer in Berlin",
    "The marketing campaign",
    "Every pull request",
    "The design review",
    "The support queue",
    "Next week's release",
]
_VERBS = [
    "needs another review before",
    "was moved to",
    "should be finished by",
    "depends on the results from",
    "will be discussed again on",
    "has been delayed until",
    "must be approved before",
]
_OBJECTS = [
    "Monday morning",
    "the end of the month",
    "the planning meeting on Thursday",
    "the next sprint",
    "half past three in the afternoon",
    "the board meeting in October",
    "Friday at noon",
]
_ASIDES = [
    "Please write that down.",
    "Does anyone have questions?",
    "Let's take a short break.",
    "I will send the notes by email.",
    "We counted forty two tickets last week.",
    "The weather in London was terrible again.",
    "Thank you all for joining today.",
]


def sentences(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        out.append(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}.")
        if rng.random() < 0.35:
            out.append(rng.choice(_ASIDES))
    return out


def audio_seconds(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


def make_speech(path: Path, seconds: float, seed: int = 7) -> Path:
    """`seconds` of varied espeak-ng speech in paragraphs with pauses between
    them, as a mono 16 kHz mp3. Cached: an existing file is reused."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        parts: list[str] = []
        total = 0.0
        i = 0
        while total < seconds:
            wav = Path(tmp) / f"p{i:04d}.wav"
            speed = str(rng.choice([150, 165, 175, 185]))
            text = " ".join(sentences(rng, rng.randint(2, 5)))
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", speed, "-w", str(wav), text], check=True)
            pause = Path(tmp) / f"s{i:04d}.wav"
            gap = rng.uniform(0.4, 2.0)
            subprocess.run(
                ["sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(pause), "trim", "0", f"{gap:.2f}"],
                check=True,
            )
            parts += [str(wav), str(pause)]
            total += audio_seconds(wav) + gap
            i += 1
        subprocess.run(
            ["sox", *parts, "-r", "16000", "-c", "1", "-C", "64", str(path), "trim", "0", str(seconds)],
            check=True,
        )
    return path


def make_tone(path: Path, megabytes: float) -> Path:
    """A WAV of a quiet sine tone of about `megabytes` (16 kHz mono 16-bit)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = megabytes * 2**20 / (16000 * 2)
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            f"{seconds:.2f}",
            "sine",
            "440",
            "vol",
            "0.1",
        ],
        check=True,
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def table(header: list[str], rows: list[list[object]]) -> str:
    cells = [header, *[[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
