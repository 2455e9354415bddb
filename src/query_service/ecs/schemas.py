"""Response shapes, for the OpenAPI document only (the domain builds the bodies)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from query_service.domain.records import Record


class QueryResponse(BaseModel):
    success: bool = True
    data: list[Record]
    total_count: int = Field(description="records on this page")
    next_cursor: str | None = Field(
        description="pass back as cursor for the next page; null on the last"
    )
    message: str


class FieldErrorBody(BaseModel):
    field: str
    message: str


class ProblemResponse(BaseModel):
    """RFC 9457 problem details, served as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None
    success: bool = False
    errors: list[FieldErrorBody] | None = None


class HealthResponse(BaseModel):
    status: str
    service: str
    version: str
