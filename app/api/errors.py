"""The error shape, for app/api/hooks.py; it lives in app/web/errors.py, shared with the console."""

from app.web.errors import ApiError

__all__ = ["ApiError"]
