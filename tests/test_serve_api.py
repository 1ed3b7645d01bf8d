"""``drgpay serve``'s JSON API in-process (the framework's test client), and against a real uvicorn server on
127.0.0.1 for what only a socket shows (a client that disconnects mid-upload, a body refused before it is read).

Every refusal must be a 4xx JSON body naming the row and column, never a traceback, and the service must answer
the next request as before.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgpay

pytest.importorskip("fastapi", reason="drgpay[serve] is not installed")

from fastapi.testclient import TestClient

from drgpay.payment import example_policy_path
from drgpay.serve import ERROR_CODES, Limits, Service, create_app, load_service
from drgpay.serve.server import serve_in_thread

REPO = Path(__file__).resolve().parents[1]
SAMPLE = pd.read_csv(REPO / "examples" / "sample_export.csv", dtype=str, keep_default_na=False)
DIP_GOLDEN = REPO / "tests" / "golden" / "dip"
PUBLISHED = {
    "case_id": "P1",
    "sex": "1",
    "age": 45,
    "principal_dx": "K80.101",
    "secondary_dx": "I50.900",
    "procedures": "51.2300",
}
PAYABLE = {**PUBLISHED, "los": 7, "discharge_type": "1", "total_cost": "16800.50", "insurance_type": "职工"}
PAYABLE |= {"hospital_level": "3", "discharge_date": "2025-03-01"}
SMALL = Limits(max_body_bytes=64 * 1024, max_rows=50, max_codes=20, timeout_seconds=10)


def sample_records() -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in SAMPLE.to_dict("records")]


@pytest.fixture(scope="module")
def service() -> Service:
    return load_service(["chs-drg-2.0"], policy=example_policy_path())


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture(scope="module")
def small(service: Service) -> Iterator[TestClient]:
    """The same groupers and policy under small limits."""
    limited = Service(
        groupers=service.groupers,
        default=service.default,
        limits=SMALL,
        policy=service.policy,
        lookups=service.lookups,
        names=service.names,
    )
    with TestClient(create_app(limited)) as c:
        yield c


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error body of ``response``, checked: status, code, the documented fields, no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "row", "column"}
    assert error["code"] == code and ERROR_CODES[code] == status
    assert error["message"]
    return dict(error)


def still_up(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


# -- service ------------------------------------------------------------------------------------------------------
def test_health_and_groupers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "groupers": ["chs-drg-2.0"]}
    info = client.get("/groupers").json()
    assert info["default"] == "chs-drg-2.0"
    (grouper,) = info["groupers"]
    assert grouper["id"] == "chs-drg-2.0" and grouper["scheme"] == "chs-drg"
    assert grouper["codes"]["dx"] > 30_000 and grouper["codes"]["proc"] > 10_000
    assert info["policy"]["grouper"] == "chs-drg-2.0"
    assert info["limits"]["max_rows"] == Limits().max_rows


def test_openapi_describes_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/group", "/explain", "/pay", "/groupers", "/healthz", "/codes"} <= set(spec["paths"])
    group = spec["paths"]["/group"]["post"]
    content = group["requestBody"]["content"]
    records = content["application/json"]["schema"]
    assert records["type"] == "array" and records["maxItems"] == Limits().max_rows
    assert {"principal_dx", "secondary_dx", "procedures", "sex", "age"} <= set(records["items"]["properties"])
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert group["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorResponse"
    )
    assert "GroupResponse" in spec["components"]["schemas"]
    explain = spec["paths"]["/explain"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "principal_dx" in explain["properties"]
    assert client.get("/docs").status_code == 404  # its page would load scripts from a CDN


def test_page_and_assets_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "主要诊断编码" in page.text and "其他诊断编码" in page.text and "手术及操作编码" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(asset).text
        assert not re.search(r"https?://", text), asset  # no CDN, no remote font, no beacon
    assert "content-security-policy" in client.get("/healthz").headers


# -- grouping -----------------------------------------------------------------------------------------------------
def test_group_the_published_case(client: TestClient) -> None:
    answer = client.post("/group", json=[PUBLISHED]).json()
    assert answer["grouper"] == "chs-drg-2.0" and answer["rows"] == 1
    assert answer["summary"] == {"grouped": 1}
    assert answer["results"] == [
        {
            "row": 0,
            "case_id": "P1",
            "mdc": "MDCH",
            "adrg": "HC2",
            "drg": "HC23",
            "status": "grouped",
            "reason": None,
            "warnings": None,
        }
    ]


def test_group_answers_every_row_in_order_as_the_library_does(client: TestClient) -> None:
    records = sample_records()[::-1]
    answer = client.post("/group", json=records).json()
    expected = drgpay.group(pd.DataFrame(records))
    assert [r["row"] for r in answer["results"]] == list(range(len(records)))
    assert [r["case_id"] for r in answer["results"]] == [r["case_id"] for r in records]
    for column in ("mdc", "adrg", "drg", "status", "reason"):
        want = [None if pd.isna(v) else str(v) for v in expected[column]]
        assert [r[column] for r in answer["results"]] == want, column
    assert answer["summary"] == {k: v for k, v in expected["status"].value_counts().items() if v}
    assert {"invalid", "ungroupable"} <= set(answer["summary"])


def test_group_reads_chinese_headers_and_code_arrays(client: TestClient) -> None:
    chinese = {"病案号": "C1", "性别": "男", "年龄": 45, "主要诊断编码": "K80.101", "其他诊断编码": "I50.900"}
    chinese["手术及操作编码"] = "51.2300"
    arrays = {**PUBLISHED, "secondary_dx": ["I50.900"], "procedures": ["51.2300"]}
    for record in (chinese, arrays):
        (result,) = client.post("/group", json=[record]).json()["results"]
        assert result["drg"] == "HC23", record


def test_group_flags_unreadable_values_as_the_library_does(client: TestClient) -> None:
    records = [{**PUBLISHED, "age": "abc"}, {**PUBLISHED, "principal_dx": None}, {"principal_dx": "X99.999"}]
    results = client.post("/group", json=records).json()["results"]
    assert [(r["status"], r["reason"]) for r in results] == [
        ("invalid", "invalid_age"),
        ("ungroupable", "missing_principal_dx"),
        ("ungroupable", "unknown_principal_dx"),
    ]


def test_group_answers_csv_with_the_input_columns_first(client: TestClient) -> None:
    records = sample_records()[:5]
    for response in (
        client.post("/group?format=csv", json=records),
        client.post("/group", json=records, headers={"Accept": "text/csv"}),
    ):
        assert response.headers["content-type"].startswith("text/csv")
        table = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
        assert list(table.columns) == [
            *SAMPLE.columns,
            "mdc",
            "adrg",
            "drg",
            "status",
            "reason",
            "warnings",
            "grouper",
        ]
        assert table["case_id"].tolist() == [r["case_id"] for r in records]
        assert table["drg"].tolist() == drgpay.group(pd.DataFrame(records))["drg"].astype(str).tolist()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet", ".tsv"])
def test_group_an_uploaded_file(client: TestClient, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"export{suffix}"
    if suffix == ".xlsx":
        SAMPLE.to_excel(path, index=False)
    elif suffix == ".parquet":
        SAMPLE.to_parquet(path, index=False)
    else:
        SAMPLE.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    with path.open("rb") as fh:
        response = client.post("/group?format=csv", files={"file": (path.name, fh)})
    assert response.status_code == 200, response.text
    table = pd.read_csv(io.StringIO(response.text), dtype=str, keep_default_na=False)
    assert table["case_id"].tolist() == SAMPLE["case_id"].tolist()
    assert table["drg"].tolist() == drgpay.group(SAMPLE)["drg"].astype(str).tolist()


def test_group_a_gb18030_csv_body(client: TestClient) -> None:
    text = "病案号,性别,年龄,主要诊断编码,其他诊断编码,手术及操作编码\nC1,男,45,K80.101,I50.900,51.2300\n"
    response = client.post("/group", content=text.encode("gb18030"), headers={"Content-Type": "text/csv"})
    assert response.json()["results"][0]["drg"] == "HC23"
    assert response.json()["results"][0]["case_id"] == "C1"


def test_upload_errors_name_the_upload_not_a_path_here(client: TestClient) -> None:
    bad = client.post("/group", files={"file": ("discharges.csv", b"case_id,age\n1,45\n")})
    error = error_of(bad, 422, "invalid_input")
    assert "discharges.csv" in error["message"] and "principal_dx" in error["message"]
    assert "drgpay-serve-" not in error["message"] and "/tmp" not in error["message"]
    error_of(client.post("/group", files={"file": ("x.docx", b"abc")}), 415, "unsupported_media_type")
    error_of(client.post("/group", files={"file": ("x.xlsx", b"not a zip")}), 400, "malformed_upload")
    error_of(client.post("/group", files={"other": ("x.csv", b"a")}), 400, "malformed_upload")
    error_of(client.post("/group", files={"file": ("x.csv", b"")}), 400, "malformed_upload")
    still_up(client)


def test_group_by_a_loaded_grouper_only(client: TestClient) -> None:
    for name in ("chs-drg-1.1", "../groupers/chs-drg-1.1", "/etc"):
        error = error_of(client.post(f"/group?grouper={name}", json=[PUBLISHED]), 404, "unknown_grouper")
        assert error["column"] == "grouper" and "chs-drg-2.0" in error["message"]
    assert client.post("/group?grouper=chs-drg-2.0", json=[PUBLISHED]).status_code == 200


def test_dip_grouper_with_its_catalogue() -> None:
    service = load_service(["dip-2.0", "chs-drg-2.0"], catalog=DIP_GOLDEN / "catalog.csv")
    cases = pd.read_csv(DIP_GOLDEN / "cases.csv", dtype=str, keep_default_na=False)
    columns = ["case", "principal_dx", "secondary_dx", "procedures", "age", "age_days", "discharge_type"]
    records = [{k: (v or None) for k, v in row.items()} for row in cases[columns].to_dict("records")]
    with TestClient(create_app(service)) as c:
        results = c.post("/group", json=records).json()["results"]
        assert [r["dip_group"] or "" for r in results] == cases["expected_group"].tolist()
        assert c.post("/group?grouper=chs-drg-2.0", json=[PUBLISHED]).json()["results"][0]["drg"] == "HC23"
        trace = c.post("/explain", json=records[0]).json()
        assert trace["grouper"] == "dip-2.0" and trace["steps"]
        assert trace["dip_group"] == (cases["expected_group"][0] or None)


def test_load_service_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="DIP grouper"):
        load_service(["dip-2.0"])
    with pytest.raises(ValueError, match="--catalog is for DIP"):
        load_service(["chs-drg-2.0"], catalog=DIP_GOLDEN / "catalog.csv")


# -- explain, pay, look-up ------------------------------------------------------------------------------------
def test_explain_the_published_case(client: TestClient) -> None:
    trace = client.post("/explain", json=PUBLISHED).json()
    assert (trace["mdc"], trace["adrg"], trace["drg"], trace["status"]) == ("MDCH", "HC2", "HC23", "grouped")
    assert trace["steps"][-1] == "DRG: HC23 (MCC; splits of HC2: 3, 5)"
    assert trace["steps"] == list(drgpay.explain(PUBLISHED).steps)
    assert trace["names"]["drg"] == "胆囊切除手术，伴合并症或并发症"
    assert trace["record"]["principal_dx"] == "K80.101" and trace["record"]["age_days"] is None
    assert trace["payment"]["weight"] == "1.8087"


def test_explain_with_payment(client: TestClient) -> None:
    payment = client.post("/explain", json=PAYABLE).json()["payment"]
    assert payment["result"]["standard"] == "17318.75"
    assert payment["result"]["case_type"] == "normal"
    assert payment["result"]["surplus"] == "518.25"
    assert any("9575.25" in step for step in payment["steps"])


def test_explain_without_policy_has_no_payment() -> None:
    with TestClient(create_app(load_service(["chs-drg-2.0"]))) as c:
        assert c.post("/explain", json=PUBLISHED).json()["payment"] is None
        error_of(c.post("/pay", json=[PAYABLE]), 409, "no_policy")


def test_explain_refusals(client: TestClient) -> None:
    error_of(client.post("/explain", json=[PUBLISHED]), 422, "invalid_record")
    error = error_of(client.post("/explain", json={**PUBLISHED, "procedures": 51.23}), 422, "invalid_value")
    assert error["column"] == "procedures" and "51.2300" in error["message"]
    error_of(
        client.post("/explain", content=b"{}", headers={"Content-Type": "text/csv"}),
        415,
        "unsupported_media_type",
    )


def test_pay_records(client: TestClient) -> None:
    answer = client.post("/pay", json=[PAYABLE, {**PAYABLE, "case_id": "P2", "total_cost": "4000"}]).json()
    first, second = answer["results"]
    assert first["drg"] == "HC23" and first["standard"] == "17318.75" and first["case_type"] == "normal"
    assert first["weight"] == "1.8087"
    assert second["case_type"] == "low_cost"
    assert answer["warnings"] == []
    csv = client.post("/pay?format=csv", json=[PAYABLE])
    table = pd.read_csv(io.StringIO(csv.text), dtype=str, keep_default_na=False)
    assert table.loc[0, "standard"] == "17318.75" and table.loc[0, "case_id"] == "P1"


def test_pay_refuses_cases_outside_the_policy_dates(client: TestClient) -> None:
    error = error_of(
        client.post("/pay", json=[{**PAYABLE, "discharge_date": "2023-01-01"}]), 422, "invalid_input"
    )
    assert "2023-01-01" in error["message"] or "effective" in error["message"]


def test_code_look_up(client: TestClient) -> None:
    by_code = client.get("/codes", params={"q": "k80.10", "kind": "dx"}).json()["results"]
    assert by_code[0] == {"code": "K80.100", "name": "胆囊结石伴有其他胆囊炎"}
    assert all(r["code"].startswith("K80.10") for r in by_code)
    by_name = client.get("/codes", params={"q": "腹腔镜下胆囊切除", "kind": "proc", "limit": 5}).json()[
        "results"
    ]
    assert {"code": "51.2300", "name": "腹腔镜下胆囊切除术"} in by_name and len(by_name) <= 5
    error = error_of(client.get("/codes", params={"q": "K80", "kind": "drug"}), 422, "invalid_value")
    assert error["column"] == "kind"
    error_of(client.get("/codes", params={"q": "K" * 65}), 422, "invalid_value")


# -- refusals: every one a 4xx naming row and column, and the service stays up ---------------------------------
def test_oversized_body(small: TestClient) -> None:
    body = json.dumps([PUBLISHED] * 1000).encode()
    assert len(body) > SMALL.max_body_bytes
    error = error_of(
        small.post("/group", content=body, headers={"Content-Type": "application/json"}),
        413,
        "body_too_large",
    )
    assert f"{SMALL.max_body_bytes:,}" in error["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    streamed = small.post("/group", content=chunks(), headers={"Content-Type": "application/json"})
    error_of(streamed, 413, "body_too_large")
    still_up(small)


def test_too_many_rows(small: TestClient) -> None:
    error = error_of(small.post("/group", json=[PUBLISHED] * (SMALL.max_rows + 1)), 413, "too_many_rows")
    assert "51" in error["message"]
    csv = "principal_dx\n" + "K80.101\n" * (SMALL.max_rows + 1)
    error_of(small.post("/group", files={"file": ("big.csv", csv.encode())}), 413, "too_many_rows")
    assert small.post("/group", json=[PUBLISHED] * SMALL.max_rows).status_code == 200


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'[{"principal_dx": "K80.101",}]', "line 1 column 29"),
        (b'[{"principal_dx": "K80.101"}', "line 1 column 29"),
        (b'[{"principal_dx": "K80.101", "age": NaN}]', "NaN"),
        (b"\xff\xfe[", "UTF-8"),
        (b"[" * 100_000, "nested"),
        (b"", "line 1 column 1"),
    ],
)
def test_malformed_json(client: TestClient, body: bytes, where: str) -> None:
    error = error_of(
        client.post("/group", content=body, headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )
    assert where in error["message"]
    still_up(client)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", None]
)
def test_wrong_content_type(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    error = error_of(client.post("/group", content=b"[]", headers=headers), 415, "unsupported_media_type")
    assert "application/json" in error["message"]
    still_up(client)


def test_ten_thousand_codes_in_one_field(client: TestClient) -> None:
    codes = "|".join(["I10.x05"] * 10_000)
    records = [PUBLISHED, {**PUBLISHED, "secondary_dx": codes}]
    error = error_of(client.post("/group", json=records), 422, "too_many_codes")
    assert (error["row"], error["column"]) == (1, "secondary_dx")
    assert "10,000 codes" in error["message"]
    listed = [PUBLISHED, PUBLISHED, {**PUBLISHED, "procedures": ["51.2300"] * 10_000}]
    error = error_of(client.post("/group", json=listed), 422, "too_many_codes")
    assert (error["row"], error["column"]) == (2, "procedures")
    chinese = {"主要诊断编码": "K80.101", "其他诊断编码": " ".join(["I10.x05"] * 10_000)}
    error = error_of(client.post("/group", json=[chinese]), 422, "too_many_codes")
    assert (error["row"], error["column"]) == (0, "其他诊断编码")
    error = error_of(
        client.post("/explain", json={**PUBLISHED, "secondary_dx": codes}), 422, "too_many_codes"
    )
    assert error["column"] == "secondary_dx"
    under = "|".join(["I10.x05"] * Limits().max_codes)
    assert client.post("/group", json=[{**PUBLISHED, "secondary_dx": under}]).status_code == 200
    still_up(client)


@pytest.mark.parametrize(
    ("records", "code", "row", "column"),
    [
        ([PUBLISHED, "K80.101"], "invalid_record", 1, None),
        ([PUBLISHED, PUBLISHED, [1, 2]], "invalid_record", 2, None),
        ([{**PUBLISHED, "age": {"years": 45}}], "invalid_value", 0, "age"),
        ([PUBLISHED, {**PUBLISHED, "procedures": [["51.2300"]]}], "invalid_value", 1, "procedures"),
        ([{**PUBLISHED, "principal_dx": 80.101}], "invalid_value", 0, "principal_dx"),
        ([{"case_id": "x", "age": 3}], "invalid_input", None, "principal_dx"),
        ([], "invalid_input", None, None),
        ({"records": [PUBLISHED]}, "invalid_input", None, None),
    ],
)
def test_records_refused_naming_row_and_column(
    client: TestClient, records: Any, code: str, row: int | None, column: str | None
) -> None:
    error = error_of(client.post("/group", json=records), 422, code)
    assert (error["row"], error["column"]) == (row, column)
    still_up(client)


def test_timeout(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Service(groupers=service.groupers, default=service.default, limits=Limits(timeout_seconds=0.2))
    original = Service.group

    def group_slowly(self: Service, frame: pd.DataFrame, grouper: Any) -> pd.DataFrame:
        time.sleep(1.0)
        return original(self, frame, grouper)

    monkeypatch.setattr(Service, "group", group_slowly)
    with TestClient(create_app(slow)) as c:
        error = error_of(c.post("/group", json=[PUBLISHED]), 503, "timeout")
        assert "0.2 s" in error["message"]
        still_up(c)


def test_internal_error_has_no_traceback(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> bytes:
        raise RuntimeError("secret detail /some/path")

    monkeypatch.setattr(Service, "group_json", broken)
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        error = error_of(c.post("/group", json=[PUBLISHED]), 500, "internal_error")
        assert "secret" not in error["message"] and "/some/path" not in error["message"]
        still_up(c)


def test_unknown_route_and_method(client: TestClient) -> None:
    error_of(client.get("/nothing-here"), 404, "not_found")
    error_of(client.get("/group"), 405, "method_not_allowed")


# -- property: the service answers as the library does --------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.integers(0, len(SAMPLE) - 1), min_size=1, max_size=40))
def test_service_equals_library(client: TestClient, rows: list[int]) -> None:
    records = [sample_records()[i] for i in rows]
    results = client.post("/group", json=records).json()["results"]
    expected = drgpay.group(pd.DataFrame(records))
    assert len(results) == len(records)
    for column in ("drg", "status", "reason", "warnings"):
        assert [r[column] for r in results] == [None if pd.isna(v) else str(v) for v in expected[column]]


# -- a real server on 127.0.0.1 ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(service: Service) -> Iterator[tuple[str, int]]:
    limited = Service(
        groupers=service.groupers, default=service.default, limits=SMALL, lookups=service.lookups
    )
    with serve_in_thread(create_app(limited)) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def _get_health(host: str, port: int) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/healthz")
    status = connection.getresponse().status
    connection.close()
    return status


def _read_reply(sock: socket.socket) -> str:
    """One HTTP answer read off ``sock``: the head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode()


