"""Languages for real, on the multilingual base model and espeak-ng speech made here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts.models import Transcript
from workers.speech import models
from workers.speech.engines import TranscribeOptions
from workers.speech.engines.local import LocalEngine

ENGLISH = (
    "Good morning everyone. Today we will review the quarterly budget and the hiring plan for the new office."
)
COFFEE = "Ich trinke gern Kaffee am Morgen."
GERMAN = "Guten Morgen zusammen. Heute besprechen wir das Budget für das nächste Quartal und die neuen Mitarbeiter."


def _file(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(Path(path).name, Path(path).read_bytes())


def speak(folder: Path, name: str, *parts: tuple[str, str]) -> Path:
    """(voice, text) parts spoken by espeak-ng, one second of silence between them, 16 kHz mono."""
    pieces = []
    for i, (voice, text) in enumerate(parts):
        wav = folder / f"{name}-{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        pieces.append(str(wav))
    out = folder / f"{name}.wav"
    silence = folder / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", str(silence), "trim", "0", "1"], check=True)
    joined = [p for piece in pieces for p in (piece, str(silence))][:-1]
    subprocess.run(["sox", *joined, "-r", "16000", str(out)], check=True)
    return out


@pytest.fixture
def mixed(tmp_path) -> Path:
    return speak(tmp_path, "mixed", ("en-us", ENGLISH), ("de", GERMAN))


def test_a_mixed_recording_keeps_each_language(base_engine, mixed):
    result = base_engine.transcribe(str(mixed), TranscribeOptions())
    spoken = [(s.language, s.text.lower()) for s in result.segments]
    assert [lang for lang, _ in spoken] == ["en", "de"], spoken
    assert "budget" in spoken[0][1] and "good morning" in spoken[0][1]
    assert "guten morgen" in spoken[1][1] and "zusammen" in spoken[1][1]
    assert set(result.languages) == {"en", "de"} and min(result.languages.values()) > 0.7
    assert result.segments[1].start > 5.0  # the German half starts after the English one


def test_german_is_transcribed_as_german_and_translated_on_request(base_engine, tmp_path):
    german = speak(tmp_path, "german", ("de", GERMAN))
    result = base_engine.transcribe(str(german), TranscribeOptions())
    assert result.language == "de" and "guten morgen" in result.text.lower()
    # base translates espeak's robot German only when it is simple.
    coffee = speak(tmp_path, "coffee", ("de", COFFEE))
    translated = base_engine.transcribe(str(coffee), TranscribeOptions(task="translate"))
    assert "coffee" in translated.text.lower() and "kaffee" not in translated.text.lower()
    assert translated.segments[0].language == "de"  # what was spoken; the text is English


def test_an_english_only_model_refuses_german_instead_of_ignoring_it(tmp_path):
    german = speak(tmp_path, "german", ("de", GERMAN))
    engine = LocalEngine("tiny.en", "cpu", "int8", 1, 1)
    with pytest.raises(models.ModelError, match="English only"):
        engine.transcribe(str(german), TranscribeOptions(language="de"))
    with pytest.raises(models.ModelError, match="cannot translate"):
        engine.transcribe(str(german), TranscribeOptions(task="translate"))


def test_the_product_shows_both_languages_with_confidence(base_model, mixed, alice_client, post_upload):
    page = alice_client.get("/upload/").content.decode()
    assert 'value="de"' in page and 'name="translate"' in page
    response = post_upload({"audio": _file(mixed)})
    t = Transcript.objects.get()
    assert response.status_code == 302 and t.status == "completed", t.error
    detail = alice_client.get(t.get_absolute_url()).content.decode()
    assert "English (" in detail and "German (" in detail and "% sure" in detail
    doc = json.loads(alice_client.get(f"/t/{t.id}/export.json").content)
    assert set(doc["languages"]) == {"en", "de"} and doc["language"] in ("en", "de")
    assert [s["language"] for s in doc["segments"]] == ["en", "de"]


def test_a_translated_upload_says_so(base_model, tmp_path, alice_client, post_upload):
    coffee = speak(tmp_path, "coffee", ("de", COFFEE))
    post_upload({"audio": _file(coffee), "translate": "on"})
    t = Transcript.objects.get()
    assert t.task == "translate" and "coffee" in t.text.lower()
    assert "translated to English" in alice_client.get(t.get_absolute_url()).content.decode()
