"""deploy/k8s: both overlays render, validate against the Kubernetes schemas, and keep the
operational rules the services depend on (gRPC probes, drain time, headless backends,
autoscaling with disruption budgets, locked-down pods, network policies, no secrets in git).
Run: /usr/bin/python3 -m pytest -q tests/deploy"""
import os
import re
import subprocess

import pytest

from k8s_model import (K8S, KUBECTL, OVERLAYS, RECOMMENDED_LABELS, ROOT, SERVICES, Endpoint, allowed,
                       container_env, find, image_tag, kubectl_problem, one, pod_templates, port_of,
                       render, selector_matches, validate_schemas, volume_for_path)

_why = kubectl_problem()
if _why:
    pytest.skip(_why, allow_module_level=True)

NS = "menu"


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request):
    return request.param, render(request.param)


def deployment(objs, name):
    return one(objs, "Deployment", name)


def main_container(d):
    name = d["metadata"]["name"]
    cs = [c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert cs, f"Deployment {name} has no container named {name}"
    return cs[0]


def test_renders_and_validates_against_kubernetes_schemas(rendered, tmp_path):
    overlay, objs = rendered
    assert len(objs) > 20
    errors = validate_schemas(objs, tmp_path)
    assert not errors, f"overlays/{overlay}: objects that do not validate:\n" + "\n".join(
        f"  {k}: {e}" for k, es in errors.items() for e in es)


def test_everything_in_one_restricted_namespace(rendered):
    overlay, objs = rendered
    ns = one(objs, "Namespace", NS)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    stray = [f'{o["kind"]}/{o["metadata"]["name"]}' for o in objs
             if o["kind"] != "Namespace" and o["metadata"].get("namespace") != NS]
    assert not stray, f"objects outside namespace {NS}: {stray}"


def test_recommended_labels_on_every_object(rendered):
    """app.kubernetes.io/{name,instance,version,component,part-of,managed-by} on every object
    and pod template; version is the release's image tag (the local datastores carry their
    own); selectors use only the stable name label (a selector is immutable, a version is not)."""
    overlay, objs = rendered
    release = image_tag(main_container(deployment(objs, "gateway"))["image"])
    problems = []
    for o in objs:
        what = f'{o["kind"]}/{o["metadata"]["name"]}'
        labels = o["metadata"].get("labels", {})
        missing = [k for k in RECOMMENDED_LABELS if not labels.get(k)]
        if missing:
            problems.append(f"{what}: no {missing}")
            continue
        if labels["app.kubernetes.io/instance"] != f"menu-{overlay}":
            problems.append(f'{what}: instance {labels["app.kubernetes.io/instance"]}')
        if labels["app.kubernetes.io/part-of"] != "menu" or labels["app.kubernetes.io/managed-by"] != "kustomize":
            problems.append(f"{what}: part-of menu, managed-by kustomize")
        if labels["app.kubernetes.io/component"] != "datastore" and labels["app.kubernetes.io/version"] != release:
            problems.append(f'{what}: version {labels["app.kubernetes.io/version"]}, release {release}')
        tmpl = o.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") if o["kind"] in (
            "Deployment", "Job") else None
        if tmpl is not None:
            for k in RECOMMENDED_LABELS:
                if tmpl.get(k) != labels[k]:
                    problems.append(f"{what}: pod template {k}={tmpl.get(k)}, object {labels[k]}")
        if o["kind"] in ("Deployment", "Job", "Service", "PodDisruptionBudget"):
            sel = o["spec"].get("selector")
            keys = set((sel or {}).get("matchLabels", sel if o["kind"] == "Service" else {}) or {})
            if keys - {"app.kubernetes.io/name"}:
                problems.append(f"{what}: selector on {sorted(keys)} (only app.kubernetes.io/name)")
    assert not problems, f"overlays/{overlay}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("svc", SERVICES)
