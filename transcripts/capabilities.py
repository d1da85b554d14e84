"""What the configured engine and model can do, so forms and the CLI offer only that.

Read from settings here (the app layer) and handed to the speech layer's
`models.info`/`models.check`, which take no settings of their own.
"""

from __future__ import annotations

import os

from django.conf import settings

from workers.speech import languages, models

# The OpenAI API translates (/v1/audio/translations) with whisper-1 only.
OPENAI_TRANSLATES = ("whisper-1",)


def model_info(model: str | None = None) -> models.ModelInfo:
    """The model a new upload (or the CLI's `--model`) would run on, for the configured engine."""
    if settings.TRANSCRIBE_ENGINE == "openai":
        name = model or settings.OPENAI_TRANSCRIBE_MODEL
        tasks = ("transcribe", "translate") if name in OPENAI_TRANSLATES else ("transcribe",)
        return models.ModelInfo(name, True, languages.CODES[:99], tasks)
    name = model or settings.WHISPER_MODEL
    return models.info(name, name if os.path.isdir(name) else None)


def engine_for(model: str | None = None):
    """The configured engine, or a new one like it running `model` (the CLI's `--model`)."""
    from .engines import build, get_engine

    engine = get_engine()
    if not model or model == getattr(engine, "model_name", None):
        return engine
    return build(settings.TRANSCRIBE_ENGINE, model)


def language_choices(info: models.ModelInfo) -> list[tuple[str, str]]:
    """Choices for a language field: only what the model knows, by name."""
    if not info.multilingual:
        return [("en", "English (the only language this model knows)")]
    named = sorted(info.languages, key=languages.name)
    return [("", "Detect automatically, per passage")] + [(c, languages.name(c)) for c in named]
