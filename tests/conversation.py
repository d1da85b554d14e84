"""A two-person conversation the tests make: two clearly different espeak-ng
voices taking turns, with pauses, and the true turn boundaries."""

from __future__ import annotations

import subprocess
from pathlib import Path

LINES = [
    ("A", "Good morning, thank you for joining us today to talk about the new library."),
    ("B", "Thanks for having me. I have been looking forward to this conversation for weeks."),
    ("A", "Tell us how the project started and who was involved at the beginning."),
    ("B", "It started as a small weekend experiment with two friends from the university."),
    ("A", "And what surprised you most once people started to use it every day?"),
    ("B", "Honestly, how quickly the community found bugs that we had never imagined."),
    ("A", "What comes next for the team over the coming year?"),
    ("B", "We want better documentation, faster releases, and a friendlier welcome for new contributors."),
]
# A low male voice and a high female variant, at different speeds.
VOICES = {"A": ["-v", "en-us", "-p", "35", "-s", "160"], "B": ["-v", "en-us+f3", "-p", "70", "-s", "170"]}
PAUSE = 0.8


def _seconds(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


def make_conversation(folder: Path, lines=LINES, pause: float = PAUSE) -> tuple[Path, list[tuple]]:
    """Write conversation.wav (16 kHz mono) in `folder`; return it with the reference
    turns as (speaker, start, end), each line's own silence trimmed away."""
    pieces, reference, now = [], [], 0.0
    gap = folder / "pause.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(gap), "trim", "0", str(pause)], check=True)
    for i, (speaker, text) in enumerate(lines):
        raw, line = folder / f"raw{i}.wav", folder / f"line{i}.wav"
        subprocess.run(["espeak-ng", *VOICES[speaker], "-w", str(raw), text], check=True)
        trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", str(line), *trim], check=True)
        length = _seconds(line)
        reference.append((speaker, round(now, 3), round(now + length, 3)))
        pieces += [line, gap]
        now += length + pause
    out = folder / "conversation.wav"
    subprocess.run(["sox", *map(str, pieces[:-1]), str(out)], check=True)
    return out, reference
