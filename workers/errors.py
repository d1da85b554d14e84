"""Which failures Lambda should retry, and Zappa's `exception_handler` that says so.

An asynchronous invoke (the `@task`, S3 events, the schedule) that raises is
retried by Lambda twice. That is right for a failure that may pass (the
database or S3 briefly unreachable, throttling, an engine asking to be retried)
and wrong for one that will not (a bad event, a missing object, a bug): those
would run three times and fail three times. Bad audio never gets here: the
task records it as `failed` and returns normally.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# S3/boto error codes that mean "try again later".
TRANSIENT_CODES = {
    "InternalError",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
}


def is_transient(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    from django.db import InterfaceError, OperationalError

    from workers.speech.engines import TransientError

    if isinstance(
        exc, TransientError | OperationalError | InterfaceError | ConnectionError | HTTPClientError
    ):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code") in TRANSIENT_CODES or status >= 500
    return False


def exception_handler(exception: BaseException, event: dict, context) -> bool:
    """Zappa calls this with whatever escaped the handler. True means "handled":
    Zappa returns normally and Lambda does not retry. False re-raises, so
    Lambda's async retry runs the event again (every worker is idempotent)."""
    if is_transient(exception):
        log.warning("transient failure, Lambda will retry: %r", exception)
        return False
    log.error("permanent failure, not retried: %r (event keys: %s)", exception, sorted(event or {}))
    return True
