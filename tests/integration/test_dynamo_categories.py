"""CategoryService on the real dynamo-svc binary against a real dynalite, over gRPC: CRUD,
ordering by display_order then id, Relay paging both ways over 300+ items, cursor abuse,
optimistic concurrency, ALREADY_EXISTS, validation naming the field. Each module uses its own
tables, so nothing here depends on what other tests wrote to the shared dynalite."""

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf import field_mask_pb2

from conftest import unary
from menu.v1 import category_pb2 as cat  # noqa: E402
from menu.v1 import common_pb2  # noqa: E402
from menu.v1 import ghost_swap_pb2 as gs  # noqa: E402

SVC = "/menu.v1.CategoryService/"
KIOSK, WEB, APP = common_pb2.CHANNEL_KIOSK, common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_APP
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def call(channel, method, req, resp_cls, timeout=10):
    return unary(channel, SVC + method, req, resp_cls, timeout=timeout)[0]


def error_of(channel, method, req, resp_cls, timeout=10):
    with pytest.raises(grpc.RpcError) as e:
        call(channel, method, req, resp_cls, timeout)
    return e.value


def create(channel, channel_id, cid, name, order):
    req = cat.CreateCategoryRequest(
        category=cat.Category(id=cid, channel=channel_id, name=name, display_order=order))
    return call(channel, "CreateCategory", req, cat.CreateCategoryResponse).category


def get(channel, channel_id, cid):
    return call(channel, "GetCategory", cat.GetCategoryRequest(channel=channel_id, id=cid),
                cat.GetCategoryResponse).category


def list_page(channel, channel_id, **page):
    return call(channel, "ListCategories",
                cat.ListCategoriesRequest(channel=channel_id, page=common_pb2.PageRequest(**page)),
                cat.ListCategoriesResponse)


def walk_forward(channel, channel_id, size):
    ids, after, pages = [], "", 0
    while True:
        r = list_page(channel, channel_id, first=size, after=after)
        pages += 1
        assert len(r.edges) <= size
        ids += [e.node.id for e in r.edges]
        assert r.page_info.has_previous_page == (after != "")
        if not r.page_info.has_next_page:
            return ids, pages
        assert len(r.edges) == size
        assert r.page_info.end_cursor == r.edges[-1].cursor
        after = r.page_info.end_cursor


def walk_backward(channel, channel_id, size):
    ids, before = [], ""
    while True:
        r = list_page(channel, channel_id, last=size, before=before)
        assert len(r.edges) <= size
        ids = [e.node.id for e in r.edges] + ids
        assert r.page_info.has_next_page == (before != "")
        if not r.page_info.has_previous_page:
            return ids
        assert r.page_info.start_cursor == r.edges[0].cursor
        before = r.page_info.start_cursor


# ---- CRUD ---------------------------------------------------------------------------------


def test_crud_round_trip(dynamo_ch):
    c = create(dynamo_ch, KIOSK, "crud-1", "Burgers", 10)
    assert (c.id, c.channel, c.name, c.display_order, c.version) == ("crud-1", KIOSK, "Burgers", 10, 1)
    assert c.create_time.seconds > 0 and c.create_time == c.update_time
    got = get(dynamo_ch, KIOSK, "crud-1")
    assert got == c
    # Same id on another channel is another category.
    assert get_status(dynamo_ch, WEB, "crud-1") == grpc.StatusCode.NOT_FOUND

    up = call(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="crud-1", channel=KIOSK, name="Big burgers", display_order=5, version=1)),
        cat.UpdateCategoryResponse).category
    assert (up.name, up.display_order, up.version) == ("Big burgers", 5, 2)
    assert up.create_time == c.create_time
    assert (up.update_time.seconds, up.update_time.nanos) > (c.update_time.seconds, c.update_time.nanos)
    assert get(dynamo_ch, KIOSK, "crud-1") == up

    call(dynamo_ch, "DeleteCategory",
         cat.DeleteCategoryRequest(channel=KIOSK, id="crud-1", version=2),
         cat.DeleteCategoryResponse)
    assert get_status(dynamo_ch, KIOSK, "crud-1") == grpc.StatusCode.NOT_FOUND
    e = error_of(dynamo_ch, "DeleteCategory", cat.DeleteCategoryRequest(channel=KIOSK, id="crud-1",
                                                                 version=2),
                 cat.DeleteCategoryResponse)
    assert e.code() == grpc.StatusCode.NOT_FOUND


