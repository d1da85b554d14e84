"""The engine the settings name, built once per process (warm Lambdas reuse it,
and the local model loads once). Settings are read here, at the app layer; the
engines in workers/speech/ take their configuration as arguments."""

from __future__ import annotations

import threading

from django.conf import settings

from workers.speech.engines import Engine, EngineError

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def build(name: str, model: str | None = None) -> Engine:
    """A new engine from the settings as they are now; `model` overrides the configured
    model name (the CLI's `--model`)."""
    if name == "local":
        from workers.speech import speakers
        from workers.speech.engines.local import LocalEngine

        return LocalEngine(
            model or settings.WHISPER_MODEL,
            settings.WHISPER_DEVICE,
            settings.WHISPER_COMPUTE_TYPE,
            settings.WHISPER_THREADS,
            settings.WHISPER_BEAM_SIZE,
            window_seconds=settings.CHUNK_LOCAL_WINDOW_SECONDS,
            models_dir=settings.WHISPER_MODELS_DIR,
            allow_download=settings.WHISPER_ALLOW_DOWNLOAD,
            batch_size=settings.WHISPER_BATCH_SIZE,
            # One replica per worker thread of the local runner; a Lambda runs one at a time.
            replicas=settings.TRANSCRIBE_WORKERS if settings.TRANSCRIBE_RUNNER == "thread" else 1,
            diarizer=speakers.label,  # torch loads only when speakers are asked for
        )
    if name == "openai":
        from workers.speech.engines.openai import OpenAIEngine

        return OpenAIEngine(
            settings.OPENAI_API_KEY,
            settings.OPENAI_BASE_URL,
            model or settings.OPENAI_TRANSCRIBE_MODEL,
            settings.OPENAI_TIMEOUT_SECONDS,
            settings.OPENAI_MAX_RETRIES,
            settings.OPENAI_MAX_CONCURRENCY,
            settings.OPENAI_CHUNK_SECONDS,
            settings.OPENAI_TIMEOUT_PER_AUDIO_SECOND,
        )
    raise EngineError(f"Unknown TRANSCRIBE_ENGINE {name!r}: use 'local' or 'openai'.")


def get_engine(name: str | None = None) -> Engine:
    """The engine named (TRANSCRIBE_ENGINE by default), built on first use."""
    name = name or settings.TRANSCRIBE_ENGINE
    with _lock:
        if name not in _engines:
            _engines[name] = build(name)
        return _engines[name]


def reset() -> None:
    """Forget the built engines, so the next call builds them from the settings as they are now."""
    with _lock:
        _engines.clear()
