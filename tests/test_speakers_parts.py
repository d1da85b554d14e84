"""Speaker ids hold across the parts of long audio: the first part is diarized alone, and
every later part is sent a clip of each speaker it heard (workers/speech/voices.py), so
"Speaker 1" is the same person from the first minute to the last, in one process and as
Lambda part tasks. The fake API tells voices apart by pitch, as the real one does by voice."""

from __future__ import annotations

import base64
import io
import wave
from types import SimpleNamespace

import pytest

from transcripts.engines import get_engine
from transcripts.models import COMPLETED, Transcript
from workers.speech.engines import TranscribeOptions

from .conftest import upload
from .conversation import make_conversation

pytestmark = pytest.mark.slow

ANY_NUMBER = SimpleNamespace(min=1, max=8)


@pytest.fixture
def conversation(tmp_path):
    return make_conversation(tmp_path)


@pytest.fixture
def server(openai_server, settings):
    # About 40 s of conversation: parts of 12 s make three or four, some starting with the second voice.
    settings.OPENAI_CHUNK_SECONDS = 12
    return openai_server


def voice_at(reference, t: float) -> str:
    return min(
        reference, key=lambda turn: 0 if turn[1] <= t <= turn[2] else min(abs(t - turn[1]), abs(t - turn[2]))
    )[0]


def assert_one_id_per_voice(segments, reference):
    ids: dict[str, str] = {}
    for s in segments:
        voice = voice_at(reference, (s["start"] + s["end"]) / 2)
        assert ids.setdefault(voice, s["speaker"]) == s["speaker"], (voice, s)
    assert sorted(ids.values()) == ["S1", "S2"]


def assert_later_parts_carried_the_voices(seen):
    parts = [s for s in seen if s.status == 200]
    assert len(parts) >= 3
    assert "known_speaker_names[]" not in parts[0].fields
    for p in parts[1:]:
        assert sorted(p.fields["known_speaker_names[]"]) == ["S1", "S2"]
        for ref in p.fields["known_speaker_references[]"]:
            head, _, data = ref.partition(",")
            assert head == "data:audio/wav;base64"
            with wave.open(io.BytesIO(base64.b64decode(data))) as w:
                assert 2.0 <= w.getnframes() / w.getframerate() <= 10.0


def test_one_process_keeps_each_voice_under_one_id_in_every_part(server, conversation):
    path, reference = conversation
    result = get_engine("openai").transcribe(str(path), TranscribeOptions(speakers=ANY_NUMBER))
    assert_later_parts_carried_the_voices(server.seen)
    assert_one_id_per_voice([s.__dict__ for s in result.segments], reference)
    assert result.speakers == {"S1": "Speaker 1", "S2": "Speaker 2"}
    # A voice the first part never heard is its part's own, never taken for someone else.
    assert len(result.segments) == len(reference)


@pytest.mark.django_db(transaction=True)
def test_lambda_part_tasks_keep_each_voice_under_one_id(alice_client, server, settings, conversation):
    settings.TRANSCRIBE_RUNNER = "lambda"  # off Lambda, Zappa runs each @task inline
    settings.CHUNK_TASK_THRESHOLD_SECONDS = 20
    settings.OPENAI_MAX_CONCURRENCY = 2
    path, reference = conversation
    t = upload(alice_client, path, title="Interview", label_speakers="on")
    assert t.status == COMPLETED, t.error
    assert_later_parts_carried_the_voices(server.seen)
    assert_one_id_per_voice(t.segments, reference)
    assert Transcript.objects.get(id=t.id).speakers == {"S1": "Speaker 1", "S2": "Speaker 2"}
