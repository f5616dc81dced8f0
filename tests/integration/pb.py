"""Message classes for any type in the binaries' descriptor set (health, reflection, menu.v1),
built at run time from build/gen/descriptor_set.pb with protobuf's descriptor pool."""

import os
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_ROOT = Path(__file__).resolve().parents[2]
_SET = Path(os.environ.get("MENU_BUILD_DIR", _ROOT / "build")) / "gen" / "descriptor_set.pb"
_pool = descriptor_pool.DescriptorPool()
_factory = message_factory.MessageFactory(_pool)
_fds = descriptor_pb2.FileDescriptorSet.FromString(_SET.read_bytes())
for _f in _fds.file:
    _pool.Add(_f)


def message(full_name):
    """The class of a message, e.g. message("grpc.health.v1.HealthCheckRequest")."""
    return _factory.GetPrototype(_pool.FindMessageTypeByName(full_name))


def file_names():
    return [f.name for f in _fds.file]
