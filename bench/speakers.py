"""Speaker diarization: error rate and cost on a longer two-voice conversation.

    .venv/bin/python bench/speakers.py [--turns 40] [--seed 7]

Makes a conversation of `--turns` alternating espeak-ng turns (tests/conversation.py's two
voices, varied meeting sentences from bench/common.py) into a temporary folder, then runs
the diarizer with the count found automatically and given exactly, and faster-whisper
(tiny.en, the app's options) on the same file. Reports the diarization error rate
(simpleder), the speakers found, and diarization time as a fraction of audio length and of
transcription time, both measured in this run (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simpleder  # noqa: E402

from bench.common import sentences  # noqa: E402
from tests.conversation import make_conversation  # noqa: E402
from workers.speech.engines import TranscribeOptions  # noqa: E402
from workers.speech.engines.local import LocalEngine  # noqa: E402
from workers.speech.speakers import SpeakerCount, diarize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lines = [("AB"[i % 2], " ".join(sentences(rng, 2))) for i in range(args.turns)]
    with tempfile.TemporaryDirectory() as folder:
        path, reference = make_conversation(Path(folder), lines)
        seconds = reference[-1][2]
        diarize(str(path), SpeakerCount(2, 2))  # warm-up: imports, model load, first-call JIT
        results = {"audio_seconds": round(seconds, 1), "turns": args.turns}
        for asked in ("auto", "2"):
            started = time.monotonic()
            turns = diarize(str(path), SpeakerCount.parse(asked))
            took = time.monotonic() - started
            hyp = [(t.speaker, t.start, t.end) for t in turns]
            results[asked] = {
                "der": round(simpleder.DER(reference, hyp), 4),
                "speakers": len({t.speaker for t in turns}),
                "seconds": round(took, 2),
                "real_time_factor": round(took / seconds, 4),
            }
        engine = LocalEngine("tiny.en", "cpu", "int8", 2, 5)
        engine.transcribe(str(path), TranscribeOptions())  # warm-up
        started = time.monotonic()
        engine.transcribe(str(path), TranscribeOptions())
        results["transcribe_seconds"] = round(time.monotonic() - started, 2)
        results["diarize_over_transcribe"] = round(
            results["auto"]["seconds"] / results["transcribe_seconds"], 3
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