def get_status(channel, channel_id, cid):
    try:
        get(channel, channel_id, cid)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def test_create_without_id_assigns_a_uuid(dynamo_ch):
    c = create(dynamo_ch, APP, "", "Generated", 1)
    assert uuid.UUID(c.id).version == 4
    assert get(dynamo_ch, APP, c.id).name == "Generated"


def test_create_existing_id_is_already_exists_and_changes_nothing(dynamo_ch):
    create(dynamo_ch, KIOSK, "dup-1", "Original", 1)
    e = error_of(dynamo_ch, "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        id="dup-1", channel=KIOSK, name="Intruder", display_order=2)), cat.CreateCategoryResponse)
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "dup-1" in e.details()
    c = get(dynamo_ch, KIOSK, "dup-1")
    assert (c.name, c.display_order, c.version) == ("Original", 1, 1)


def test_stale_version_is_aborted_and_changes_nothing(dynamo_ch):
    create(dynamo_ch, KIOSK, "stale-1", "First", 1)
    call(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="stale-1", channel=KIOSK, name="Second", display_order=1, version=1)),
        cat.UpdateCategoryResponse)
    e = error_of(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="stale-1", channel=KIOSK, name="Lost update", display_order=9, version=1)),
        cat.UpdateCategoryResponse)
    assert e.code() == grpc.StatusCode.ABORTED
    assert "version" in e.details()
    e = error_of(dynamo_ch, "DeleteCategory", cat.DeleteCategoryRequest(channel=KIOSK, id="stale-1",
                                                                 version=1),
                 cat.DeleteCategoryResponse)
    assert e.code() == grpc.StatusCode.ABORTED
    c = get(dynamo_ch, KIOSK, "stale-1")
    assert (c.name, c.display_order, c.version) == ("Second", 1, 2)


def test_update_of_missing_category_is_not_found(dynamo_ch):
    e = error_of(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="ghost", channel=KIOSK, name="x", display_order=1, version=1)),
        cat.UpdateCategoryResponse)
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_concurrent_updates_with_the_same_version_exactly_one_wins(dynamo_ch):
    create(dynamo_ch, WEB, "race-1", "Start", 0)
    for rnd in range(3):
        current = get(dynamo_ch, WEB, "race-1").version
        barrier = threading.Barrier(8)

        def attempt(i):
            barrier.wait()
            try:
                r = call(dynamo_ch, "UpdateCategory",
                         cat.UpdateCategoryRequest(category=cat.Category(
                             id="race-1", channel=WEB, name=f"writer {rnd}-{i}", display_order=i,
                             version=current)), cat.UpdateCategoryResponse)
                return ("OK", r.category)
            except grpc.RpcError as e:
                return (e.code(), None)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(attempt, range(8)))
        winners = [c for code, c in results if code == "OK"]
        assert len(winners) == 1, results
        assert all(code == grpc.StatusCode.ABORTED for code, _ in results if code != "OK")
        final = get(dynamo_ch, WEB, "race-1")
        assert final.version == current + 1
        assert final.name == winners[0].name


# ---- order and paging -----------------------------------------------------------------------


def test_list_orders_by_display_order_then_id_and_moves_on_update(dynamo_ch):
    for cid, order in [("b", 2), ("a", 2), ("c", 1), ("neg", -5), ("z", 1000000)]:
        create(dynamo_ch, common_pb2.CHANNEL_DRIVE_THRU, cid, cid.upper(), order)
    r = list_page(dynamo_ch, common_pb2.CHANNEL_DRIVE_THRU, first=10)
    assert [e.node.id for e in r.edges] == ["neg", "c", "a", "b", "z"]
    assert not r.page_info.has_next_page and not r.page_info.has_previous_page
    c = get(dynamo_ch, common_pb2.CHANNEL_DRIVE_THRU, "z")
    call(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="z", channel=common_pb2.CHANNEL_DRIVE_THRU, name="Z", display_order=-10,
        version=c.version)), cat.UpdateCategoryResponse)
    r = list_page(dynamo_ch, common_pb2.CHANNEL_DRIVE_THRU, first=10)
    assert [e.node.id for e in r.edges] == ["z", "neg", "c", "a", "b"]


