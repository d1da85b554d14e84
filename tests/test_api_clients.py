"""The `openai` command line, a client nobody here wrote, run as a user runs it
(`openai api audio.transcriptions.create …`) against the live server on 127.0.0.1.

The SDK dropped its command line after 2.34.0, and the app pins a newer SDK, so the
command comes from its own venv (.venv-clients, requirements-clients.txt, built by
`make test`). Every assertion is on what the command prints and its exit status."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from transcripts.api.models import ApiKey
from transcripts.models import COMPLETED, Transcript

from .conftest import client_tool, fixture_path

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def fox(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "fox.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(path), "The quick brown fox."], check=True)
    return path


@pytest.fixture
def openai_cli(live_server, alice):
    """Runs `openai --api-base …/v1/ --api-key … api <args>`; the finished process, its
    stderr without the colour codes the command puts around "Error:"."""
    executable = client_tool(".venv-clients", "openai")
    key = ApiKey.issue(alice, "cli")[1]
    # The trailing slash matters: the command joins paths to --api-base as given
    # (…/v1audio/transcriptions without it); the README says so.
    base = f"{live_server.url}/v1/"

    def run(*args: str, key: str = key) -> subprocess.CompletedProcess:
        command = [str(executable), "--api-base", base, "--api-key", key, "api", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
        done.stderr = re.sub(r"\x1b\[[0-9;]*m", "", done.stderr)
        return done

    return run


def transcribe(cli, path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return cli("audio.transcriptions.create", "-m", "whisper-1", "-f", str(path), *args, **kwargs)


def test_json_prints_the_text_and_the_transcript_is_kept(openai_cli, fox, alice):
    done = transcribe(openai_cli, fox)
    assert done.returncode == 0, done.stderr
    assert "fox" in json.loads(done.stdout)["text"].lower()
    t = Transcript.objects.get()
    assert (t.owner, t.status, t.source) == (alice, COMPLETED, "api")


def test_text_srt_and_vtt_are_printed_as_they_are(openai_cli, fox):
    text = transcribe(openai_cli, fox, "--response-format", "text")
    assert text.returncode == 0, text.stderr
    assert "fox" in text.stdout.lower() and not text.stdout.lstrip().startswith("{")
    srt = transcribe(openai_cli, fox, "--response-format", "srt")
    assert srt.returncode == 0, srt.stderr
    assert srt.stdout.startswith("1\n00:00:0") and " --> " in srt.stdout and "fox" in srt.stdout.lower()
    vtt = transcribe(openai_cli, fox, "--response-format", "vtt")
    assert vtt.returncode == 0, vtt.stderr
    assert vtt.stdout.startswith("WEBVTT") and " --> " in vtt.stdout and "fox" in vtt.stdout.lower()


def test_verbose_json_has_segments_language_and_duration(openai_cli):
    done = transcribe(
        openai_cli,
        fixture_path("speech.mp3"),
        "--response-format",
        "verbose_json",
        "--language",
        "en",
        "-t",
        "0.2",
        "--prompt",
        "A meeting.",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["task"], result["language"]) == ("transcribe", "english")
    assert 6 < result["duration"] < 7 and "monday" in result["text"].lower()
    assert result["segments"] and all(s["start"] <= s["end"] for s in result["segments"])


def test_a_translation(base_model, openai_cli, fox):
    done = openai_cli("audio.translations.create", "-f", str(fox), "--response-format", "verbose_json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["task"] == "translate" and "fox" in result["text"].lower()


def test_a_file_that_is_not_audio_fails_with_the_reason(openai_cli):
    done = transcribe(openai_cli, fixture_path("not_audio.mp3"))
    assert done.returncode == 1 and done.stdout == ""
    assert "Error: Error code: 400" in done.stderr and "invalid_request_error" in done.stderr
    assert not Transcript.objects.exists()


def test_a_bad_key_fails_with_401_and_says_the_key_is_wrong(openai_cli, fox):
    done = transcribe(openai_cli, fox, key="mn_wrong_key")
    assert done.returncode == 1 and done.stdout == ""
    assert "Error code: 401" in done.stderr and "invalid_api_key" in done.stderr
    assert not Transcript.objects.exists()


def test_a_file_over_the_limit_fails_with_413_and_points_to_the_rest_api(openai_cli, settings):
    settings.OPENAI_COMPAT_MAX_MB = 0.01
    done = transcribe(openai_cli, fixture_path("speech.mp3"))
    assert done.returncode == 1 and done.stdout == ""
    assert "Error code: 413" in done.stderr and "file_too_large" in done.stderr
    assert "/api/v1/transcripts" in done.stderr
    assert not Transcript.objects.exists()
