"""Two site-wide guards, each a few lines of plain middleware: a dependency
(django-csp) would bring its own settings schema for one constant header."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

# Room for the form's other fields and the multipart framing around the file.
FORM_SLACK_BYTES = 2**20


def refuse_oversized_body(get_response):
    """Answer 413 to a request whose Content-Length exceeds what an upload may be,
    before anything reads the body: CsrfViewMiddleware reads request.POST, which
    would spool the whole body to disk first."""

    def middleware(request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body at all for a malformed length
        if length > settings.MAX_UPLOAD_MB * 2**20 + FORM_SLACK_BYTES:
            return _too_large(request, length)
        return get_response(request)

    return middleware


def _too_large(request: HttpRequest, length: int) -> HttpResponse:
    from transcripts.forms import too_large_message
    from transcripts.views import upload_too_large

    # Each API answers in its own error shape, so its clients raise their usual errors.
    if request.path_info.startswith("/api/v1/"):
        from transcripts.api.rest import error

        return error("too_large", too_large_message(length), 413)
    if request.path_info.startswith("/v1/"):
        from transcripts.api.openai_compat import too_large as openai_too_large

        return openai_too_large(settings.MAX_UPLOAD_MB * 2**20)
    try:
        on_upload_page = resolve(request.path_info).url_name == "upload"
    except Resolver404:
        on_upload_page = False
    if on_upload_page and request.user.is_authenticated:
        return upload_too_large(request, length)  # the form again, with the reason
    message = too_large_message(length)
    if request.accepts("text/html"):
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    return JsonResponse({"error": message}, status=413)


def content_security_policy(get_response):
    """Scripts, styles and everything else only from this site: an uploaded file
    or injected markup cannot run script here. On S3, audio plays from and uploads
    go to the bucket, so its origin is allowed for media and connections."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        bucket = settings.TRANSCRIPTS_BUCKET
        response.setdefault("Content-Security-Policy", _policy(bucket, settings.AWS_S3_ENDPOINT_URL))
        return response

    return middleware


@lru_cache(maxsize=8)
def _policy(bucket: str, endpoint: str | None) -> str:
    storage = " ".join(_storage_origins()) if bucket else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"media-src 'self' {storage}".strip(),
            f"connect-src 'self' {storage}".strip(),
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def _storage_origins() -> list[str]:
    """The origins of the bucket's presigned GET and POST URLs, as boto3 writes them
    (virtual-hosted or path style, regional or not), signed locally, nothing sent."""
    from django.core.files.storage import default_storage

    from transcripts import storage as store

    urls = [
        default_storage.url("audio/csp"),
        store.presigned_post("audio/csp", max_bytes=1, expires=60, tags={})["url"],
    ]
    return sorted({"{0.scheme}://{0.netloc}".format(urlsplit(u)) for u in urls})
