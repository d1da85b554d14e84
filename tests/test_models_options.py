"""What a person chooses per upload and in Settings: language, translation, prompt, vocabulary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts.models import Transcript, UserSettings

from .conftest import fixture_path

ROOT = Path(__file__).resolve().parent.parent
COMFY = "Please open ComfyUI and load the new workflow."


def _file(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(Path(path).name, Path(path).read_bytes())


@pytest.fixture
def comfy(tmp_path) -> Path:
    path = tmp_path / "comfy.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), COMFY], check=True)
    return path


def test_with_an_english_only_model_the_form_offers_english_only(alice_client, post_upload):
    page = alice_client.get("/upload/").content.decode()
    assert 'value="en"' in page and 'value="de"' not in page and "Detect automatically" not in page
    assert 'name="translate"' not in page
    response = post_upload({"audio": _file(fixture_path("speech.mp3")), "language": "de"})
    assert response.status_code == 400 and "English only" in response.content.decode()
    assert not Transcript.objects.exists()


def test_a_multilingual_model_offers_its_languages_and_translation(settings, alice_client):
    settings.WHISPER_MODEL = "base"
    page = alice_client.get("/upload/").content.decode()
    assert 'value="de"' in page and ">German<" in page and ">Welsh<" in page and 'name="translate"' in page
    assert "Detect automatically" in page


def test_the_openai_engine_translates_with_whisper_1_only(settings, alice_client):
    settings.TRANSCRIBE_ENGINE, settings.OPENAI_TRANSCRIBE_MODEL = "openai", "whisper-1"
    assert 'name="translate"' in alice_client.get("/upload/").content.decode()
    settings.OPENAI_TRANSCRIBE_MODEL = "gpt-4o-transcribe"
    assert 'name="translate"' not in alice_client.get("/upload/").content.decode()


def test_the_vocabulary_makes_an_unusual_name_come_out_right(comfy, alice, alice_client, post_upload):
    post_upload({"audio": _file(comfy), "title": "without"})
    without = Transcript.objects.get(title="without")
    assert without.status == "completed" and "comfyui" not in without.text.lower()

    response = alice_client.post("/settings/", {"vocabulary": "ComfyUI\n\n  Siobhan Nguyen \nComfyUI"})
    assert response.status_code == 302
    assert UserSettings.vocabulary_of(alice.id) == ["ComfyUI", "Siobhan Nguyen"]
    assert "ComfyUI" in alice_client.get("/settings/").content.decode()

    post_upload({"audio": _file(comfy), "title": "with"})
    with_words = Transcript.objects.get(title="with")
    assert "ComfyUI" in with_words.text, with_words.text
    options = with_words.transcribe_options()
    assert options.hotwords == "ComfyUI, Siobhan Nguyen" and options.prompt.startswith(
        "ComfyUI, Siobhan Nguyen."
    )


def test_a_prompt_per_upload_reaches_the_engine(comfy, alice_client, post_upload):
    post_upload({"audio": _file(comfy), "prompt": "We use ComfyUI for image workflows."})
    t = Transcript.objects.get()
    assert t.prompt == "We use ComfyUI for image workflows." and "ComfyUI" in t.text
    assert t.transcribe_options().prompt == t.prompt and t.transcribe_options().hotwords is None


def test_the_vocabulary_is_the_users_own(alice, bob, client, alice_client):
    alice_client.post("/settings/", {"vocabulary": "Zyxwarble"})
    client.force_login(bob)
    assert "Zyxwarble" not in client.get("/settings/").content.decode()
    assert UserSettings.vocabulary_of(bob.id) == []


@pytest.mark.parametrize(
    ("vocabulary", "message"),
    [
        ("\n".join(f"word{i}" for i in range(101)), "At most 100 entries"),
        ("x" * 61, "under 60 characters"),
    ],
)
def test_a_vocabulary_too_long_is_refused_and_the_old_one_kept(alice, alice_client, vocabulary, message):
    alice_client.post("/settings/", {"vocabulary": "ComfyUI"})
    response = alice_client.post("/settings/", {"vocabulary": vocabulary})
    assert response.status_code == 400 and message in response.content.decode()
    assert UserSettings.vocabulary_of(alice.id) == ["ComfyUI"]


def _cli(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "DATA_DIR": str(tmp_path), "WHISPER_MODEL": "tiny.en", **env}
    environ.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "transcribe", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cli_refuses_what_the_model_cannot_do(tmp_path):
    speech = str(fixture_path("speech.mp3"))
    result = _cli(speech, "--language", "de", tmp_path=tmp_path)
    assert result.returncode != 0 and "English only" in result.stderr and "Traceback" not in result.stderr
    result = _cli(speech, "--translate", tmp_path=tmp_path)
    assert result.returncode != 0 and "cannot translate" in result.stderr
    result = _cli(speech, "--model", "large-v3", tmp_path=tmp_path)
    assert result.returncode != 0 and "WHISPER_ALLOW_DOWNLOAD=true" in result.stderr


def test_the_cli_takes_a_model_a_prompt_and_prints_languages(comfy, tmp_path):
    result = _cli(
        str(comfy),
        "--model",
        "tiny.en",
        "--prompt",
        "ComfyUI",
        "--format",
        "json",
        tmp_path=tmp_path,
        WHISPER_MODEL="base",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["model"] == "tiny.en" and "ComfyUI" in doc["text"]
    assert doc["language"] == "en" and list(doc["languages"]) == ["en"]
    assert all(s["language"] == "en" for s in doc["segments"])
