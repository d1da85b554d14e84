"""A password rule Django lacks: its common-password list holds "summer" but not
"Summer2026", the first thing a guesser tries after it."""

from __future__ import annotations

import re

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError

_AFFIXES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


class CommonWordWithSuffixValidator(CommonPasswordValidator):
    """Refuse a common password with digits or symbols added before or after it."""

    def validate(self, password: str, user=None) -> None:
        core = _AFFIXES.sub("", password).lower()
        if core != password.lower() and core in self.passwords:
            raise ValidationError(
                "This password is a common word with digits or symbols added.",
                code="password_too_common",
            )

    def get_help_text(self) -> str:
        return "Your password can’t be a common word with digits or symbols added."