def test_grpc_probes_on_a_plaintext_health_port(rendered, svc):
    overlay, objs = rendered
    d = deployment(objs, svc)
    c = main_container(d)
    env = container_env(objs, c)
    ports = {p["containerPort"] for p in c["ports"]}
    # Kubelet's gRPC probes cannot do TLS: with TLS on GRPC_ADDR they must target HEALTH_ADDR.
    want = port_of(env["HEALTH_ADDR"]) if env.get("TLS_CERT_FILE") else port_of(env["GRPC_ADDR"])
    if env.get("TLS_CERT_FILE"):
        assert "HEALTH_ADDR" in env, f"{svc}: TLS on but no plaintext HEALTH_ADDR for probes"
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(kind)
        assert probe, f"{overlay}/{svc}: no {kind}"
        assert set(probe) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, \
            f"{overlay}/{svc}: {kind} must be a built-in grpc probe, got {probe}"
        assert probe["grpc"]["port"] == want, f"{overlay}/{svc}: {kind} port {probe['grpc']['port']} != {want}"
        assert want in ports, f"{overlay}/{svc}: probe port {want} is not a containerPort"


@pytest.mark.parametrize("svc", SERVICES)
def test_listen_addresses_ports_and_scrape_annotations_agree(rendered, svc):
    overlay, objs = rendered
    grpc_port, metrics_port = SERVICES[svc]
    d = deployment(objs, svc)
    c = main_container(d)
    env = container_env(objs, c)
    assert env["GRPC_ADDR"] == f"0.0.0.0:{grpc_port}"
    assert env["METRICS_ADDR"] == f"0.0.0.0:{metrics_port}"
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert named["grpc"] == grpc_port and named["metrics"] == metrics_port
    ann = d["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/port"] == str(metrics_port)
    assert ann["prometheus.io/path"] == "/metrics"
    assert env["LOG_LEVEL"] in ("debug", "info", "warn", "error")
    assert int(env["GRPC_MAX_CONNECTION_AGE_MS"]) > 0, "clients must re-resolve DNS"


@pytest.mark.parametrize("svc", SERVICES)
def test_termination_grace_covers_the_drain_and_no_prestop(rendered, svc):
    overlay, objs = rendered
    d = deployment(objs, svc)
    c = main_container(d)
    env = container_env(objs, c)
    grace_ms = int(env.get("SHUTDOWN_GRACE_MS", "10000"))
    tgps = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert tgps * 1000 >= grace_ms + 5000, \
        f"{svc}: terminationGracePeriodSeconds {tgps}s leaves < 5s above SHUTDOWN_GRACE_MS {grace_ms}"
    assert "preStop" not in c.get("lifecycle", {}), f"{svc}: the binary drains itself on SIGTERM"


def test_pods_are_locked_down(rendered):
    overlay, objs = rendered
    problems = []
    for o, spec, _ in pod_templates(objs):
        name = f'{o["kind"]}/{o["metadata"]["name"]}'
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken must be false")
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{name}: host namespaces")
        ours = o["metadata"]["name"] in SERVICES or o["kind"] == "Job"
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            sc = c.get("securityContext", {})
            cname = f"{name}/{c['name']}"
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cname}: allowPrivilegeEscalation false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{cname}: capabilities drop ALL")
            if sc.get("capabilities", {}).get("add"):
                problems.append(f"{cname}: adds capabilities")
            if sc.get("privileged"):
                problems.append(f"{cname}: privileged")
            if ours and sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cname}: readOnlyRootFilesystem")
            if sc.get("runAsUser") == 0 or psc.get("runAsUser") == 0:
                problems.append(f"{cname}: runs as root")
    for sa in find(objs, "ServiceAccount"):
        if sa.get("automountServiceAccountToken") is not False:
            problems.append(f'ServiceAccount/{sa["metadata"]["name"]}: automountServiceAccountToken')
    assert not problems, f"overlays/{overlay}:\n  " + "\n  ".join(problems)


def test_images_are_pinned_and_one_release(rendered):
    overlay, objs = rendered
    tags = set()
    for o, spec, _ in pod_templates(objs):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            img = c["image"]
            tag = image_tag(img)
            assert tag and tag != "latest", f"{o['metadata']['name']}/{c['name']}: image {img} needs a tag other than latest"
            if re.search(r"/menu-(gateway|dynamo-svc|sql-svc):", img):
                tags.add(tag)
            else:
                assert not img.startswith("menu-"), f"{img}: base placeholder not replaced by the overlay"
    assert len(tags) == 1, f"overlays/{overlay}: the three services (and the Job) must run one release, got tags {tags}"


