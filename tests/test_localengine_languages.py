"""Windows and the model's options together: every window finds its own languages per
speech region and gets the user's prompt besides the context carried over a cut."""

from __future__ import annotations

import subprocess

from workers.speech.engines import TranscribeOptions
from workers.speech.engines.local import LocalEngine

from .test_models_languages import ENGLISH, GERMAN, speak
from .test_models_options import COMFY

SECOND_ENGLISH = "After that we will look at the travel policy and the new laptops for the team."
SECOND_GERMAN = "Danach sprechen wir über die Reisekosten und die neuen Computer für das Team."


def test_each_window_keeps_each_language_in_its_place(base_dir, tmp_path):
    path = speak(
        tmp_path,
        "meeting",
        ("en-us", ENGLISH),
        ("de", GERMAN),
        ("en-us", SECOND_ENGLISH),
        ("de", SECOND_GERMAN),
    )
    engine = LocalEngine("base", "cpu", "int8", 2, 5, window_seconds=12, models_dir=base_dir)
    result = engine.transcribe(str(path), TranscribeOptions())
    spoken = [s.language for s in result.segments]
    runs = [lang for i, lang in enumerate(spoken) if i == 0 or spoken[i - 1] != lang]
    assert runs == ["en", "de", "en", "de"], [(s.language, s.text) for s in result.segments]
    text = result.text.lower()
    for phrase in ("good morning", "guten morgen", "travel policy", "neuen computer"):
        assert text.count(phrase) == 1, text
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and result.segments[-1].end <= result.duration
    assert set(result.languages) == {"en", "de"}


def test_the_prompt_reaches_every_window(tmp_path):
    one = tmp_path / "comfy.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(one), COMFY], check=True)
    silence = tmp_path / "silence.wav"
    subprocess.run(
        ["sox", "-R", "-n", "-r", "22050", "-c", "1", str(silence), "trim", "0", "1.5"], check=True
    )
    path = tmp_path / "three.wav"
    subprocess.run(["sox", one, silence, one, silence, one, "-r", "16000", str(path)], check=True)
    engine = LocalEngine("tiny.en", "cpu", "int8", 2, 5, window_seconds=6)
    plain = engine.transcribe(str(path), TranscribeOptions())
    assert "comfyui" not in plain.text.lower(), plain.text
    prompted = engine.transcribe(str(path), TranscribeOptions(prompt="We use ComfyUI for image workflows."))
    # Each time it is said, and the prompt itself never read out as speech.
    assert prompted.text.count("ComfyUI") == 3 and "image" not in prompted.text, prompted.text
    assert prompted.segments[-1].start > 8.0  # three windows' worth of speech, each on its own time
    # The vocabulary (Settings) as the app passes it: hotwords and a prompt of the words.
    vocabulary = engine.transcribe(str(path), TranscribeOptions(prompt="ComfyUI.", hotwords="ComfyUI"))
    assert vocabulary.text.count("ComfyUI") == 3, vocabulary.text
