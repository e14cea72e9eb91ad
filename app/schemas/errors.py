"""The one shape of every error answer (after RFC 9457 problem details)."""

from __future__ import annotations

from http import HTTPStatus

from pydantic import BaseModel, Field

from app.observability.logs import REQUEST_ID


class FieldError(BaseModel):
    """One invalid part of a request."""

    loc: list[str | int] = Field(
        description="Where: e.g. ['body', 'epochs'] or ['query', 'level', 0]"
    )
    message: str = Field(description="What is wrong with it")
    type: str = Field(description="A stable name for the kind of mistake (pydantic's)")


class ErrorOut(BaseModel):
    """What every 4xx and 5xx answer carries."""

    status: int = Field(description="The HTTP status, repeated")
    code: str = Field(description="A stable name for the kind of problem, e.g. not_found")
    title: str = Field(description="The status's reason phrase")
    detail: str = Field(description="One sentence that names the problem and what to do")
    errors: list[FieldError] = Field(
        default_factory=list, description="For invalid requests: every field that is wrong"
    )
    request_id: str | None = Field(None, description="The request's id (X-Request-ID)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": 404,
                    "code": "not_found",
                    "title": "Not Found",
                    "detail": "No trained model for ticker 'AAPL'. Start one with POST /train.",
                    "errors": [],
                    "request_id": "5f0c2b1e9a7d4c3b",
                }
            ]
        }
    }


def error_out(
    status: int, code: str, detail: str, *, errors: list[FieldError] | None = None
) -> ErrorOut:
    """The error answer for this request: the status's phrase as title, the request's id."""
    request_id = REQUEST_ID.get()
    return ErrorOut(
        status=status,
        code=code,
        title=HTTPStatus(status).phrase,
        detail=detail,
        errors=errors or [],
        request_id=None if request_id == "-" else request_id,
    )