def test_every_container_has_requests_and_limits(rendered):
    overlay, objs = rendered
    missing = []
    for o, spec, _ in pod_templates(objs):
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            r = c.get("resources", {})
            for part in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    if res not in r.get(part, {}):
                        missing.append(f'{o["metadata"]["name"]}/{c["name"]}: {part}.{res}')
    assert not missing, f"overlays/{overlay}: " + ", ".join(missing)


@pytest.mark.parametrize("svc", SERVICES)
def test_every_deployment_has_a_pdb_and_an_hpa(rendered, svc):
    overlay, objs = rendered
    d = deployment(objs, svc)
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert "replicas" not in d["spec"], f"{svc}: spec.replicas fights the HPA on every apply"
    pdbs = [p for p in find(objs, "PodDisruptionBudget")
            if all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())]
    assert len(pdbs) == 1, f"{svc}: expected one PodDisruptionBudget selecting its pods"
    assert pdbs[0]["apiVersion"] == "policy/v1" and pdbs[0]["spec"].get("maxUnavailable") == 1
    hpas = [h for h in find(objs, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc}]
    assert len(hpas) == 1, f"{svc}: expected one HPA targeting Deployment/{svc}"
    h = hpas[0]
    assert h["apiVersion"] == "autoscaling/v2"
    assert h["spec"]["minReplicas"] >= 2 and h["spec"]["maxReplicas"] > h["spec"]["minReplicas"]
    assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in h["spec"]["metrics"])
    # CPU utilization is relative to requests: every container needs one.
    for c in d["spec"]["template"]["spec"]["containers"]:
        assert c["resources"]["requests"].get("cpu"), f"{svc}/{c['name']}: HPA needs CPU requests"
    if overlay == "production":
        assert h["spec"]["minReplicas"] >= 3, "production runs at least three replicas"


@pytest.mark.parametrize("svc", SERVICES)
def test_services_headless_for_backends_and_select_their_pods(rendered, svc):
    overlay, objs = rendered
    grpc_port, _ = SERVICES[svc]
    s = one(objs, "Service", svc)
    d = deployment(objs, svc)
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
    if svc == "gateway":
        assert s["spec"].get("clusterIP") != "None" and s["spec"].get("type", "ClusterIP") == "ClusterIP"
    else:
        # round_robin over DNS needs every pod address: headless.
        assert s["spec"].get("clusterIP") == "None", f"{svc} must be headless"
        assert not s["spec"].get("publishNotReadyAddresses"), "draining pods must leave DNS"
    port = s["spec"]["ports"][0]
    assert port["port"] == grpc_port and port["targetPort"] in ("grpc", grpc_port)


def test_gateway_targets_the_headless_services(rendered):
    overlay, objs = rendered
    env = container_env(objs, main_container(deployment(objs, "gateway")))
    for var, svc in (("DYNAMO_SVC_TARGET", "dynamo-svc"), ("SQL_SVC_TARGET", "sql-svc")):
        s = one(objs, "Service", svc)
        want = f'dns:///{svc}.{s["metadata"]["namespace"]}.svc.cluster.local:{s["spec"]["ports"][0]["port"]}'
        assert env[var] == want, f"{var}={env[var]}, want {want}"


def secret_file_ok(objs, overlay, spec, container, path, key_hint=None):
    v = volume_for_path(spec, container, path)
    assert v is not None, f"{path} is not on a mounted volume"
    src = v.get("secret") or {}
    assert src.get("secretName"), f"{path} must come from a Secret volume, got {v}"
    if overlay == "local":
        s = one(objs, "Secret", src["secretName"])
        assert path.rsplit("/", 1)[1] in s.get("data", {}), f"Secret {src['secretName']} lacks the key for {path}"
    mode = src.get("defaultMode", 0o644)
    assert mode & 0o007 == 0, f"{path}: Secret files must not be world-readable"


