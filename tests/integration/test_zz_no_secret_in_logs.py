"""No secret in any log line. Runs last (the name sorts last): it first drives the paths that
handle credentials with distinctive secrets of its own (a DynamoDB endpoint URL with user info,
reachable and unreachable; a MySQL password the server refuses), then reads every log file the
whole test run wrote under .local/test and looks for each configured secret."""


import grpc

from conftest import (AWS_SECRET, AWS_SESSION_TOKEN, CURSOR_KEY, DB_PASSWORD, SESSION_START,
                      STATE, dynamo_tables_env, env_of, free_port, status_of, unary)
from menu.v1 import category_pb2 as cat, common_pb2 as cm, product_availability_pb2 as pa

ENDPOINT_USER = "it-endpoint-user-41c2"
ENDPOINT_PASS = "it-endpoint-pass-3e1f9a"
WRONG_DB_PASSWORD = "it-wrong-db-pw-6d0b44"
OWN_CURSOR_KEY = "it-own-cursor-key-9f8e7d6c5b4a3210"

SECRETS = [CURSOR_KEY, DB_PASSWORD, AWS_SECRET, AWS_SESSION_TOKEN, ENDPOINT_PASS,
           WRONG_DB_PASSWORD, OWN_CURSOR_KEY]



def test_credentials_paths_then_no_secret_in_any_log_line(dynalite, mariadb, start_service):
    host_port = dynalite["DYNAMODB_ENDPOINT"].split("://", 1)[1]
    env = {**env_of(dynalite), **dynamo_tables_env(), "CURSOR_KEY": OWN_CURSOR_KEY,
           "DYNAMODB_ENDPOINT": f"http://{ENDPOINT_USER}:{ENDPOINT_PASS}@{host_port}"}
    dyn = start_service("dynamo-svc", env=env)
    with dyn.channel() as ch:
        unary(ch, "/menu.v1.CategoryService/ListCategories",
              cat.ListCategoriesRequest(channel=cm.CHANNEL_KIOSK), cat.ListCategoriesResponse,
              timeout=10)
    assert any("***@" in l.get("endpoint", "") for l in dyn.log_lines())

    # Unreachable endpoint with user info: start-up errors name the endpoint, redacted.
    dead = start_service("dynamo-svc", env={
        **env, "DYNAMODB_ENDPOINT": f"http://{ENDPOINT_USER}:{ENDPOINT_PASS}@127.0.0.1:{free_port()}",
        "DYNAMODB_STARTUP_TIMEOUT_MS": "1500"}, wait=False)
    dead.proc.wait(20)
    assert "***@127.0.0.1" in dead.log_text()

    # A MySQL password the server refuses: calls fail UNAVAILABLE, logs say why without it.
    # (a refused password fails calls, not the start: the service is SERVING)
    sql = start_service("sql-svc", env={**env_of(mariadb), "MYSQL_PASSWORD": WRONG_DB_PASSWORD})
    with grpc.insecure_channel(sql.addr) as ch:
        code = status_of(lambda: unary(
            ch, "/menu.v1.ProductAvailabilityService/ListProductAvailabilities",
            pa.ListProductAvailabilitiesRequest(store_code="R001", channel=cm.CHANNEL_KIOSK),
            pa.ListProductAvailabilitiesResponse, timeout=3))
        assert code == grpc.StatusCode.UNAVAILABLE
    for svc in (dyn, sql):
        svc.stop()

    logs = [p for p in STATE.rglob("*.log") if p.stat().st_mtime >= SESSION_START]
    assert logs, "no log written during this run"
    lines = 0
    for path in logs:
        text = path.read_text(errors="replace")
        lines += text.count("\n")
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} found in {path}"
    assert lines > 20