@pytest.fixture(scope="module")
def big_channel(dynamo_ch):
    """320 categories on DELIVERY with colliding and negative display orders."""
    rng = random.Random(7)
    plan = [(f"c{rng.randrange(10**6):06d}-{i:03d}", rng.randrange(-20, 40)) for i in range(320)]

    def make(item):
        cid, order = item
        create(dynamo_ch, common_pb2.CHANNEL_DELIVERY, cid, f"Category {cid}", order)
        return (order, cid)

    with ThreadPoolExecutor(16) as pool:
        expected = list(pool.map(make, plan))
    # display_order, then id by its bytes (DynamoDB compares strings as UTF-8 bytes)
    return [cid for _, cid in sorted(expected, key=lambda t: (t[0], t[1].encode()))]


@pytest.mark.parametrize("size", [128, 37, 16])
def test_forward_paging_returns_every_item_once_in_order(dynamo_ch, big_channel, size):
    ids, pages = walk_forward(dynamo_ch, common_pb2.CHANNEL_DELIVERY, size)
    assert ids == big_channel
    # limit+1 reads tell the last page apart, even when it is exactly full
    assert pages == -(-len(big_channel) // size)


@pytest.mark.parametrize("size", [128, 37])
def test_backward_paging_returns_the_same_items(dynamo_ch, big_channel, size):
    assert walk_backward(dynamo_ch, common_pb2.CHANNEL_DELIVERY, size) == big_channel


def test_page_size_defaults_and_is_capped(dynamo_ch, big_channel):
    assert len(list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY).edges) == 16
    r = list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY, first=1000)
    assert len(r.edges) == 128 and r.page_info.has_next_page
    r = list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY, last=5)
    assert [e.node.id for e in r.edges] == big_channel[-5:]
    assert r.page_info.has_previous_page and not r.page_info.has_next_page


def test_paging_switches_direction_with_the_same_cursors(dynamo_ch, big_channel):
    r = list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY, first=50)
    mid = r.edges[30].cursor
    nxt = list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY, first=10, after=mid)
    prv = list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY, last=10, before=mid)
    assert [e.node.id for e in nxt.edges] == big_channel[31:41]
    assert [e.node.id for e in prv.edges] == big_channel[20:30]


def test_cursor_abuse_is_invalid_argument(dynamo_ch, big_channel):
    r = list_page(dynamo_ch, common_pb2.CHANNEL_DELIVERY, first=3)
    good = r.page_info.end_cursor
    # From another channel: the same bytes do not verify for KIOSK.
    e = error_of(dynamo_ch, "ListCategories", cat.ListCategoriesRequest(
        channel=KIOSK, page=common_pb2.PageRequest(first=3, after=good)), cat.ListCategoriesResponse)
    assert e.code() == INVALID and "page.after" in e.details()
    # Tampered: flip one character in the middle, and truncated.
    i = len(good) // 2
    bad = good[:i] + ("A" if good[i] != "A" else "B") + good[i + 1:]
    for c in (bad, good[:-3], "not-a-cursor!", "A" * 2000):
        e = error_of(dynamo_ch, "ListCategories", cat.ListCategoriesRequest(
            channel=common_pb2.CHANNEL_DELIVERY, page=common_pb2.PageRequest(before=c)),
            cat.ListCategoriesResponse)
        assert e.code() == INVALID and "page.before" in e.details()
    # A ghost-swap cursor of the same channel is not a category cursor.
    swap = unary(dynamo_ch, "/menu.v1.GhostSwapService/PutGhostSwap", gs.PutGhostSwapRequest(
        ghost_swap=gs.GhostSwap(channel=common_pb2.CHANNEL_DELIVERY, product_code="P1000",
                                swap_product_code="P1001")), gs.PutGhostSwapResponse)
    assert swap
    sc = unary(dynamo_ch, "/menu.v1.GhostSwapService/ListGhostSwaps", gs.ListGhostSwapsRequest(
        channel=common_pb2.CHANNEL_DELIVERY), gs.ListGhostSwapsResponse)[0].edges[0].cursor
    e = error_of(dynamo_ch, "ListCategories", cat.ListCategoriesRequest(
        channel=common_pb2.CHANNEL_DELIVERY, page=common_pb2.PageRequest(after=sc)),
        cat.ListCategoriesResponse)
    assert e.code() == INVALID


