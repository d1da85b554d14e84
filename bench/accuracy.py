"""Accuracy: word error rate and real-time factor of every available local model on a
fixed espeak-ng set (English and German, several voices and speeds, clean and with
sox-mixed noise), and proof that the product adds no error: the engine's transcript
is compared, clip by clip, with faster-whisper alone on the same model and options.

    .venv/bin/python bench/accuracy.py [--models tiny.en base] [--threads 2]

Writes bench/out/accuracy.json and prints the table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT  # noqa: E402
from transcripts.wer import _normalise  # noqa: E402
from workers.speech import models  # noqa: E402
from workers.speech.engines import TranscribeOptions, join_text  # noqa: E402
from workers.speech.engines.local import LocalEngine  # noqa: E402

ENGLISH = [
    "Good morning everyone, let's start with the quarterly budget review.",
    "The design team finished the new landing page on Friday afternoon.",
    "Please send me the customer feedback before the planning meeting.",
    "We have to hire two more engineers for the support team this spring.",
]
GERMAN = [
    "Guten Morgen zusammen, wir beginnen mit dem Budget für das nächste Quartal.",
    "Das Designteam hat die neue Webseite am Freitagnachmittag fertiggestellt.",
    "Bitte schicken Sie mir die Rückmeldungen der Kunden vor der Besprechung.",
    "Wir müssen in diesem Frühjahr zwei weitere Entwickler einstellen.",
]
VOICES = {"en": ["en-us", "en-gb-x-rp"], "de": ["de", "de+f3"]}
SPEEDS = [150, 190]
SNR_DB = 10.0  # pink noise this far below the speech: a noisy room, still clearly audible
SEED = 1234
CANDIDATES = ["tiny.en", "base", "small", "medium", "large-v3", "large-v3-turbo"]


def _rms(path: Path) -> float:
    from faster_whisper.audio import decode_audio

    samples = decode_audio(str(path))
    return float(np.sqrt(np.mean(samples**2)))


def make_set(folder: Path) -> list[dict]:
    """The fixed clips (cached in `folder`): language, voice, speed, noise, reference text."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for language, texts in (("en", ENGLISH), ("de", GERMAN)):
        for v, voice in enumerate(VOICES[language]):
            for speed in SPEEDS:
                # Each voice speaks half the sentences: every sentence is heard, at both speeds.
                for i, text in list(enumerate(texts))[2 * v : 2 * v + 2]:
                    name = f"{language}-{voice.replace('+', '_')}-{speed}-{i}"
                    clean = folder / f"{name}-clean.wav"
                    if not clean.exists():
                        raw = folder / f"{name}-raw.wav"
                        subprocess.run(
                            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True
                        )
                        subprocess.run(
                            ["sox", str(raw), "-r", "16000", "-c", "1", str(clean), "pad", "0.3", "0.3"],
                            check=True,
                        )
                        raw.unlink()
                    noisy = folder / f"{name}-noise.wav"
                    if not noisy.exists():
                        noise = folder / f"{name}-pink.wav"
                        seconds = subprocess.run(
                            ["soxi", "-D", str(clean)], capture_output=True, text=True, check=True
                        ).stdout
                        subprocess.run(
                            [
                                "sox",
                                "-n",
                                "-r",
                                "16000",
                                "-c",
                                "1",
                                str(noise),
                                "synth",
                                seconds.strip(),
                                "pinknoise",
                            ],
                            check=True,
                        )
                        gain = _rms(clean) / _rms(noise) / 10 ** (SNR_DB / 20)
                        subprocess.run(
                            ["sox", "-m", "-v", "1", str(clean), "-v", f"{gain:.4f}", str(noise), str(noisy)],
                            check=True,
                        )
                        noise.unlink()
                    for noisy_flag, path in ((False, clean), (True, noisy)):
                        clips.append(
                            dict(
                                language=language,
                                voice=voice,
                                speed=speed,
                                noise=noisy_flag,
                                text=text,
                                path=str(path),
                            )
                        )
    return clips


def available(names: list[str], models_dir: Path) -> list[str]:
    """The models that load without a download."""
    found = []
    for name in names:
        try:
            models.resolve(name, models_dir, allow_download=False)
            found.append(name)
        except models.ModelError:
            pass
    return found


