"""Machine-readable errors (AIP-193) on the real binaries: every error carries a
google.rpc.Status in grpc-status-details-bin with an ErrorInfo (reason, domain menu.v1, the
request id) and, for INVALID_ARGUMENT, a BadRequest naming every bad field; a datastore or
backend failure says which one failed and the request id, never a host, port, user or driver
text (those are in the call's log line)."""

import re
import time
import uuid

import grpc
import pytest

from conftest import dynamo_tables_env, env_of, free_port, rich_status, unary
from menu.v1 import category_pb2 as cat
from menu.v1 import common_pb2 as cm
from menu.v1 import menu_pb2
from menu.v1 import product_availability_pb2 as pa

INFRA = re.compile(r"127\.0\.0\.1|localhost|:\d{2,5}\b|port \d|ipv4|Access denied|menu_s|"
                   r"errno|curl|Connection refused|Failed to connect", re.I)


def log_line_of(svc, rid):
    """The call's log line (written once the call is done, just after the caller has its reply)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [x for x in svc.log_lines() if x.get("request_id") == rid and "status" in x]
        if lines or time.monotonic() > deadline:
            return lines[0]
        time.sleep(0.05)


def fail(svc, method, req, resp_cls, rid=None):
    md = (("x-request-id", rid),) if rid else None
    with svc.channel() as ch, pytest.raises(grpc.RpcError) as e:
        unary(ch, method, req, resp_cls, timeout=10, metadata=md)
    return e.value


def test_invalid_argument_names_every_bad_field(start_service, dynalite):
    env = env_of(dynalite)
    env.update(dynamo_tables_env())
    svc = start_service("dynamo-svc", env=env)
    rid = str(uuid.uuid4())
    req = cat.CreateCategoryRequest(category=cat.Category(id="bad id!", name=" "))
    err = fail(svc, "/menu.v1.CategoryService/CreateCategory", req, cat.CreateCategoryResponse,
               rid)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    st, info, bad = rich_status(err)
    assert info.reason == "INVALID_ARGUMENT" and info.metadata["request_id"] == rid
    assert [v.field for v in bad.field_violations] == [
        "category.channel", "category.id", "category.name"]
    assert all(v.description for v in bad.field_violations)
    # a stale version: ABORTED with its own reason and the current version
    ok = unary(svc.channel(), "/menu.v1.CategoryService/CreateCategory",
               cat.CreateCategoryRequest(category=cat.Category(channel=cm.CHANNEL_WEB, name="A")),
               cat.CreateCategoryResponse)[0].category
    err = fail(svc, "/menu.v1.CategoryService/DeleteCategory",
               cat.DeleteCategoryRequest(channel=cm.CHANNEL_WEB, id=ok.id, version=7),
               cat.DeleteCategoryResponse)
    assert err.code() == grpc.StatusCode.ABORTED
    _, info, bad = rich_status(err)
    assert info.reason == "STALE_VERSION" and info.metadata["current_version"] == "1"
    assert bad is None
    # unknown methods too
    err = fail(svc, "/menu.v1.CategoryService/Nope", req, cat.CreateCategoryResponse)
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    assert rich_status(err)[1].reason == "UNIMPLEMENTED"


def test_dynamodb_down_names_the_datastore_not_the_host(start_service):
    port = free_port()
    env = {"DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "DYNAMODB_CREATE_TABLES": "0",
           "DYNAMODB_MAX_ATTEMPTS": "1"}
    svc = start_service("dynamo-svc", env=env)
    rid = str(uuid.uuid4())
    err = fail(svc, "/menu.v1.CategoryService/GetCategory",
               cat.GetCategoryRequest(channel=cm.CHANNEL_WEB, id="x"), cat.GetCategoryResponse,
               rid)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert "DynamoDB" in err.details() and rid in err.details()
    assert not INFRA.search(err.details()), err.details()
    _, info, _ = rich_status(err)
    assert info.reason == "DATASTORE_UNAVAILABLE" and info.metadata["datastore"] == "dynamodb"
    line = log_line_of(svc, rid)
    assert str(port) in line["error_detail"]  # the operator still sees what failed


def test_mysql_login_failure_names_the_datastore_not_the_user(start_service, mariadb):
    env = env_of(mariadb)
    env["MYSQL_PASSWORD"] = "wrong"
    svc = start_service("sql-svc", env=env)
    rid = str(uuid.uuid4())
    err = fail(svc, "/menu.v1.ProductAvailabilityService/GetProductAvailability",
               pa.GetProductAvailabilityRequest(store_code="R001", channel=cm.CHANNEL_KIOSK,
                                                product_code="P1000"),
               pa.GetProductAvailabilityResponse, rid)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert "MySQL" in err.details() and rid in err.details()
    assert not INFRA.search(err.details()), err.details()
    _, info, _ = rich_status(err)
    assert info.reason == "DATASTORE_UNAVAILABLE" and info.metadata["datastore"] == "mysql"
    line = log_line_of(svc, rid)
    assert "Access denied" in line["error_detail"]


def test_gateway_backend_down_names_the_backend_not_its_address(start_service):
    dead = f"dns:///127.0.0.1:{free_port()}"
    gw = start_service("gateway", env={"DYNAMO_SVC_TARGET": dead, "SQL_SVC_TARGET": dead})
    rid = str(uuid.uuid4())
    err = fail(gw, "/menu.v1.MenuService/GetStoreMenu",
               menu_pb2.GetStoreMenuRequest(store_code="R001", channel=cm.CHANNEL_KIOSK),
               menu_pb2.GetStoreMenuResponse, rid)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert rid in err.details()
    assert not INFRA.search(err.details()), err.details()
    _, info, _ = rich_status(err)
    assert info.reason == "BACKEND_UNAVAILABLE" and "backend" in info.metadata