@pytest.mark.parametrize("page,field", [
    (dict(first=3, last=3), "page.first"),
    (dict(first=-1), "page.first"),
    (dict(last=-2), "page.last"),
    (dict(after="x", before="y"), "page.after"),
])
def test_bad_page_arguments(dynamo_ch, page, field):
    e = error_of(dynamo_ch, "ListCategories", cat.ListCategoriesRequest(
        channel=KIOSK, page=common_pb2.PageRequest(**page)), cat.ListCategoriesResponse)
    assert e.code() == INVALID and field in e.details()


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("category,field", [
    (cat.Category(id="ok", channel=common_pb2.CHANNEL_UNSPECIFIED, name="n"), "category.channel"),
    (cat.Category(id="ok", channel=99, name="n"), "category.channel"),
    (cat.Category(id="has space", channel=KIOSK, name="n"), "category.id"),
    (cat.Category(id="-leading", channel=KIOSK, name="n"), "category.id"),
    (cat.Category(id="x" * 51, channel=KIOSK, name="n"), "category.id"),
    (cat.Category(id="ok", channel=KIOSK, name=""), "category.name"),
    (cat.Category(id="ok", channel=KIOSK, name="   "), "category.name"),
    (cat.Category(id="ok", channel=KIOSK, name="é" * 201), "category.name"),
    (cat.Category(id="ok", channel=KIOSK, name="tab\there"), "category.name"),
])
def test_create_validation_names_the_field(dynamo_ch, category, field):
    e = error_of(dynamo_ch, "CreateCategory", cat.CreateCategoryRequest(category=category),
                 cat.CreateCategoryResponse)
    assert e.code() == INVALID
    assert e.details().startswith(field), e.details()


def test_name_limits_count_characters_not_bytes(dynamo_ch):
    c = create(dynamo_ch, APP, "utf8-200", "é" * 200, 1)  # 400 bytes, 200 characters
    assert c.name == "é" * 200


def test_invalid_utf8_name_is_invalid_argument(dynamo_ch):
    good = cat.CreateCategoryRequest(category=cat.Category(
        id="utf8bad", channel=KIOSK, name="ABCD", display_order=1)).SerializeToString()
    raw = good.replace(b"ABCD", b"AB\xff\xfe")
    fn = dynamo_ch.unary_unary(SVC + "CreateCategory", request_serializer=lambda b: b,
                        response_deserializer=cat.CreateCategoryResponse.FromString)
    with pytest.raises(grpc.RpcError) as e:
        fn(raw, timeout=10)
    assert e.value.code() == INVALID
    assert e.value.details() == "category.name: not valid UTF-8"


