"""The one error shape every endpoint answers with: {"error": what, "detail": why}."""

from __future__ import annotations

from fastapi.responses import JSONResponse


class ApiError(Exception):
    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "detail": self.detail},
            status_code=self.status,
            headers=self.headers,
        )
