"""The scheduled sweep (zappa_settings.json `events`, every 5 minutes).

Lambda has no long-lived process to run the local worker's sweeper, so a
schedule does it: rows whose worker died (timeout, crash) go back to work.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def recover_stale(event: dict, context) -> dict:
    from transcripts.pipeline.dispatch import recover_stale as recover

    try:
        recovered = recover()
    except TypeError as exc:
        # Zappa would call us again with fewer arguments and hide the real error.
        raise RuntimeError(f"stale-row sweep failed: {exc}") from exc
    if recovered:
        log.info("recovered %d stale transcripts", len(recovered))
    return {"recovered": recovered}
