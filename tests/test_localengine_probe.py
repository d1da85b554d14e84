"""Limits hold against what the audio is, never what its header claims (issue 7, item 1)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from transcripts.models import Transcript
from workers.speech.audio import AudioError, measured_duration, probe

from .lying_audio import lying_mp3
from .test_cli import ROOT

TOO_LONG = "The audio is too long: the limit is 1 min."


@pytest.fixture
def lying(tmp_path):
    """Its Xing header says 4.75 s; its frames last three minutes."""
    return lying_mp3(tmp_path / "lying.mp3", claims=4.75, lasts=180)


@pytest.fixture
def honest(tmp_path):
    """Ninety seconds, and its header says so."""
    return lying_mp3(tmp_path / "honest.mp3", claims=90, lasts=90)


def test_the_header_really_lies_and_probe_measures_the_frames(lying):
    import av

    with av.open(str(lying)) as container:
        assert container.duration / av.time_base == pytest.approx(4.75, abs=0.05)
    assert probe(str(lying)).duration == pytest.approx(185, abs=3)
    assert measured_duration(str(lying)) == pytest.approx(185, abs=3)


def test_a_lying_header_gets_the_message_of_any_too_long_file(lying, honest):
    for path in (lying, honest):
        with pytest.raises(AudioError) as caught:
            probe(str(path), max_seconds=60)
        assert str(caught.value) == TOO_LONG


def test_a_file_within_the_limit_is_measured_not_refused(honest):
    assert probe(str(honest), max_seconds=120).duration == pytest.approx(90, abs=0.5)


@pytest.mark.django_db
def test_the_upload_form_refuses_a_lying_header_like_any_too_long_file(post_upload, settings, lying, honest):
    settings.MAX_AUDIO_MINUTES = 1
    for path in (lying, honest):
        response = post_upload({"audio": SimpleUploadedFile(path.name, path.read_bytes())})
        assert response.status_code == 400
        assert TOO_LONG in response.content.decode()
    assert Transcript.objects.count() == 0


def test_the_command_line_refuses_a_lying_header_like_any_too_long_file(tmp_path, lying, honest):
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "MAX_AUDIO_MINUTES": "1",
    }
    env.pop("DATABASE_URL", None)
    for path in (lying, honest):
        result = subprocess.run(
            [sys.executable, "manage.py", "transcribe", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0 and result.stdout == ""
        assert TOO_LONG in result.stderr and "Traceback" not in result.stderr