@pytest.mark.parametrize("svc", SERVICES)
def test_secrets_arrive_as_files(rendered, svc):
    overlay, objs = rendered
    d = deployment(objs, svc)
    spec, c = d["spec"]["template"]["spec"], main_container(d)
    env = container_env(objs, c)
    # The authorization policy is configuration, not a secret: it comes from a ConfigMap
    # (test_production_authorizes_each_backend_with_the_shipped_policy).
    files = [k for k in env if k.endswith("_FILE") and k != "AUTHZ_POLICY_FILE"]
    if svc != "gateway":
        assert "CURSOR_KEY_FILE" in env, f"{svc}: replicas must share a cursor key (CURSOR_KEY_FILE)"
    if svc == "sql-svc":
        assert "MYSQL_PASSWORD_FILE" in env and "MYSQL_PASSWORD" not in env
    for k in files:
        secret_file_ok(objs, overlay, spec, c, env[k])
    for k, v in env.items():
        if re.search(r"PASSWORD|SECRET|TOKEN|CURSOR_KEY$|_KEY$", k) and not k.endswith("_FILE"):
            assert v.startswith("<secret:") or v == "<valueFrom>", f"{svc}: {k} has a literal value in git"


def test_datastore_settings(rendered):
    overlay, objs = rendered
    dyn = container_env(objs, main_container(deployment(objs, "dynamo-svc")))
    sql = container_env(objs, main_container(deployment(objs, "sql-svc")))
    for env in (dyn, sql):
        placeholders = {k: v for k, v in env.items() if ".invalid" in v}
        assert not placeholders, f"overlays/{overlay} leaves base placeholders: {placeholders}"
    for k in ("AWS_REGION", "DYNAMODB_CATEGORY_TABLE", "DYNAMODB_GHOST_SWAP_TABLE", "DYNAMODB_PRODUCT_COLLECTION_TABLE"):
        assert dyn.get(k), f"dynamo-svc: {k} unset"
    for k in ("MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_DATABASE", "MYSQL_POOL_SIZE"):
        assert sql.get(k), f"sql-svc: {k} unset"
    assert sql["MIGRATIONS_DIR"] == "/app/migrations"
    if overlay == "production":
        assert dyn["DYNAMODB_CREATE_TABLES"] == "0", "production tables exist beforehand"
        assert dyn["DYNAMODB_ENDPOINT"] == f'https://dynamodb.{dyn["AWS_REGION"]}.amazonaws.com'
        assert "AWS_ACCESS_KEY_ID" not in dyn and "AWS_SECRET_ACCESS_KEY" not in dyn, "use IRSA"
        sa = one(objs, "ServiceAccount", "dynamo-svc")
        assert re.match(r"arn:aws:iam::\d{12}:role/.+", sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"])
        assert deployment(objs, "dynamo-svc")["spec"]["template"]["spec"]["serviceAccountName"] == "dynamo-svc"
        assert not find(objs, "Secret"), "production references externally created Secrets only"
        assert not find(objs, "Deployment", "mariadb") and not find(objs, "Deployment", "dynalite")
    else:
        host = re.match(r"http://([^.:]+)\.%s\.svc\.cluster\.local:(\d+)$" % NS, dyn["DYNAMODB_ENDPOINT"])
        assert host and one(objs, "Service", host.group(1))["spec"]["ports"][0]["port"] == int(host.group(2))
        assert dyn["DYNAMODB_CREATE_TABLES"] == "1"
        mysql = sql["MYSQL_HOST"].split(".")[0]
        assert one(objs, "Service", mysql)["spec"]["ports"][0]["port"] == int(sql["MYSQL_PORT"])


def test_production_uses_mutual_tls_between_gateway_and_services():
    objs = render("production")
    genv = container_env(objs, main_container(deployment(objs, "gateway")))
    for k in ("BACKEND_TLS_CA_FILE", "BACKEND_TLS_CERT_FILE", "BACKEND_TLS_KEY_FILE"):
        assert k in genv, f"gateway: {k}"
    for svc in ("dynamo-svc", "sql-svc"):
        env = container_env(objs, main_container(deployment(objs, svc)))
        for k in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"):
            assert k in env, f"{svc}: {k}"


def variables_read_by(svc):
    """Upper-case string literals in the C sources linked into `svc`: the names it reads with
    config_str/config_int/config_secret/getenv."""
    dirs = [ROOT / "common", ROOT / ("gateway" if svc == "gateway" else f"services/{svc}")]
    names = set()
    for d in dirs:
        for f in d.rglob("*.c"):
            names.update(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', f.read_text(errors="replace")))
    return names


@pytest.mark.parametrize("svc", SERVICES)
def test_every_configured_variable_is_read_by_the_binary(rendered, svc):
    """A misspelt or renamed variable is silently ignored and the default applies (e.g. a
    production table name): every variable the manifests set must be one the code reads."""
    overlay, objs = rendered
    env = container_env(objs, main_container(deployment(objs, svc)))
    known = variables_read_by(svc)
    unread = sorted(k for k in env if k not in known
                    and not (k.endswith("_FILE") and k[:-5] in known))
    assert not unread, f"overlays/{overlay}/{svc} sets variables {svc} never reads: {unread}"


def test_migration_job_runs_this_release(rendered):
    overlay, objs = rendered
    jobs = find(objs, "Job")
    assert len(jobs) == 1
    job = jobs[0]
    sql = deployment(objs, "sql-svc")
    image = main_container(sql)["image"]
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == image
    assert "command" not in c and c["args"] == ["migrate"], "ENTRYPOINT /app/sql-svc + args migrate"
    assert job["metadata"]["name"] == f"sql-svc-migrate-{image_tag(image)}", \
        "one Job per release: its name carries the image tag (pod templates of Jobs are immutable)"
    assert len(job["metadata"]["name"]) <= 63
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"].get("backoffLimit", 6) >= 1 and job["spec"].get("activeDeadlineSeconds")
    env = container_env(objs, c)
    assert env == container_env(objs, main_container(sql)), "the Job must see sql-svc's configuration"
    secret_file_ok(objs, overlay, job["spec"]["template"]["spec"], c, env["MYSQL_PASSWORD_FILE"])


def pod(objs, name):
    """An Endpoint for the pods of workload `name` in the namespace."""
    for o, _, meta in pod_templates(objs):
        if o["metadata"]["name"].startswith(name):
            return Endpoint(NS, {}, meta["labels"])
    raise AssertionError(f"no workload {name}")


def test_network_policies(rendered):
    overlay, objs = rendered
    pols = find(objs, "NetworkPolicy")
    deny = [p for p in pols if p["spec"]["podSelector"] == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny, "a default-deny policy for ingress and egress"
    gw, dyn, sql, job = pod(objs, "gateway"), pod(objs, "dynamo-svc"), pod(objs, "sql-svc"), pod(objs, "sql-svc-migrate")
    outsider = Endpoint("shop", {}, {"app": "other"})
    scraper = Endpoint("monitoring", {"monitoring": "true"}, {"app": "prometheus"})
    collector = Endpoint("monitoring", {"monitoring": "true"}, {"app": "otel-collector"})
    dns = Endpoint("kube-system", {}, {"k8s-app": "kube-dns"})
    aws, mysql_ext, imds = Endpoint(ip="52.94.0.10"), Endpoint(ip="10.20.30.40"), Endpoint(ip="169.254.169.254")
    expect = [
        (gw, dyn, 50052, True), (gw, sql, 50053, True),
        (outsider, gw, 50051, True),
        (outsider, dyn, 50052, False), (outsider, sql, 50053, False),
        (dyn, sql, 50053, False), (sql, dyn, 50052, False), (dyn, gw, 50051, False),
        (scraper, gw, 9451, True), (scraper, dyn, 9452, True), (scraper, sql, 9453, True),
        (outsider, dyn, 9452, False), (outsider, gw, 9451, False),
        (dyn, aws, 443, True), (dyn, imds, 443, False), (dyn, mysql_ext, 3306, False),
        (sql, aws, 443, False), (gw, aws, 443, False), (gw, mysql_ext, 3306, False),
        (outsider, job, 50053, False), (gw, job, 9453, False),
        # traces to an OpenTelemetry collector in the monitoring namespace, nowhere else
        (gw, collector, 4318, True), (dyn, collector, 4318, True), (sql, collector, 4318, True),
        (gw, outsider, 4318, False), (gw, collector, 9999, False),
    ]
    if overlay == "production":
        expect += [(sql, mysql_ext, 3306, True), (job, mysql_ext, 3306, True)]
    else:
        mdb, dl = pod(objs, "mariadb"), pod(objs, "dynalite")
        expect += [(sql, mdb, 3306, True), (job, mdb, 3306, True), (dyn, dl, 8000, True),
                   (gw, mdb, 3306, False), (dyn, mdb, 3306, False), (gw, dl, 8000, False),
                   (outsider, mdb, 3306, False)]
    wrong = [f"{a.pod_labels or a.ip} -> {b.pod_labels or b.ip}:{port} should be {'allowed' if ok else 'denied'}"
             for a, b, port, ok in expect if allowed(objs, a, b, port) != ok]
    for p in (gw, dyn, sql, job):
        if not allowed(objs, p, dns, 53, "UDP") or not allowed(objs, p, dns, 53, "TCP"):
            wrong.append(f"{p.pod_labels} -> DNS should be allowed")
    assert not wrong, f"overlays/{overlay}:\n  " + "\n  ".join(wrong)


# ---- the sources in git -----------------------------------------------------------------

def test_no_secret_values_in_git():
    problems = []
    for f in sorted((ROOT / "deploy").rglob("*")):
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        rel = f.relative_to(ROOT)
        if "-----BEGIN" in text:
            problems.append(f"{rel}: PEM material")
        if re.search(r"^kind:\s*Secret\s*$", text, re.M):
            problems.append(f"{rel}: a Secret object (create Secrets outside git)")
        if re.search(r"AKIA[0-9A-Z]{16}", text):
            problems.append(f"{rel}: an AWS access key id")
    import yaml
    for k in sorted(K8S.rglob("kustomization.yaml")):
        doc = yaml.safe_load(k.read_text())
        for gen in doc.get("secretGenerator", []) or []:
            rel = k.relative_to(ROOT)
            if "overlays/local" not in str(rel):
                problems.append(f"{rel}: secretGenerator outside the local overlay")
            for lit in gen.get("literals", []):
                if "local-only" not in lit.split("=", 1)[1]:
                    problems.append(f"{rel}: literal {lit.split('=')[0]} must say local-only")
            if gen.get("files") or gen.get("envs"):
                problems.append(f"{rel}: secretGenerator from files (keep secret files out of git)")
    assert not problems, "\n".join(problems)


def test_readme_documents_the_manifests():
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert "## Deploying to Kubernetes" in readme
    objs = render("local") + render("production")
    names = set()
    for cm in find(objs, "ConfigMap"):
        names.update(cm.get("data", {}))
    missing = sorted(n for n in names if n not in readme)
    assert not missing, f"deploy/README.md does not mention: {missing}"
    # Paths in this repository (not kubectl's `deploy/<name>` shorthand for a Deployment).
    for path in set(re.findall(r"deploy/(?:k8s|docker)/[\w./-]*|deploy/[\w-]+\.sh", readme)):
        p = path.rstrip(".")
        assert (ROOT / p).exists(), f"deploy/README.md names {p}, which does not exist"
    for overlay in OVERLAYS:
        assert f"kubectl apply -k deploy/k8s/overlays/{overlay}" in readme or overlay == "production"


def test_rollout_applies_the_job_before_the_deployments(rendered):
    overlay, objs = rendered
    p = subprocess.run([str(ROOT / "deploy/rollout.sh"), overlay], capture_output=True, text=True,
                       env={**os.environ, "DRY_RUN": "1", "KUBECTL": KUBECTL}, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    job = find(objs, "Job")[0]["metadata"]["name"]
    assert "-l menu/rollout!=after-migration" in lines[0]
    assert f"job/{job}" in lines[1] and "condition=complete" in lines[1]
    assert lines[2].endswith(".yaml") and " -l " not in lines[2]
    # Phase one's selector holds back exactly the three service Deployments.
    held = {f'{o["kind"]}/{o["metadata"]["name"]}' for o in objs
            if selector_matches({"matchLabels": {"menu/rollout": "after-migration"}},
                                o["metadata"].get("labels", {}))}
    assert held == {f"Deployment/{s}" for s in SERVICES}, held


def test_production_authorizes_each_backend_with_the_shipped_policy():
    """Each backend mounts its policy from deploy/k8s/overlays/production/authz (updated in place,
    no hash suffix, so a change reloads without a rollout); the gateway identity may only read,
    admins may write, health and reflection are open to everyone."""
    import json
    objs = render("production")
    for svc in ("dynamo-svc", "sql-svc"):
        d = deployment(objs, svc)
        c = main_container(d)
        path = container_env(objs, c)["AUTHZ_POLICY_FILE"]
        vol = volume_for_path(d["spec"]["template"]["spec"], c, path)
        assert vol and vol.get("configMap", {}).get("name") == f"{svc}-authz", (svc, vol)
        cm = one(objs, "ConfigMap", f"{svc}-authz")
        shipped = (ROOT / "deploy/k8s/overlays/production/authz" / f"{svc}.json").read_text()
        assert cm["data"][path.rsplit("/", 1)[1]] == shipped
        policy = json.loads(shipped)
        rules = {r["name"]: r for r in policy["allow_rules"]}
        assert "source" not in rules["health-and-reflection"]
        assert "/grpc.health.v1.Health/*" in rules["health-and-reflection"]["request"]["paths"]
        for r in policy["allow_rules"]:
            principals = r.get("source", {}).get("principals", [])
            if "spiffe://menu/gateway" in principals:
                for p in r["request"]["paths"]:
                    method = p.rsplit("/", 1)[1]
                    assert method.startswith(("Get", "List", "BatchGet")), (svc, p)
        assert "spiffe://menu/admin" in rules["admins"]["source"]["principals"]


def _policy_allows(policy, principal, path):
    """gRFC A43 for one call: deny rules first, then any allow rule whose principals and paths
    match ('abc*' prefix, '*abc' suffix, '*' any)."""
    def match(pattern, value):
        if pattern == "*":
            return True
        if pattern.endswith("*"):
            return value.startswith(pattern[:-1])
        if pattern.startswith("*"):
            return value.endswith(pattern[1:])
        return value == pattern

    def rule_matches(r):
        principals = r.get("source", {}).get("principals")
        if principals and not any(match(p, principal) for p in principals):
            return False
        return any(match(p, path) for p in r.get("request", {}).get("paths", ["*"]))

    if any(rule_matches(r) for r in policy.get("deny_rules", [])):
        return False
    return any(rule_matches(r) for r in policy.get("allow_rules", []))


def test_production_policies_allow_every_backend_call_the_gateway_makes():
    """Every method the gateway binds in gateway/backends.c (menus, revision polls) is allowed
    for spiffe://menu/gateway by that backend's shipped policy: a missing path would be
    PERMISSION_DENIED on every call in production only."""
    import json
    src = (ROOT / "gateway/backends.c").read_text()
    calls = re.findall(r'method_bind\(&b->\w+,\s*b->\w+,\s*"([\w-]+)",\s*&menu__v1__\w+__descriptor,'
                       r'\s*"\w+",\s*"(\w+)\.(\w+)"\)', src)
    assert len(calls) >= 3, "no backend methods found in gateway/backends.c"
    denied = []
    for backend, service, method in calls:
        policy = json.loads((ROOT / "deploy/k8s/overlays/production/authz" / f"{backend}.json").read_text())
        path = f"/menu.v1.{service}/{method}"
        if not _policy_allows(policy, "spiffe://menu/gateway", path):
            denied.append(f"{backend}: {path}")
    assert not denied, "the gateway's identity may not call: " + ", ".join(denied)
