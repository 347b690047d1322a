"""SSEResponse: the head of the response a connection got (the Ktor ``call.response``)."""

from __future__ import annotations

from dataclasses import dataclass

from ._headers import Headers

__all__ = ["SSEResponse"]


@dataclass(frozen=True, slots=True)
class SSEResponse:
    """The head of the response a connection got (the Ktor ``call.response``)."""

    status_code: int
    reason: str
    http_version: str
    headers: Headers
    url: str

    @property
    def content_type(self) -> str | None:
        """The media type, lower-cased and without parameters (None when absent).

        When the server sent several Content-Type fields, the last one wins."""
        values = self.headers.get_list("content-type")
        if not values:
            return None
        return values[-1].split(";", 1)[0].strip().lower() or None
