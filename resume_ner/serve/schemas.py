"""The request and response bodies of the service (its OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The resume, exactly as written: line breaks are read.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(description="Resumes, each processed whole.")


class Entity(BaseModel):
    label: str
    start: int = Field(description="Character offset of the first character (Unicode code points).")
    end: int = Field(description="Character offset after the last character.")
    text: str
    score: float = Field(description="Mean probability of the span's word tags.")


class ModelRef(BaseModel):
    name: str
    version: str | None
    precision: str


class ExtractResponse(BaseModel):
    entities: list[Entity]
    model: ModelRef


class BatchItem(BaseModel):
    entities: list[Entity]


class BatchResponse(BaseModel):
    results: list[BatchItem]
    model: ModelRef


class Limits(BaseModel):
    max_chars: int
    max_texts: int


class ModelInfo(BaseModel):
    name: str
    version: str | None
    precision: str
    labels: list[str]
    source_run: str | None
    source_checkpoint: str | None
    format_version: int | None
    limits: Limits


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    error: ErrorBody