def run_model(name: str, clips: list[dict], models_dir: Path, threads: int) -> list[dict]:
    import ctranslate2
    from faster_whisper import WhisperModel

    folder = models.resolve(name, models_dir)
    rows = []
    for i, clip in enumerate(clips):
        seconds = float(subprocess.run(["soxi", "-D", clip["path"]], capture_output=True, text=True).stdout)
        # Whisper falls back to sampling (temperature > 0) on hard audio, and CTranslate2's
        # random generator lives in each model's worker thread, seeded when the model is
        # built. Both sides get a model built from the same seed for every clip, so a
        # difference in text is the pipeline's, not the dice's. Loading is not timed.
        ctranslate2.set_random_seed(SEED)
        engine = LocalEngine(name, "cpu", "int8", threads, 5, models_dir=models_dir)
        engine.warm()
        ctranslate2.set_random_seed(SEED)
        alone = WhisperModel(folder, device="cpu", compute_type="int8", cpu_threads=threads)
        order = ("product", "alone") if i % 2 == 0 else ("alone", "product")
        out: dict = {}
        for side in order:
            started, cpu = time.perf_counter(), time.process_time()
            if side == "product":
                result = engine.transcribe(clip["path"], TranscribeOptions())
                out["product"], out["product_language"] = result.text, result.language
            else:
                # The product's options: beam 5, VAD on, language detected.
                segments, info = alone.transcribe(clip["path"], beam_size=5, vad_filter=True)
                out["alone"], out["alone_language"] = join_text(list(segments)), info.language
            out[f"{side}_seconds"] = time.perf_counter() - started
            out[f"{side}_cpu"] = time.process_time() - cpu
        rows.append({**clip, "model": name, "audio_seconds": seconds, **out})
        print(
            f"{name} {clip['language']} {clip['voice']} {clip['speed']} noise={clip['noise']}: {out['product']!r}"
            + ("" if out["product"] == out["alone"] else f" | alone: {out['alone']!r}"),
            file=sys.stderr,
        )
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    keys = sorted(
        {(r["model"], r["language"], r["noise"]) for r in rows}, key=lambda k: (k[0], k[1] != "en", k[2])
    )
    for model, language, noise in keys:
        group = [r for r in rows if (r["model"], r["language"], r["noise"]) == (model, language, noise)]
        refs = [_normalise(r["text"]) for r in group]
        audio = sum(r["audio_seconds"] for r in group)
        table.append(
            dict(
                model=model,
                language=language,
                noise=noise,
                clips=len(group),
                wer=jiwer.wer(refs, [_normalise(r["product"]) or "-" for r in group]),
                wer_alone=jiwer.wer(refs, [_normalise(r["alone"]) or "-" for r in group]),
                rtf=sum(r["product_seconds"] for r in group) / audio,
                rtf_alone=sum(r["alone_seconds"] for r in group) / audio,
                cpu_rtf=sum(r["product_cpu"] for r in group) / audio,
                identical=sum(r["product"] == r["alone"] for r in group),
            )
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=CANDIDATES)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--models-dir", type=Path, default=OUT / "models")
    args = parser.parse_args()
    clips = make_set(OUT / "accuracy")
    names = available(args.models, args.models_dir)
    print(f"{len(clips)} clips; models available offline: {', '.join(names)}", file=sys.stderr)
    rows = [row for name in names for row in run_model(name, clips, args.models_dir, args.threads)]
    table = summarise(rows)
    (OUT / "accuracy.json").write_text(
        json.dumps({"rows": rows, "table": table}, indent=1, ensure_ascii=False)
    )
    print(
        "| model | language | noise | clips | WER | WER, faster-whisper alone | RTF | RTF alone | CPU RTF | identical text |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in table:
        print(
            f"| {t['model']} | {t['language']} | {'pink, 10 dB SNR' if t['noise'] else 'clean'} | {t['clips']} "
            f"| {t['wer']:.1%} | {t['wer_alone']:.1%} | {t['rtf']:.2f} | {t['rtf_alone']:.2f} | {t['cpu_rtf']:.2f} "
            f"| {t['identical']}/{t['clips']} |"
        )


if __name__ == "__main__":
    main()
