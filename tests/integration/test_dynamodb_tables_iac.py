"""deploy/dynamodb/tables.cfn.json against dynamo-svc's own tables: dynamo-svc started with
DYNAMODB_CREATE_TABLES=1 on the test's dynalite creates its three tables, and what DescribeTable
reports (read with boto3, an independent client) has the key schema, attribute definitions,
local and global secondary indexes and billing mode the CloudFormation template declares. Then
the other way round: tables created from the template's properties serve dynamo-svc with
DYNAMODB_CREATE_TABLES=0 (a category written and listed in display order through the LSI). The
template's IAM policy allows every DynamoDB operation dynamo-svc calls."""

import json
import re
import uuid
from pathlib import Path

import pytest

from conftest import dynamo_tables_env, env_of, unary

boto3 = pytest.importorskip("boto3", reason="python3-boto3 (scripts/deps.sh installs it)")

from menu.v1 import category_pb2, common_pb2  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "dynamodb" / "tables.cfn.json"
# Template parameter -> dynamo-svc variable naming the same table.
PARAMS = {"CategoryTableName": "DYNAMODB_CATEGORY_TABLE",
          "GhostSwapTableName": "DYNAMODB_GHOST_SWAP_TABLE",
          "ProductCollectionTableName": "DYNAMODB_PRODUCT_COLLECTION_TABLE"}


def template():
    return json.loads(TEMPLATE.read_text())


def tables_of(t):
    """{variable: table properties} of the template's AWS::DynamoDB::Table resources."""
    out = {}
    for res in t["Resources"].values():
        if res["Type"] == "AWS::DynamoDB::Table":
            out[PARAMS[res["Properties"]["TableName"]["Ref"]]] = res["Properties"]
    return out


def client(dynalite):
    return boto3.client("dynamodb", endpoint_url=dynalite["DYNAMODB_ENDPOINT"],
                        region_name=dynalite["AWS_REGION"], aws_access_key_id="local",
                        aws_secret_access_key="local")


def schema(desc_or_props):
    """The comparable shape of a table: from DescribeTable's Table or the template's Properties."""
    billing = desc_or_props.get("BillingMode") or desc_or_props.get("BillingModeSummary", {}).get(
        "BillingMode") or ("PROVISIONED" if desc_or_props.get("ProvisionedThroughput", {}).get(
            "ReadCapacityUnits") else None)

    def idx(key):
        return sorted((i["IndexName"], json.dumps(i["KeySchema"]), i["Projection"]["ProjectionType"],
                       json.dumps(sorted(i["Projection"].get("NonKeyAttributes", []))))
                      for i in desc_or_props.get(key, []))

    return {
        "KeySchema": desc_or_props["KeySchema"],
        "AttributeDefinitions": sorted((a["AttributeName"], a["AttributeType"])
                                       for a in desc_or_props["AttributeDefinitions"]),
        "LocalSecondaryIndexes": idx("LocalSecondaryIndexes"),
        "GlobalSecondaryIndexes": idx("GlobalSecondaryIndexes"),
        "BillingMode": billing,
    }


def test_template_declares_the_three_tables_with_the_index_on_categories():
    t = template()
    assert t["AWSTemplateFormatVersion"] == "2010-09-09"
    tables = tables_of(t)
    assert set(tables) == set(PARAMS.values())
    lsis = {v: [i["IndexName"] for i in p.get("LocalSecondaryIndexes", [])] for v, p in tables.items()}
    assert lsis == {"DYNAMODB_CATEGORY_TABLE": ["by_display_order"], "DYNAMODB_GHOST_SWAP_TABLE": [],
                    "DYNAMODB_PRODUCT_COLLECTION_TABLE": []}
    for p in tables.values():
        # Production extras: idempotency records expire; data survives mistakes.
        assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    for res in t["Resources"].values():
        if res["Type"] == "AWS::DynamoDB::Table":
            assert res["DeletionPolicy"] == "Retain"
    # The parameters' defaults are the names the manifests configure.
    env = (ROOT / "deploy/k8s/base/dynamo-svc/config.env").read_text()
    for param, var in PARAMS.items():
        assert f'{var}={t["Parameters"][param]["Default"]}' in env


def test_policy_allows_every_operation_dynamo_svc_calls():
    """Operations named in the DynamoDB client's calls; CreateTable only runs with
    DYNAMODB_CREATE_TABLES=1, never in production."""
    src = (ROOT / "services/dynamo-svc/ddb/ddb.c").read_text()
    ops = set(re.findall(r'(?:ddb_call|item_call)\(c, "(\w+)"', src)) - {"CreateTable"}
    assert {"GetItem", "Query", "BatchGetItem", "PutItem", "DescribeTable"} <= ops, ops
    policies = [r for r in template()["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert len(policies) == 1
    stmts = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    allowed = {a.split(":", 1)[1] for s in stmts if s["Effect"] == "Allow" for a in s["Action"]}
    assert ops <= allowed, f"the policy lacks {sorted(ops - allowed)}"
    assert "CreateTable" not in allowed and "*" not in allowed


def test_created_tables_match_the_template(start_service, dynalite):
    names = dynamo_tables_env()
    start_service("dynamo-svc", env={**env_of(dynalite), **names, "DYNAMODB_CREATE_TABLES": "1"})
    ddb = client(dynalite)
    for var, props in tables_of(template()).items():
        desc = ddb.describe_table(TableName=names[var])["Table"]
        got, want = schema(desc), schema(props)
        assert got == want, f"{var} ({names[var]}): dynamo-svc created {got}, the template says {want}"


def test_dynamo_svc_serves_from_tables_created_by_the_template(start_service, dynalite):
    """DYNAMODB_CREATE_TABLES=0 (production) on tables made from the template: the service
    starts (its start-up check finds the index) and the index orders a listing."""
    ddb = client(dynalite)
    tag = uuid.uuid4().hex[:10]
    names = {}
    for var, props in tables_of(template()).items():
        names[var] = f"iac-{tag}-{var.split('_')[1].lower()}"
        args = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode",
                                      "LocalSecondaryIndexes") if k in props}
        ddb.create_table(TableName=names[var], **args)
        ddb.get_waiter("table_exists").wait(TableName=names[var])
    svc = start_service("dynamo-svc", env={**env_of(dynalite), **names, "DYNAMODB_CREATE_TABLES": "0"})
    with svc.channel() as ch:
        for name, order in (("Soups", 20), ("Wraps", 10)):
            req = category_pb2.CreateCategoryRequest(category=category_pb2.Category(
                channel=common_pb2.CHANNEL_WEB, name=name, display_order=order))
            unary(ch, "/menu.v1.CategoryService/CreateCategory", req, category_pb2.CreateCategoryResponse,
                  timeout=10)
        resp, _ = unary(ch, "/menu.v1.CategoryService/ListCategories",
                        category_pb2.ListCategoriesRequest(channel=common_pb2.CHANNEL_WEB),
                        category_pb2.ListCategoriesResponse, timeout=10)
    assert [e.node.name for e in resp.edges] == ["Wraps", "Soups"]
