"""A small OTLP/HTTP trace receiver for the tests: accepts POST /v1/traces with an
application/x-protobuf ExportTraceServiceRequest, decodes it with the Python classes protoc
generates from the vendored opentelemetry-proto files (make build/py/.stamp), and keeps every
span with the service.name of its resource. fail() scripts refusals (e.g. 503, then 429 with
Retry-After) for the requests that carry a given trace; every request is in `attempts`."""

import threading
import time
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


class Span:
    """One received span: the protobuf Span plus its resource's service.name, hex ids and
    attributes as a dict."""

    def __init__(self, resource, span):
        self.resource = resource
        self.service = resource.get("service.name")
        self.pb = span
        self.name = span.name
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_id = span.parent_span_id.hex()
        self.kind = span.kind
        self.attrs = {kv.key: any_value(kv.value) for kv in span.attributes}
        self.events = [(e.name, {kv.key: any_value(kv.value) for kv in e.attributes})
                       for e in span.events]

    def __repr__(self):
        return f"<{self.service} {self.name} {self.span_id} parent={self.parent_id}>"


def any_value(v):
    which = v.WhichOneof("value")
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    return getattr(v, which) if which else None


Attempt = namedtuple("Attempt", "at status trace_ids span_ids")


class OtlpReceiver:
    def __init__(self):
        self.spans = []
        self.requests = []  # (path, content-type, headers) of the accepted ones
        self.attempts = []  # Attempt: every request, accepted or not
        self.failures = {}  # trace id -> [(status, headers)] for its next requests
        self.lock = threading.RLock()  # predicates of wait_for may call trace()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                got = []
                for rs in req.resource_spans:
                    res = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        got.extend(Span(res, s) for s in ss.spans)
                traces = {s.trace_id for s in got}
                with receiver.lock:
                    status, extra = 200, {}
                    for t in sorted(traces & receiver.failures.keys()):
                        if receiver.failures[t]:
                            status, extra = receiver.failures[t].pop(0)
                            break
                    receiver.attempts.append(Attempt(time.monotonic(), status, traces,
                                                     [s.span_id for s in got]))
                    if status == 200:
                        receiver.requests.append((self.path, self.headers.get("Content-Type"),
                                                  dict(self.headers)))
                        receiver.spans.extend(got)
                if status != 200:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail(self, trace_id, *answers):
        """The next requests carrying a span of trace_id get these (status, headers) answers,
        one each, instead of 200."""
        with self.lock:
            self.failures[trace_id] = list(answers)

    def attempts_of(self, trace_id):
        with self.lock:
            return [a for a in self.attempts if trace_id in a.trace_ids]

    def trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def wait_for(self, predicate, timeout=10.0):
        """Polls until predicate(spans) is truthy; returns its value (or the last, falsy)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = predicate(list(self.spans))
            if got or time.monotonic() >= deadline:
                return got
            time.sleep(0.05)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
