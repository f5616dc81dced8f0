"""MenuService.WatchStoreMenu on the real stack (MariaDB and dynalite with the demo data, the
real binaries): the first message is the store's current menu with an etag, and nothing when
the caller's if_none_match is that etag; bad fields are INVALID_ARGUMENT before any message;
the per-connection watcher limit answers RESOURCE_EXHAUSTED; a gateway shutdown ends the
streams with UNAVAILABLE; a cancelled watcher frees its slot (menu_watchers goes back down).
Changes reaching watchers: test_gateway_watch_fleet.py."""

import queue
import signal
import threading
import time

import grpc
import pytest

from test_gateway_menu import (KIOSK, STORE, dyn_env, gateway_env, metric_value,  # noqa: F401
                               metrics_text, sql_env, up)

from menu.v1 import common_pb2, menu_pb2  # noqa: E402

WATCH = "/menu.v1.MenuService/WatchStoreMenu"
GET = "/menu.v1.MenuService/GetStoreMenu"


class Watcher:
    """One WatchStoreMenu stream read by a thread: messages and the final status in a queue."""

    def __init__(self, ch, timeout=60, metadata=None, **fields):
        fields.setdefault("store_code", STORE)
        fields.setdefault("channel", KIOSK)
        fn = ch.unary_stream(WATCH, request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=menu_pb2.GetStoreMenuResponse.FromString)
        self.call = fn(menu_pb2.WatchStoreMenuRequest(**fields), timeout=timeout,
                       metadata=metadata)
        self.q = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for m in self.call:
                self.q.put(m)
            self.q.put(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            self.q.put(e.code())

    def next(self, timeout=10):
        """The next message or final status code; None when nothing came in time."""
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None

    def version(self, timeout=10):
        """The pages of the next menu version (until has_next_page is false)."""
        pages = []
        while True:
            m = self.next(timeout)
            assert isinstance(m, menu_pb2.GetStoreMenuResponse), f"got {m} instead of a page"
            pages.append(m)
            if not m.page_info.has_next_page:
                return pages


@pytest.fixture
def gw(start_service, sql_env, dyn_env):  # noqa: F811
    dyn = up(start_service, "dynamo-svc", dyn_env)
    sql = up(start_service, "sql-svc", sql_env)
    return up(start_service, "gateway", gateway_env(
        f"dns:///{dyn.addr}", f"dns:///{sql.addr}", MENU_MAX_WATCHERS_PER_CONNECTION="3",
        GRPC_MAX_CONCURRENT_STREAMS="50"))


def test_first_message_is_the_menu_and_if_none_match_skips_it(gw):
    with gw.channel() as ch:
        w = Watcher(ch)
        pages = w.version()
        assert pages[0].etag, "a version carries an etag"
        assert all(p.etag == pages[0].etag for p in pages)
        names = [c.name for p in pages for c in p.categories]
        assert names, "the demo store's kiosk menu has categories"
        # GetStoreMenu answers the same menu
        get = ch.unary_unary(GET, request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=menu_pb2.GetStoreMenuResponse.FromString)
        menu = get(menu_pb2.GetStoreMenuRequest(store_code=STORE, channel=KIOSK), timeout=10)
        assert [c.name for c in menu.categories] == names
        # the gateway's first answer may come before its revision poller has a first value,
        # and the etag changes when it has: the etag a kiosk holds is the last one sent
        while (more := w.next(timeout=1.0)) is not None:
            pages = [more] + ([] if not more.page_info.has_next_page else w.version())
        # a kiosk reconnecting with the etag it holds gets nothing until the menu changes
        w2 = Watcher(ch, if_none_match=pages[0].etag)
        assert w2.next(timeout=1.5) is None
        # a stale etag gets the menu at once
        w3 = Watcher(ch, if_none_match="stale")
        assert w3.version()[0].etag == pages[0].etag
        for x in (w, w2, w3):
            x.call.cancel()
        # the group is gone; a new one composes again (from the cache when it is live: a kept
        # answer decodes to the same menu)
        assert groups_eventually(gw, 0)
        again = Watcher(ch)
        assert names_of(again.version()) == names
        again.call.cancel()


def test_bad_fields_are_invalid_argument_naming_the_field(gw):
    with gw.channel() as ch:
        for fields, field in (({"store_code": ""}, "store_code"),
                              ({"store_code": "no spaces"}, "store_code"),
                              ({"channel": common_pb2.CHANNEL_UNSPECIFIED}, "channel")):
            w = Watcher(ch, **fields)
            code = w.next()
            assert code == grpc.StatusCode.INVALID_ARGUMENT, fields
            assert field in w.call.details()
    assert metric_value(metrics_text(gw), "menu_watch_rejected_total",
                        reason="invalid_argument") == 3


def test_connection_limit_then_cancel_frees_the_slot(gw):
    with gw.channel() as ch:
        ws = [Watcher(ch) for _ in range(3)]
        for w in ws:
            w.version()
        extra = Watcher(ch)
        assert extra.next() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "MENU_MAX_WATCHERS_PER_CONNECTION" in extra.call.details()
        # another connection is not limited by this one's watchers
        with grpc.insecure_channel(gw.addr, options=[("grpc.use_local_subchannel_pool", 1)]) \
                as other:
            o = Watcher(other)
            assert o.version()
            o.call.cancel()
        assert watchers_eventually(gw, 3)
        ws[0].call.cancel()
        assert watchers_eventually(gw, 2)
        again = Watcher(ch)
        assert again.version(), "the cancelled watcher's slot is free again"
        for w in ws[1:] + [again]:
            w.call.cancel()
        assert watchers_eventually(gw, 0)


def watchers_eventually(gw, n, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gauge(gw, "menu_watchers") == n:
            return True
        time.sleep(0.05)
    return False


def groups_eventually(gw, n, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gauge(gw, "menu_watch_groups") == n:
            return True
        time.sleep(0.05)
    return False


def names_of(pages):
    return [c.name for p in pages for c in p.categories]


def _gauge(gw, name):
    for line in metrics_text(gw).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_shutdown_ends_streams_with_unavailable(gw):
    with gw.channel() as ch:
        w = Watcher(ch)
        w.version()
        t0 = time.monotonic()
        gw.send_signal(signal.SIGTERM)
        assert w.next(timeout=10) == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - t0 < 2, "streams end at once, not after the grace period"
        assert "reconnect" in w.call.details()
