"""Response shapes, for the OpenAPI document only (the domain builds the bodies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field

from query_service.domain.records import Record, Status


class QueryResponse(BaseModel):
    success: bool = True
    data: list[Record]
    total_count: int = Field(description="records on this page")
    next_cursor: str | None = Field(
        description="pass back as cursor for the next page; null on the last"
    )
    message: str


class EventBody(BaseModel):
    status: Status
    at: int = Field(description="when the delivery reached this status (ms)")
    error_msg: str | None = Field(description="why, for a failure")


@dataclass(frozen=True, kw_only=True)
class DeliveryBody(Record):
    """A record with its timeline."""

    events: Annotated[
        list[EventBody],
        Field(description="every status the delivery went through, oldest first, each once"),
    ]
    events_truncated: Annotated[bool, Field(description="older events were dropped (50 are kept)")]


class DeliveryResponse(BaseModel):
    success: bool = True
    data: list[DeliveryBody] = Field(description="the one delivery")
    total_count: int = Field(description="1")
    next_cursor: None = Field(description="always null")
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


class StatusCounts(BaseModel):
    SENT: int
    DELIVERED: int
    FAILED: int


class PlatformCounts(BaseModel):
    IOS: int
    ANDROID: int
    WEBPUSH: int


class ErrorCount(BaseModel):
    error_msg: str | None
    count: int


class DayCounts(BaseModel):
    day: str = Field(description="YYYY-MM-DD, the UTC day of the deliveries' created_at")
    total: int
    by_status: StatusCounts
    by_platform: PlatformCounts


class TransactionStats(BaseModel):
    transaction_id: str
    total: int
    by_status: StatusCounts
    by_platform: PlatformCounts
    top_errors: list[ErrorCount] = Field(description="at most 10, most frequent first")
    as_of: int = Field(description="when the counts were read (ms)")


class ApplicationStats(BaseModel):
    ap_id: str
    days: list[DayCounts] = Field(description="oldest first; days without deliveries as zeros")


class StatsResponse(BaseModel):
    """Counts of deliveries by their current status."""

    success: bool = True
    data: TransactionStats | ApplicationStats
    message: str