@pytest.mark.parametrize("method,req,resp,field", [
    ("GetCategory", cat.GetCategoryRequest(channel=KIOSK, id=""), cat.GetCategoryResponse, "id"),
    ("GetCategory", cat.GetCategoryRequest(id="x"), cat.GetCategoryResponse, "channel"),
    ("DeleteCategory", cat.DeleteCategoryRequest(channel=KIOSK, id="x"),
     cat.DeleteCategoryResponse, "version"),
    ("UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="x", channel=KIOSK, name="n")), cat.UpdateCategoryResponse, "category.version"),
    ("UpdateCategory", cat.UpdateCategoryRequest(), cat.UpdateCategoryResponse, "category"),
    ("ListCategories", cat.ListCategoriesRequest(), cat.ListCategoriesResponse, "channel"),
])
def test_other_validation(dynamo_ch, method, req, resp, field):
    e = error_of(dynamo_ch, method, req, resp)
    assert e.code() == INVALID
    assert e.details().startswith(field), e.details()


# ---- the category's products ----------------------------------------------------------------


def test_product_codes_are_kept_in_order_and_replaced_on_update(dynamo_ch):
    codes = ["P1018", "P1000", "P1013", "P1026"]  # not sorted: the menu shows this order
    c = call(dynamo_ch, "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        id="codes-1", channel=KIOSK, name="Combo", display_order=1, product_codes=codes)),
        cat.CreateCategoryResponse).category
    assert list(c.product_codes) == codes
    assert list(get(dynamo_ch, KIOSK, "codes-1").product_codes) == codes
    listed = [e.node for e in walk_all(dynamo_ch, KIOSK) if e.node.id == "codes-1"]
    assert list(listed[0].product_codes) == codes

    up = call(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="codes-1", channel=KIOSK, name="Combo", display_order=1, version=1,
        product_codes=["P1013", "P1000"])), cat.UpdateCategoryResponse).category
    assert (list(up.product_codes), up.version) == (["P1013", "P1000"], 2)
    assert list(get(dynamo_ch, KIOSK, "codes-1").product_codes) == ["P1013", "P1000"]
    # An update without codes keeps them (no mask: only the fields set change, AIP-134)...
    up = call(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id="codes-1", channel=KIOSK, name="Combo", display_order=1, version=2)),
        cat.UpdateCategoryResponse).category
    assert list(get(dynamo_ch, KIOSK, "codes-1").product_codes) == ["P1013", "P1000"]
    # ...and a mask naming product_codes empties the category.
    call(dynamo_ch, "UpdateCategory", cat.UpdateCategoryRequest(
        category=cat.Category(id="codes-1", channel=KIOSK, version=3),
        update_mask=field_mask_pb2.FieldMask(paths=["product_codes"])),
        cat.UpdateCategoryResponse)
    assert list(get(dynamo_ch, KIOSK, "codes-1").product_codes) == []


def walk_all(channel, channel_id):
    edges, after = [], ""
    while True:
        r = list_page(channel, channel_id, first=128, after=after)
        edges += list(r.edges)
        if not r.page_info.has_next_page:
            return edges
        after = r.page_info.end_cursor


def test_product_codes_limit_is_200(dynamo_ch):
    codes = ["P%04d" % i for i in range(200)]
    c = create_with_codes(dynamo_ch, "codes-200", codes)
    assert len(c.product_codes) == 200
    e = error_of(dynamo_ch, "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        id="codes-201", channel=KIOSK, name="Too many", product_codes=codes + ["P9999"])),
        cat.CreateCategoryResponse)
    assert e.code() == INVALID
    assert e.details().startswith("category.product_codes: at most 200"), e.details()
    assert get_status(dynamo_ch, KIOSK, "codes-201") == grpc.StatusCode.NOT_FOUND


def create_with_codes(channel, cid, codes):
    return call(channel, "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        id=cid, channel=KIOSK, name="Codes", display_order=1, product_codes=codes)),
        cat.CreateCategoryResponse).category


@pytest.mark.parametrize("codes,field", [
    (["P1000", "bad code"], "category.product_codes[1]"),
    (["", "P1000"], "category.product_codes[0]"),
    (["P1000", "P1001", "P1000"], "category.product_codes[2]"),  # listed twice
    (["P1000", "x" * 51], "category.product_codes[1]"),
])
def test_bad_product_codes_name_the_index_and_write_nothing(dynamo_ch, codes, field):
    create_with_codes(dynamo_ch, "codes-bad", ["P1000"])
    for method, req, resp in [
        ("CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
            id="codes-bad-new", channel=KIOSK, name="n", product_codes=codes)),
         cat.CreateCategoryResponse),
        ("UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
            id="codes-bad", channel=KIOSK, name="n", version=1, product_codes=codes)),
         cat.UpdateCategoryResponse),
    ]:
        e = error_of(dynamo_ch, method, req, resp)
        assert e.code() == INVALID
        assert e.details().startswith(field), e.details()
    assert get_status(dynamo_ch, KIOSK, "codes-bad-new") == grpc.StatusCode.NOT_FOUND
    stored = get(dynamo_ch, KIOSK, "codes-bad")
    assert (list(stored.product_codes), stored.version) == (["P1000"], 1)
    call(dynamo_ch, "DeleteCategory",
         cat.DeleteCategoryRequest(channel=KIOSK, id="codes-bad", version=1),
         cat.DeleteCategoryResponse)
