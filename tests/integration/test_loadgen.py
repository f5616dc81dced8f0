"""build/bin/loadgen (the load generator of `make bench`) against the real stack, in short
bounded runs: the JSON it prints counts every call once under the status the server gave, an
error is counted as an error (never as a fast success), open loop keeps its schedule, list
mixes follow the cursors the server returns, and it refuses unbounded runs and non-loopback
targets."""

import json
import os
import subprocess

import pytest

from conftest import BIN, CURSOR_KEY, dynamo_tables_env, env_of

from test_gateway_menu import gateway_env, up

LOADGEN = str(BIN / "loadgen")


@pytest.fixture(scope="module")
def demo_env(mariadb, dynalite):
    """Demo data in both datastores, loaded by the services' own seed-demo subcommands."""
    svc_env = {**env_of(mariadb), **env_of(dynalite), **dynamo_tables_env()}
    env = {**os.environ, **svc_env, "CURSOR_KEY": CURSOR_KEY}
    for cmd in (["sql-svc", "migrate"], ["sql-svc", "seed-demo"], ["dynamo-svc", "seed-demo"]):
        r = subprocess.run([str(BIN / cmd[0]), cmd[1]], env=env, capture_output=True, timeout=180)
        assert r.returncode == 0, f"{cmd}: {r.stdout!r} {r.stderr!r}"
    return svc_env


@pytest.fixture
def stack(start_service, demo_env):
    dyn = up(start_service, "dynamo-svc", demo_env)
    sql = up(start_service, "sql-svc", demo_env)
    gw = up(start_service, "gateway", gateway_env(f"dns:///{dyn.addr}", f"dns:///{sql.addr}"))
    return gw


def loadgen(*args, expect_rc=0):
    r = subprocess.run([LOADGEN, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert r.returncode == expect_rc, r.stderr
    return json.loads(r.stdout) if expect_rc == 0 else r.stderr


def assert_ordered(lat):
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
    assert lat["p50"] > 0


def test_health_checks_are_all_counted(stack):
    out = loadgen("--target", stack.addr, "--method", "health", "--concurrency", 4,
                  "--count", 300, "--duration", 30)
    assert out["mode"] == "closed"
    assert out["method"] == "/grpc.health.v1.Health/Check"
    assert (out["calls"], out["ok"], out["errors"]) == (300, 300, 0)
    assert out["codes"] == {"OK": 300}
    assert out["latency_us"]["n"] == 300
    assert_ordered(out["latency_us"])
    assert out["throughput_rps"] > 0


def test_an_error_is_counted_as_an_error(stack):
    # Health/Check of a service nobody registered: NOT_FOUND on every call.
    out = loadgen("--target", stack.addr, "--method", "health", "--health-service",
                  "no.such.Service", "--concurrency", 2, "--count", 50, "--duration", 30)
    assert (out["calls"], out["ok"], out["errors"]) == (50, 0, 50)
    assert out["codes"] == {"NOT_FOUND": 50}
    assert out["ok_latency_us"]["n"] == 0
    assert out["error_latency_us"]["NOT_FOUND"]["n"] == 50
    assert out["ok_rps"] == 0


def test_store_menu_mix_follows_the_server_cursors(stack):
    # Demo stores R001..R003 on KIOSK, pages of 5: most answers have a next page, and a call
    # that sends back a cursor the server did not issue would fail with INVALID_ARGUMENT.
    out = loadgen("--target", stack.addr, "--method", "store-menu", "--concurrency", 2,
                  "--count", 30, "--duration", 60, "--store-prefix", "R", "--store-digits", 3,
                  "--stores", 3, "--channel", 1, "--page", 5, "--follow", 0.8)
    assert out["codes"] == {"OK": 30}, out["codes"]
    assert out["mix"]["followed_pages"] > 0
    assert out["mix"]["first_pages"] + out["mix"]["followed_pages"] == 30


def test_unknown_stores_are_errors_not_fast_successes(stack):
    out = loadgen("--target", stack.addr, "--method", "store-menu", "--concurrency", 2,
                  "--count", 20, "--duration", 60, "--store-prefix", "NOPE", "--stores", 5)
    assert out["ok"] == 0 and out["errors"] == 20
    assert set(out["codes"]) == {"NOT_FOUND"}, out["codes"]


def test_open_loop_keeps_its_schedule(stack):
    # 100 calls at 200/s: the last one is scheduled 0.495 s after the first.
    out = loadgen("--target", stack.addr, "--method", "health", "--rate", 200, "--count", 100,
                  "--duration", 30)
    assert out["mode"] == "open" and out["rate"] == 200
    assert out["calls"] == 100 and out["codes"] == {"OK": 100}
    assert out["elapsed_s"] >= 0.49


def test_refuses_unbounded_runs_and_other_hosts():
    assert "bounded" in loadgen("--target", "127.0.0.1:1", "--method", "health",
                                "--concurrency", 1, expect_rc=2)
    assert "127.0.0.1" in loadgen("--target", "10.0.0.1:50051", "--method", "health",
                                  "--concurrency", 1, "--count", 1, expect_rc=2)
    assert "exactly one" in loadgen("--target", "127.0.0.1:1", "--method", "health",
                                    "--concurrency", 1, "--rate", 5, "--count", 1, expect_rc=2)
