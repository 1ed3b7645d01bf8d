"""The JSON shapes of the service, as pydantic models: they feed the OpenAPI description (``GET /openapi.json``).

Requests are parsed by :mod:`drgpay.serve.records` (faster than model validation on 100,000 records, and with
errors that name the row and column); the models here document them. ``Record`` is built from
:data:`drgpay.schema.CANONICAL_COLUMNS`, so the description cannot drift from the schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from drgpay.schema import CANONICAL_COLUMNS, CODE_COLUMNS

__all__ = [
    "CodesResponse",
    "ErrorResponse",
    "ExplainResponse",
    "GroupResponse",
    "GroupersResponse",
    "HealthResponse",
    "PayResponse",
    "Record",
    "request_body",
]

_LIST_COLUMNS = ("secondary_dx", "procedures")


def _field_type(name: str) -> Any:
    if name in _LIST_COLUMNS:
        return str | list[str] | None
    if name in CODE_COLUMNS:
        return str | None
    return str | int | float | None


#: One discharge record: the canonical columns (all optional but ``principal_dx``); Chinese 医保结算清单 headers
#: (``主要诊断编码``, ``其他诊断编码`` …) and ``secondary_dx_1``… wide columns are accepted as well.
Record: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Record",
    __config__=ConfigDict(
        extra="allow",
        json_schema_extra={
            "description": "One discharge record in the canonical columns or with Chinese 医保结算清单 headers "
            "(主要诊断编码, 其他诊断编码, 手术及操作编码, 性别, 年龄 …). Codes are JSON strings; lists of codes "
            "are a '|'-joined string or an array of strings. Other columns are kept and returned in CSV answers.",
            "example": {
                "case_id": "C001",
                "sex": "1",
                "age": 45,
                "principal_dx": "K80.101",
                "secondary_dx": "I50.900",
                "procedures": "51.2300",
            },
        },
    ),
    **{name: (_field_type(name), Field(None, description=text)) for name, text in CANONICAL_COLUMNS.items()},
)


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable word: malformed_json, too_many_codes, body_too_large …")
    message: str = Field(description="what is wrong, for people")
    row: int | None = Field(description="0-based record at fault; null when the whole request is")
    column: str | None = Field(description="the column (field) at fault; null when no one column is")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail


class GroupResult(BaseModel):
    """One record's grouping, in input order (DIP groupers add dip_group, dip_kind, treatment, score …)."""

    model_config = ConfigDict(extra="allow")
    row: int = Field(description="0-based position of the record in the request")
    case_id: str | int | None = Field(None, description="the record's case id, when it has one")
    mdc: str | None = None
    adrg: str | None = None
    drg: str | None = Field(None, description="e.g. HC23; 0000 ungroupable")
    status: str = Field(description="grouped, ambiguous, ungroupable or invalid")
    reason: str | None = Field(None, description="why, for anything but grouped (e.g. invalid_age)")
    warnings: str | None = Field(None, description="codes the grouper does not know")


class GroupResponse(BaseModel):
    grouper: str
    rows: int
    summary: dict[str, int] = Field(description="records by status")
    results: list[GroupResult]


class ExplainResponse(BaseModel):
    """The structured trace of drgpay.explain (CHS-DRG: mdc, adrg, drg, status, reason; DIP: dip_group, …)."""

    model_config = ConfigDict(extra="allow")
    grouper: str
    record: dict[str, Any] = Field(description="the record as the grouper read it")
    steps: list[str] = Field(description="each step the grouper took, in order")
    names: dict[str, str | None] = Field(description="names of the MDC, ADRG and DRG")
    payment: dict[str, Any] | None = Field(
        description="with a policy loaded: weight (DRG) or score (DIP), and the payment result and steps when the "
        "record has the columns payment needs (total_cost, los, discharge_type …); amounts are decimal text"
    )


class PayResponse(BaseModel):
    policy: str
    rows: int
    warnings: list[str]
    results: list[dict[str, Any]] = Field(
        description="per record in order: row, the grouping columns and the payment columns (case_type, weight "
        "or points, standard, fund_payment, patient_payment, surplus, payment_reason); amounts are exact "
        "decimal text in yuan"
    )


class GrouperInfo(BaseModel):
    id: str
    version: str
    scheme: str
    content_hash: str
    codes: dict[str, int] = Field(description="diagnosis (dx) and procedure (proc) codes for the look-up")


class GroupersResponse(BaseModel):
    default: str
    groupers: list[GrouperInfo]
    policy: dict[str, Any] | None
    catalog: dict[str, Any] | None
    limits: dict[str, Any]


class CodeMatch(BaseModel):
    code: str
    name: str


class CodesResponse(BaseModel):
    kind: str
    query: str
    results: list[CodeMatch]


class HealthResponse(BaseModel):
    status: str
    groupers: list[str]


def request_body(*, records: bool, upload: bool, max_rows: int) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of an endpoint that parses its own body: one record, a JSON array of records
    (at most ``max_rows``), and/or an uploaded file."""
    record = Record.model_json_schema()
    content: dict[str, Any] = {
        "application/json": {
            "schema": {"type": "array", "items": record, "maxItems": max_rows} if records else record
        }
    }
    if upload:
        content["multipart/form-data"] = {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "a CSV (UTF-8 or GB18030), TSV, Excel (.xlsx) or Parquet export",
                    }
                },
                "required": ["file"],
            }
        }
        content["text/csv"] = {"schema": {"type": "string", "description": "a CSV export as the body"}}
    return {"requestBody": {"required": True, "content": content}}
