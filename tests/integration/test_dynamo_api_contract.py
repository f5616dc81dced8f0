"""dynamo-svc's API contract on the real binary and a real dynalite: idempotent creates
(AIP-155: a repeated request_id returns the original and writes nothing), partial updates
(AIP-134: update_mask, absent = the fields set, "*" = replace all, unknown paths named), and
the cursor contract (a cursor is a position in its list, whatever the direction it came
from)."""

import uuid

import grpc
import pytest

from conftest import rich_status, unary
from google.protobuf import field_mask_pb2
from menu.v1 import category_pb2 as cat
from menu.v1 import common_pb2 as cm
from menu.v1 import ghost_swap_pb2 as gs
from menu.v1 import product_collection_pb2 as pc

CAT, GS, PC = ("/menu.v1.CategoryService/", "/menu.v1.GhostSwapService/",
               "/menu.v1.ProductCollectionService/")
WEB, APP = cm.CHANNEL_WEB, cm.CHANNEL_APP


def call(dynamo_ch, method, req, resp_cls):
    return unary(dynamo_ch, method, req, resp_cls, timeout=10)[0]


def error(dynamo_ch, method, req, resp_cls):
    with pytest.raises(grpc.RpcError) as e:
        call(dynamo_ch, method, req, resp_cls)
    return e.value


def categories(dynamo_ch, channel):
    page = call(dynamo_ch, CAT + "ListCategories", cat.ListCategoriesRequest(
        channel=channel, page=cm.PageRequest(first=128)), cat.ListCategoriesResponse)
    return [e.node for e in page.edges]


def test_repeated_request_id_returns_the_original_and_writes_nothing(dynamo_ch):
    rid = str(uuid.uuid4())
    req = cat.CreateCategoryRequest(request_id=rid, category=cat.Category(
        channel=WEB, name="Soups", display_order=15))
    first = call(dynamo_ch, CAT + "CreateCategory", req, cat.CreateCategoryResponse).category
    again = call(dynamo_ch, CAT + "CreateCategory", req, cat.CreateCategoryResponse).category
    assert again == first  # same server-generated id, same version and times
    assert [c.id for c in categories(dynamo_ch, WEB) if c.name == "Soups"] == [first.id]

    # The same key for another request is the caller's bug, not a repeat.
    other = cat.CreateCategoryRequest(request_id=rid, category=cat.Category(
        channel=WEB, name="Salads"))
    err = error(dynamo_ch, CAT + "CreateCategory", other, cat.CreateCategoryResponse)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in rich_status(err)[2].field_violations] == ["request_id"]
    assert not [c for c in categories(dynamo_ch, WEB) if c.name == "Salads"]
    err = error(dynamo_ch, CAT + "CreateCategory", cat.CreateCategoryRequest(
        request_id="not-a-uuid", category=cat.Category(channel=WEB, name="X")),
        cat.CreateCategoryResponse)
    assert [v.field for v in rich_status(err)[2].field_violations] == ["request_id"]

    # Without request_id, two creates are two categories (as before).
    plain = cat.CreateCategoryRequest(category=cat.Category(channel=WEB, name="Twice"))
    call(dynamo_ch, CAT + "CreateCategory", plain, cat.CreateCategoryResponse)
    call(dynamo_ch, CAT + "CreateCategory", plain, cat.CreateCategoryResponse)
    assert len([c for c in categories(dynamo_ch, WEB) if c.name == "Twice"]) == 2


def test_repeated_put_and_collection_create(dynamo_ch):
    rid = str(uuid.uuid4())
    put = gs.PutGhostSwapRequest(request_id=rid, ghost_swap=gs.GhostSwap(
        channel=APP, product_code="P1", swap_product_code="P2"))
    first = call(dynamo_ch, GS + "PutGhostSwap", put, gs.PutGhostSwapResponse).ghost_swap
    assert call(dynamo_ch, GS + "PutGhostSwap", put, gs.PutGhostSwapResponse).ghost_swap == first
    assert first.version == 1  # not ALREADY_EXISTS, not a second write

    rid = str(uuid.uuid4())
    create = pc.CreateProductCollectionRequest(request_id=rid, product_collection=pc.
                                               ProductCollection(channel=APP, name="Combo"))
    a = call(dynamo_ch, PC + "CreateProductCollection", create, pc.CreateProductCollectionResponse)
    b = call(dynamo_ch, PC + "CreateProductCollection", create, pc.CreateProductCollectionResponse)
    assert a == b


