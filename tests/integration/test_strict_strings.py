"""Strict strings in every RPC of every service, on the real binaries: the test walks the
descriptors of every method's request (recursively through sub-messages and repeated fields)
and sends, in each string field, a value with an embedded NUL ("burgers\\0x", which a C consumer
would silently cut to "burgers") and one with a control character (an ANSI escape). Each is
INVALID_ARGUMENT with a google.rpc.BadRequest naming that field's path, before any handler
(and so any datastore) sees it; likewise an int64 `version` at INT64_MAX. The services run
against datastores that do not exist: nothing may get past the runtime's check."""

import uuid

import grpc
import pytest
from google.protobuf import descriptor

import importlib

from conftest import BUILD, free_port, rich_status
from menu.v1 import ghost_swap_pb2

# Every file of menu.v1, so that a new service is checked without touching this test.
MODULES = tuple(importlib.import_module(f"menu.v1.{p.stem}")
                for p in sorted((BUILD / "py" / "menu" / "v1").glob("*_pb2.py")))
BAD = {"nul": "burgers\0x", "control": "A\x1b[31mred"}
INT64_MAX = 2**63 - 1
FD = descriptor.FieldDescriptor


def methods():
    for mod in MODULES:
        for svc in mod.DESCRIPTOR.services_by_name.values():
            for m in svc.methods:
                yield svc.full_name, m.name, m.input_type, m.output_type


def leaf_paths(msg_desc, prefix=(), seen=()):
    """Every (chain of field descriptors) ending in a string field or an int64 `version`."""
    for f in msg_desc.fields:
        chain = prefix + (f,)
        if f.type == FD.TYPE_STRING or (f.type == FD.TYPE_INT64 and f.name == "version"):
            yield chain
        elif f.type == FD.TYPE_MESSAGE and f.message_type.full_name not in seen and len(chain) < 4:
            yield from leaf_paths(f.message_type, chain, seen + (msg_desc.full_name,))


def build(req_cls, chain, value):
    """A request with `value` at the end of chain; returns (message, the path the server names)."""
    msg = req_cls()
    node, parts = msg, []
    for f in chain[:-1]:
        if f.label == FD.LABEL_REPEATED:
            node = getattr(node, f.name).add()
            parts.append(f"{f.name}[0]")
        else:
            node = getattr(node, f.name)
            parts.append(f.name)
    last = chain[-1]
    if last.label == FD.LABEL_REPEATED:
        getattr(node, last.name).append(value)
        parts.append(f"{last.name}[0]")
    else:
        setattr(node, last.name, value)
        parts.append(last.name)
    if not msg.ByteSize():  # e.g. a message field left empty would not be sent at all
        raise AssertionError(f"nothing set for {parts}")
    return msg, ".".join(parts)


@pytest.fixture(scope="module")
def binaries():
    """The three binaries with datastores and backends that are not there."""
    from conftest import Service
    dead = f"127.0.0.1:{free_port()}"
    svcs = [
        Service("dynamo-svc", env={"DYNAMODB_ENDPOINT": f"http://{dead}",
                                   "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                                   "DYNAMODB_CREATE_TABLES": "0", "DYNAMODB_MAX_ATTEMPTS": "1"}),
        Service("sql-svc", env={"MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": dead.split(":")[1],
                                "MYSQL_CONNECT_TIMEOUT_S": "1"}),
        Service("gateway", env={"DYNAMO_SVC_TARGET": f"dns:///{dead}",
                                "SQL_SVC_TARGET": f"dns:///{dead}"}),
    ]
    for s in svcs:
        s.wait_ready()
    chans = [s.channel() for s in svcs]
    yield chans
    for c in chans:
        c.close()
    for s in svcs:
        s.stop()


def call_anywhere(chans, path, req, resp_cls):
    """Calls the method on the binary that serves it; returns the RpcError (or fails)."""
    served = 0
    for ch in chans:
        fn = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_cls.FromString)
        try:
            fn(req, timeout=5, metadata=(("x-request-id", str(uuid.uuid4())),))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED and "unknown method" in e.details():
                continue
            return e
        served += 1
    raise AssertionError(f"{path}: no binary rejected it (served by {served})")


def test_every_string_field_of_every_rpc_rejects_nul_and_control_characters(binaries):
    from google.protobuf import symbol_database
    db = symbol_database.Default()
    checked = 0
    for service, name, in_desc, out_desc in methods():
        req_cls = db.GetSymbol(in_desc.full_name)
        resp_cls = db.GetSymbol(out_desc.full_name)
        path = f"/{service}/{name}"
        for chain in leaf_paths(in_desc):
            values = ({"max": INT64_MAX} if chain[-1].type == FD.TYPE_INT64 else BAD)
            for kind, value in values.items():
                req, field = build(req_cls, chain, value)
                err = call_anywhere(binaries, path, req, resp_cls)
                assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, field, kind,
                                                                         err.details())
                _, info, bad = rich_status(err)
                assert bad is not None, (path, field)
                named = [v.field for v in bad.field_violations]
                assert field in named, (path, kind, field, named)
                checked += 1
    assert checked > 50  # every service contributed (5 services, dozens of string fields)


def test_all_bad_fields_are_named_at_once(binaries):
    req = ghost_swap_pb2.BatchGetGhostSwapsRequest(product_codes=["P1", "P\x002", "P\x073"])
    err = call_anywhere(binaries, "/menu.v1.GhostSwapService/BatchGetGhostSwaps", req,
                        ghost_swap_pb2.BatchGetGhostSwapsResponse)
    _, _, bad = rich_status(err)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("product_codes[1]", "contains a NUL character"),
        ("product_codes[2]", "contains a control character")]
