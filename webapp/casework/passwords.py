"""Password rules in plain Chinese where Django's own translation is missing (its zh-hans catalogue lacks the
minimum-length message, which then reads in English)."""

from __future__ import annotations

from django.contrib.auth import password_validation

__all__ = ["MinimumLengthValidator"]


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's minimum length, its message in Chinese."""

    def get_error_message(self) -> str:
        return f"密码太短，至少需要 {self.min_length} 个字符。"

    def get_help_text(self) -> str:
        return f"密码至少需要 {self.min_length} 个字符。"