def test_update_mask_changes_only_the_masked_fields(dynamo_ch):
    c = call(dynamo_ch, CAT + "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        channel=APP, name="Burgers", display_order=42, product_codes=["P1", "P2"])),
        cat.CreateCategoryResponse).category

    def update(mask=None, **fields):
        req = cat.UpdateCategoryRequest(category=cat.Category(
            channel=APP, id=c.id, version=current().version, **fields))
        if mask is not None:
            req.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=mask))
        return call(dynamo_ch, CAT + "UpdateCategory", req, cat.UpdateCategoryResponse).category

    def current():
        return call(dynamo_ch, CAT + "GetCategory", cat.GetCategoryRequest(channel=APP, id=c.id),
                    cat.GetCategoryResponse).category

    # No mask: the fields set. A rename keeps display_order and the products.
    got = update(name="Big burgers")
    assert (got.name, got.display_order, list(got.product_codes)) == ("Big burgers", 42,
                                                                      ["P1", "P2"])
    # A mask can set a field to its default (which "fields set" cannot).
    got = update(mask=["display_order"], display_order=0, name="ignored")
    assert (got.name, got.display_order) == ("Big burgers", 0)
    got = update(mask=["product_codes"])
    assert list(got.product_codes) == [] and got.name == "Big burgers"
    # "*": a full replace.
    got = update(mask=["*"], name="Grill", product_codes=["P9"])
    assert (got.name, got.display_order, list(got.product_codes)) == ("Grill", 0, ["P9"])
    assert current() == got and got.version == 5

    # Unknown paths are named, every one; nothing changes.
    req = cat.UpdateCategoryRequest(category=cat.Category(channel=APP, id=c.id, name="X",
                                                          version=got.version),
                                    update_mask=field_mask_pb2.FieldMask(
                                        paths=["nme", "name", "category.id"]))
    err = error(dynamo_ch, CAT + "UpdateCategory", req, cat.UpdateCategoryResponse)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = rich_status(err)[2]
    assert [v.field for v in bad.field_violations] == ["update_mask.paths[0]",
                                                       "update_mask.paths[2]"]
    assert "nme" in bad.field_violations[0].description
    assert current() == got

    # Collections too.
    col = call(dynamo_ch, PC + "CreateProductCollection", pc.CreateProductCollectionRequest(
        product_collection=pc.ProductCollection(channel=APP, name="Kids", product_codes=["P3"])),
        pc.CreateProductCollectionResponse).product_collection
    upd = call(dynamo_ch, PC + "UpdateProductCollection", pc.UpdateProductCollectionRequest(
        product_collection=pc.ProductCollection(channel=APP, id=col.id, version=1,
                                                name="Kids meals")),
        pc.UpdateProductCollectionResponse).product_collection
    assert (upd.name, list(upd.product_codes)) == ("Kids meals", ["P3"])


def test_before_takes_a_forward_pages_start_cursor(dynamo_ch):
    channel = cm.CHANNEL_DRIVE_THRU
    for i in range(7):
        call(dynamo_ch, CAT + "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
            channel=channel, id=f"c{i}", name=f"C{i}", display_order=i)),
            cat.CreateCategoryResponse)

    def page(**kw):
        return call(dynamo_ch, CAT + "ListCategories", cat.ListCategoriesRequest(
            channel=channel, page=cm.PageRequest(**kw)), cat.ListCategoriesResponse)

    p1 = page(first=3)
    p2 = page(first=3, after=p1.page_info.end_cursor)
    # The usual "previous page" step: last + before = the forward page's start_cursor.
    back = page(last=3, before=p2.page_info.start_cursor)
    assert [e.node.id for e in back.edges] == [e.node.id for e in p1.edges] == ["c0", "c1", "c2"]
    # And after takes a backward page's end_cursor.
    fwd = page(first=3, after=back.page_info.end_cursor)
    assert [e.node.id for e in fwd.edges] == [e.node.id for e in p2.edges]
    # Any edge cursor is a position too.
    mid = page(first=2, after=p2.edges[0].cursor)
    assert [e.node.id for e in mid.edges] == ["c4", "c5"]
