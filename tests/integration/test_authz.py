"""Who may call what: mutual TLS with one certificate per identity (SPIFFE-style URI SANs) and the
authorization policies shipped in deploy/, applied by the real binaries to real calls (unary and
streaming); audit fields from the authenticated principal; the policy file reloaded without a
restart; a policy that does not parse stops the start."""

import json
import shutil
import subprocess
import time

import grpc
import pytest

import pb
from conftest import ROOT, HealthCheckRequest, HealthCheckResponse, SERVING, env_of, unary
from menu.v1 import category_pb2 as cat, common_pb2 as cm, product_availability_pb2 as pa
from test_sql_support import demo_database, sql, wait_until

POLICIES = ROOT / "deploy" / "k8s" / "overlays" / "production" / "authz"
AVAIL = "/menu.v1.ProductAvailabilityService/"
CATS = "/menu.v1.CategoryService/"
HEALTH = "/grpc.health.v1.Health/Check"


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1, and one client certificate per identity, each
    with a SPIFFE-style URI SAN, all issued by the same CA (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=menu-test-ca")
    certs = {"server": "subjectAltName=IP:127.0.0.1,DNS:localhost"}
    for who in ("gateway", "admin", "stranger"):
        certs[who] = f"subjectAltName=URI:spiffe://menu/{who}\nextendedKeyUsage=clientAuth"
    for name, ext in certs.items():
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return d


def creds_for(pki, who):
    read = lambda n: (pki / n).read_bytes()  # noqa: E731
    return grpc.ssl_channel_credentials(read("ca.crt"), read(f"{who}.key"), read(f"{who}.crt"))


def call(svc, pki, who, method, req, resp_cls, metadata=None):
    with grpc.secure_channel(svc.addr, creds_for(pki, who)) as ch:
        return unary(ch, method, req, resp_cls, timeout=10, metadata=metadata)[0]


def code_of(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def wait_tls(svc, pki, timeout=20.0):
    """The service once health answers SERVING over mutual TLS (any identity may call health)."""
    return svc.wait_ready(timeout, creds=creds_for(pki, "stranger"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_env(pki, policy):
    return {"TLS_CERT_FILE": str(pki / "server.crt"), "TLS_KEY_FILE": str(pki / "server.key"),
            "TLS_CLIENT_CA_FILE": str(pki / "ca.crt"), "AUTHZ_POLICY_FILE": str(policy),
            "AUTHZ_POLICY_REFRESH_MS": "200"}


@pytest.fixture(scope="module")
def sql_db(mariadb):
    return demo_database(mariadb, "menu_t_security")


def group_id(env):
    return int(sql(env, "SELECT g.productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup g"
                        " JOIN productAvailabilityRuleGroupType t USING (productAvailabilityRuleGroupTypeId)"
                        " JOIN channel c USING (channelId) WHERE c.channelCode = 'KIOSK'"
                        " AND t.code = 'restaurant'")[0][0])


def list_req():
    return pa.ListProductAvailabilitiesRequest(store_code="R001", channel=cm.CHANNEL_KIOSK,
                                               page=cm.PageRequest(first=3))


def test_shipped_sql_policy_gateway_reads_admin_writes_strangers_denied(
        pki, sql_db, start_service, tmp_path):
    policy = tmp_path / "policy.json"
    shutil.copy(POLICIES / "sql-svc.json", policy)
    svc = wait_tls(start_service("sql-svc", env={**sql_db, **tls_env(pki, policy)}, wait=False),
                   pki)

    # The gateway's identity reads...
    got = call(svc, pki, "gateway", AVAIL + "ListProductAvailabilities", list_req(),
               pa.ListProductAvailabilitiesResponse)
    assert len(got.edges) == 3
    # ...and cannot write: PERMISSION_DENIED, nothing written.
    rule = pa.AvailabilityRule(product_code="P1001", rule_group_id=group_id(sql_db),
                               rule_type=pa.RULE_TYPE_RESTAURANT,
                               rule_effect=pa.RULE_EFFECT_DENY, restaurant_code="R001",
                               channel=cm.CHANNEL_KIOSK)
    before = sql(sql_db, "SELECT COUNT(*) FROM productAvailabilityRule")[0][0]
    code, details = code_of(lambda: call(
        svc, pki, "gateway", AVAIL + "CreateAvailabilityRule",
        pa.CreateAvailabilityRuleRequest(rule=rule), pa.CreateAvailabilityRuleResponse))
    assert code == grpc.StatusCode.PERMISSION_DENIED, details
    assert "spiffe://menu/gateway" in details and "CreateAvailabilityRule" in details
    assert sql(sql_db, "SELECT COUNT(*) FROM productAvailabilityRule")[0][0] == before

    # The admin writes; the audit fields are the principal, x-user only adds the end user.
    created = call(svc, pki, "admin", AVAIL + "CreateAvailabilityRule",
                   pa.CreateAvailabilityRuleRequest(rule=rule),
                   pa.CreateAvailabilityRuleResponse,
                   metadata=(("x-user", "mallory"),)).rule
    assert created.created_by == "spiffe://menu/admin (x-user: mallory)"
    assert created.updated_by == created.created_by
    stored = sql(sql_db, "SELECT createdBy FROM productAvailabilityRule WHERE "
                         f"productAvailabilityRuleId = {created.rule_id}")[0][0]
    assert stored == "spiffe://menu/admin (x-user: mallory)"
    # A created_by in the request cannot impersonate anyone either.
    rule2 = pa.AvailabilityRule()
    rule2.CopyFrom(rule)
    rule2.product_code = "P1002"
    rule2.created_by = "bob"
    created2 = call(svc, pki, "admin", AVAIL + "CreateAvailabilityRule",
                    pa.CreateAvailabilityRuleRequest(rule=rule2),
                    pa.CreateAvailabilityRuleResponse).rule
    assert created2.created_by == "spiffe://menu/admin"

    # A certificate from the same CA with an unknown identity: denied, logged with the principal.
    code, details = code_of(lambda: call(svc, pki, "stranger", AVAIL + "ListProductAvailabilities",
                                         list_req(), pa.ListProductAvailabilitiesResponse))
    assert code == grpc.StatusCode.PERMISSION_DENIED, details
    def stranger_logged():
        return any(l.get("status") == "PERMISSION_DENIED" and
                   l.get("principal") == "spiffe://menu/stranger" for l in svc.log_lines())
    assert wait_until(stranger_logged, 5), svc.log_text()[-2000:]
    # Health stays open to any identity.
    assert call(svc, pki, "stranger", HEALTH, HealthCheckRequest(),
                HealthCheckResponse).status == SERVING

    # The policy file changes: the stranger may now read, without a restart.
    p = json.loads(policy.read_text())
    p["allow_rules"].append({"name": "stranger-reads",
                             "source": {"principals": ["spiffe://menu/stranger"]},
                             "request": {"paths": [AVAIL + "List*"]}})
    tmp = policy.with_suffix(".new")
    tmp.write_text(json.dumps(p))
    tmp.rename(policy)
    deadline = time.monotonic() + 5
    code = None
    while time.monotonic() < deadline and code != grpc.StatusCode.OK:
        code, _ = code_of(lambda: call(svc, pki, "stranger", AVAIL + "ListProductAvailabilities",
                                       list_req(), pa.ListProductAvailabilitiesResponse))
        time.sleep(0.1)
    assert code == grpc.StatusCode.OK
    # A broken policy file keeps the last good one.
    policy.write_text("{ not json")
    time.sleep(0.6)
    assert code_of(lambda: call(svc, pki, "stranger", AVAIL + "ListProductAvailabilities",
                                list_req(), pa.ListProductAvailabilitiesResponse))[0] == \
        grpc.StatusCode.OK
    assert code_of(lambda: call(
        svc, pki, "stranger", AVAIL + "CreateAvailabilityRule",
        pa.CreateAvailabilityRuleRequest(rule=rule), pa.CreateAvailabilityRuleResponse))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    assert wait_until(lambda: any("authz: the policy is invalid" in l.get("msg", "")
                                  for l in svc.log_lines()), 5)


def test_shipped_dynamo_policy(pki, dynalite, start_service, tmp_path):
    from conftest import dynamo_tables_env
    svc = wait_tls(start_service("dynamo-svc", env={**env_of(dynalite), **dynamo_tables_env(),
                                                    **tls_env(pki, POLICIES / "dynamo-svc.json")},
                                 wait=False), pki)
    create = cat.CreateCategoryRequest(category=cat.Category(
        channel=cm.CHANNEL_KIOSK, name="Soups", display_order=3))
    code, details = code_of(lambda: call(svc, pki, "gateway", CATS + "CreateCategory", create,
                                         cat.CreateCategoryResponse))
    assert code == grpc.StatusCode.PERMISSION_DENIED, details
    made = call(svc, pki, "admin", CATS + "CreateCategory", create, cat.CreateCategoryResponse)
    got = call(svc, pki, "gateway", CATS + "ListCategories",
               cat.ListCategoriesRequest(channel=cm.CHANNEL_KIOSK), cat.ListCategoriesResponse)
    assert [e.node.id for e in got.edges] == [made.category.id]
    code, _ = code_of(lambda: call(svc, pki, "stranger", CATS + "ListCategories",
                                   cat.ListCategoriesRequest(channel=cm.CHANNEL_KIOSK),
                                   cat.ListCategoriesResponse))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_audit_fields_from_the_principal_without_a_policy(pki, sql_db, start_service):
    """Mutual TLS without AUTHZ_POLICY_FILE: no authorization step runs, and the audit fields
    still come from the verified certificate, not from what the caller says."""
    env = {k: v for k, v in tls_env(pki, None).items() if not k.startswith("AUTHZ_")}
    svc = wait_tls(start_service("sql-svc", env={**sql_db, **env}, wait=False), pki)
    rule = pa.AvailabilityRule(product_code="P1003", rule_group_id=group_id(sql_db),
                               rule_type=pa.RULE_TYPE_RESTAURANT, created_by="bob",
                               rule_effect=pa.RULE_EFFECT_DENY, restaurant_code="R001",
                               channel=cm.CHANNEL_KIOSK)
    created = call(svc, pki, "stranger", AVAIL + "CreateAvailabilityRule",
                   pa.CreateAvailabilityRuleRequest(rule=rule), pa.CreateAvailabilityRuleResponse,
                   metadata=(("x-user", "mallory"),)).rule
    assert created.created_by == "spiffe://menu/stranger (x-user: mallory)"
    stored = sql(sql_db, "SELECT createdBy, updatedBy FROM productAvailabilityRule WHERE "
                         f"productAvailabilityRuleId = {created.rule_id}")[0]
    assert list(stored) == ["spiffe://menu/stranger (x-user: mallory)"] * 2


def test_a_policy_that_does_not_parse_stops_the_start(pki, sql_db, start_service, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name":"x","allow_rules":[{"name":"a","source":{"ips":["10.0.0.0/8"]}}]}')
    svc = start_service("sql-svc", env={**sql_db, **tls_env(pki, bad)}, wait=False)
    assert svc.proc.wait(15) == 2
    assert 'unknown field \\"ips\\"' in svc.log_text() or "unknown field" in svc.log_text()




def test_streams_pass_the_policy_too(pki, sql_db, start_service, tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"name": "no-reflection", "allow_rules": [
        {"name": "health", "request": {"paths": ["/grpc.health.v1.Health/*"]}},
        {"name": "admins-reflect", "source": {"principals": ["spiffe://menu/admin"]},
         "request": {"paths": ["/grpc.reflection.v1.ServerReflection/*"]}}]}))
    svc = wait_tls(start_service("sql-svc", env={**sql_db, **tls_env(pki, policy)}, wait=False),
                   pki)
    Req = pb.message("grpc.reflection.v1.ServerReflectionRequest")
    Resp = pb.message("grpc.reflection.v1.ServerReflectionResponse")

    def reflect(who):
        with grpc.secure_channel(svc.addr, creds_for(pki, who)) as ch:
            stream = ch.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                                      request_serializer=Req.SerializeToString,
                                      response_deserializer=Resp.FromString)
            return [r for r in stream(iter([Req(list_services="")]), timeout=10)]

    assert any(s.name == "menu.v1.ProductAvailabilityService"
               for r in reflect("admin") for s in r.list_services_response.service)
    with pytest.raises(grpc.RpcError) as e:
        reflect("stranger")
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "spiffe://menu/stranger" in e.value.details()