def _wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(text in r.getMessage() for r in caplog.records):
            return
        time.sleep(0.02)
    raise AssertionError(f"no log line with {text!r}: {[r.getMessage() for r in caplog.records]}")


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_client_disconnects_mid_upload(
    live: tuple[str, int], caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    host, port = live
    caplog.set_level(logging.WARNING, logger="drgpay.serve")
    content_type = "application/json" if kind == "json" else "multipart/form-data; boundary=XyZ"
    start = (
        b"["
        if kind == "json"
        else b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    )
    with socket.create_connection((host, port), timeout=10) as sock:
        head = f"POST /group HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: 50000\r\n\r\n"
        sock.sendall(head.encode() + start + b"principal_dx\nK80.101\n" * 100)
        time.sleep(0.2)
    _wait_for_log(caplog, "disconnected")
    record = next(r for r in caplog.records if "disconnected" in r.getMessage())
    assert "(400)" in record.getMessage()
    assert _get_health(host, port) == 200


def test_body_refused_before_it_is_sent(live: tuple[str, int]) -> None:
    host, port = live
    with socket.create_connection((host, port), timeout=10) as sock:
        head = (
            f"POST /group HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * SMALL.max_body_bytes}\r\n\r\n"
        )
        sock.sendall(head.encode())  # the body never follows: the answer must not wait for it
        reply = _read_reply(sock)
    assert reply.startswith("HTTP/1.1 413")
    assert '"code": "body_too_large"' in reply
    assert _get_health(host, port) == 200


def test_chunked_upload_over_the_limit_on_a_socket(live: tuple[str, int]) -> None:
    host, port = live
    chunk = b"x" * 8192
    with socket.create_connection((host, port), timeout=10) as sock:
        head = f"POST /group HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode())
        try:
            for _ in range(2 * SMALL.max_body_bytes // len(chunk)):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server answered and closed: the rest is not read
        reply = _read_reply(sock)
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert _get_health(host, port) == 200
