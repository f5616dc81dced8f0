"""(No tests here.) Helpers for the sql-svc integration tests: a private database per test module on the
session MariaDB (the menu user may create `menu_%` databases), SQL through the real `mariadb`
client, the sql-svc subcommands, and typed calls to ProductAvailabilityService."""

import subprocess
import time

from conftest import BIN, env_of, unary  # noqa: F401  (conftest is on sys.path under pytest)

from google.protobuf import timestamp_pb2
from menu.v1 import common_pb2, product_availability_pb2 as pa

SERVICE = "/menu.v1.ProductAvailabilityService/"


def db_env(mariadb, database):
    env = env_of(mariadb)
    env["MYSQL_DATABASE"] = database
    return env


def sql(env, text, database=True):
    """Runs SQL with the real client; returns stdout rows as lists of strings."""
    args = ["mariadb", "--no-defaults", "-h", env["MYSQL_HOST"], "-P", env["MYSQL_PORT"],
            "-u", env["MYSQL_USER"], f"-p{env['MYSQL_PASSWORD']}", "--batch", "--skip-column-names"]
    if database:
        args.append(env["MYSQL_DATABASE"])
    out = subprocess.run(args, input=text, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"SQL failed: {out.stderr}\n{text[:500]}")
    return [line.split("\t") for line in out.stdout.splitlines()]


def fresh_database(env):
    sql(env, f"DROP DATABASE IF EXISTS {env['MYSQL_DATABASE']};"
             f"CREATE DATABASE {env['MYSQL_DATABASE']} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;",
        database=False)


def subcommand(env, *args, timeout=180):
    """Runs `sql-svc <args>` with env; returns the CompletedProcess."""
    import os
    full = dict(os.environ)
    full.update(env)
    full["LOG_LEVEL"] = "info"
    return subprocess.run([str(BIN / "sql-svc"), *args], env=full, capture_output=True,
                          text=True, timeout=timeout)


def migrate(env):
    out = subcommand(env, "migrate")
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def demo_database(mariadb, database):
    """A private database on the session MariaDB, migrated and seeded with the demo data."""
    env = db_env(mariadb, database)
    fresh_database(env)
    migrate(env)
    out = subcommand(env, "seed-demo")
    assert out.returncode == 0, out.stdout + out.stderr
    return env


def ts(seconds, micros=0):
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=micros * 1000)


def call(svc, method, req, resp_cls, timeout=10, metadata=None):
    with svc.channel() as ch:
        resp, _ = unary(ch, SERVICE + method, req, resp_cls, timeout=timeout, metadata=metadata)
        return resp


def list_page(svc, store, channel, at=None, first=0, after="", last=0, before="", timeout=10):
    req = pa.ListProductAvailabilitiesRequest(
        store_code=store, channel=channel,
        page=common_pb2.PageRequest(first=first, after=after, last=last, before=before))
    if at is not None:
        req.at_time.CopyFrom(at)
    return call(svc, "ListProductAvailabilities", req, pa.ListProductAvailabilitiesResponse,
                timeout=timeout)


def list_all(svc, store, channel, at=None, page=128):
    """Every available item, walking forward; returns {code: node}."""
    out, after = {}, ""
    for _ in range(100):
        r = list_page(svc, store, channel, at=at, first=page, after=after)
        for e in r.edges:
            assert e.node.product_code not in out
            out[e.node.product_code] = e.node
        if not r.page_info.has_next_page:
            return out
        after = r.page_info.end_cursor
    raise AssertionError("too many pages")


def get_one(svc, store, channel, product, at=None):
    req = pa.GetProductAvailabilityRequest(store_code=store, channel=channel, product_code=product)
    if at is not None:
        req.at_time.CopyFrom(at)
    return call(svc, "GetProductAvailability", req, pa.GetProductAvailabilityResponse)


def batch_get(svc, store, channel, codes, at=None):
    req = pa.BatchGetProductAvailabilitiesRequest(store_code=store, channel=channel,
                                                  product_codes=codes)
    if at is not None:
        req.at_time.CopyFrom(at)
    return call(svc, "BatchGetProductAvailabilities", req,
                pa.BatchGetProductAvailabilitiesResponse)


def wait_until(pred, timeout=10.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False
