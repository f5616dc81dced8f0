"""deploy/observability: the alert and recording rules pass `promtool check rules` and the alert
unit tests in prometheus-rules.test.yaml (`promtool test rules`), every alert has a severity, a
summary, a description and a runbook section that exists, the Grafana dashboard is well formed,
and the ServiceMonitors scrape exactly the metrics port of each service with job = its name.
(That every metric named in the rules and the dashboard is exported by the binaries is
tests/integration/test_observability.py.)  Run: /usr/bin/python3 -m pytest -q tests/deploy"""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from k8s_model import ROOT, SERVICES, container_env, find, kubectl_problem, one, port_of, render, \
    selector_matches

OBS = ROOT / "deploy" / "observability"
PROMTOOL = shutil.which("promtool")
ALERTS_REQUIRED = {
    "MenuErrorBudgetBurnFast", "MenuErrorBudgetBurnSlow", "MenuLatencyBudgetBurnFast",
    "MenuLatencyBudgetBurnSlow", "MenuMethodErrorRatioHigh", "MenuDynamoDBThrottling",
    "MenuDynamoDBRetriesHigh", "MenuMySQLPoolSaturated", "MenuMySQLPoolAcquireTimeouts",
    "MenuAdmissionRejections", "MenuPodRestarting", "MenuTargetDown", "MenuServiceDown",
    "MenuDependencyDown", "MenuTraceSpansDropped",
}


def rule_doc():
    return yaml.safe_load((OBS / "prometheus-rules.yaml").read_text())


def alerts():
    return [r for g in rule_doc()["spec"]["groups"] for r in g["rules"] if "alert" in r]


def need_promtool():
    if not PROMTOOL:
        pytest.fail("promtool not found: `make deps` installs Debian's prometheus package, which has it")


@pytest.fixture
def rule_file(tmp_path):
    """The PrometheusRule's spec as the plain rule file Prometheus (and promtool) reads."""
    doc = rule_doc()
    assert doc["apiVersion"] == "monitoring.coreos.com/v1" and doc["kind"] == "PrometheusRule"
    f = tmp_path / "prometheus-rules.yml"
    f.write_text(yaml.safe_dump(doc["spec"], sort_keys=False))
    return f


def test_promtool_check_rules(rule_file):
    need_promtool()
    p = subprocess.run([PROMTOOL, "check", "rules", str(rule_file)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    n = sum(len(g["rules"]) for g in rule_doc()["spec"]["groups"])
    assert f"SUCCESS: {n} rules found" in p.stdout


def test_promtool_alert_unit_tests(rule_file):
    """tests/deploy/prometheus-rules.test.yaml: series in, alerts (labels and annotations) out."""
    need_promtool()
    shutil.copy(ROOT / "tests/deploy/prometheus-rules.test.yaml", rule_file.parent / "test.yaml")
    p = subprocess.run([PROMTOOL, "test", "rules", "test.yaml"], capture_output=True, text=True,
                       timeout=120, cwd=rule_file.parent)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def runbook_anchors():
    """GitHub's anchors of RUNBOOK.md's headings."""
    out = set()
    for line in (OBS / "RUNBOOK.md").read_text().splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def test_every_alert_has_severity_text_and_a_runbook_section():
    anchors = runbook_anchors()
    runbook = (OBS / "RUNBOOK.md").read_text()
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    assert ALERTS_REQUIRED <= set(names), f"missing alerts: {ALERTS_REQUIRED - set(names)}"
    problems = []
    for a in alerts():
        name = a["alert"]
        if a.get("labels", {}).get("severity") not in ("critical", "warning"):
            problems.append(f"{name}: severity must be critical or warning")
        ann = a.get("annotations", {})
        for k in ("summary", "description", "runbook_url"):
            if not ann.get(k):
                problems.append(f"{name}: no {k} annotation")
        url = ann.get("runbook_url", "")
        m = re.fullmatch(r"deploy/observability/RUNBOOK\.md#([\w-]+)", url)
        if not m or m.group(1) not in anchors:
            problems.append(f"{name}: runbook_url {url!r} is not a section of RUNBOOK.md")
        if name not in runbook:
            problems.append(f"{name}: RUNBOOK.md does not name it")
        if not re.fullmatch(r"\d+[smh]", a.get("for", "0s")) and "absent" not in a["expr"]:
            problems.append(f"{name}: no `for` duration")
    assert not problems, "\n".join(problems)


def test_burn_rate_alerts_pair_a_long_and_a_short_window():
    """Multi-window burn rates: each condition is a long window AND a short one (1/12 of it)."""
    for a in alerts():
        if "BudgetBurn" not in a["alert"]:
            continue
        windows = re.findall(r":ratio_rate(\w+) >", a["expr"])
        pairs = list(zip(windows[::2], windows[1::2]))
        assert pairs in ([("1h", "5m"), ("6h", "30m")], [("1d", "2h"), ("3d", "6h")]), (a["alert"], pairs)


def test_dashboard_is_well_formed():
    dash = json.loads((OBS / "grafana-dashboard.json").read_text())
    assert dash["uid"] == "menu-services" and dash["title"]
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names[:3] == ["datasource", "namespace", "job"]
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells = {}
    titles = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, f"{p['title']}: outside the 24 columns"
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        if p["type"] == "row":
            continue
        assert p["title"] not in titles, f"two panels titled {p['title']}"
        titles.add(p["title"])
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
        for t in p["targets"]:
            # Every query is scoped to the chosen namespace (and service, where per service).
            assert '$namespace' in t["expr"], f"{p['title']}: {t['expr']}"


# ---- as the overlays render it ---------------------------------------------------------------

@pytest.fixture(scope="module")
def production():
    why = kubectl_problem()
    if why:
        pytest.skip(why)
    return render("production")


def test_servicemonitors_scrape_each_metrics_port_with_job_the_service_name(production):
    objs = production
    for svc, (_, metrics_port) in SERVICES.items():
        sm = one(objs, "ServiceMonitor", svc)
        assert sm["metadata"]["namespace"] == "menu"
        ep = sm["spec"]["endpoints"]
        assert len(ep) == 1 and ep[0]["port"] == "metrics" and ep[0].get("path", "/metrics") == "/metrics"
        chosen = [s for s in find(objs, "Service")
                  if selector_matches(sm["spec"]["selector"], s["metadata"].get("labels", {}))
                  and any(p.get("name") == ep[0]["port"] for p in s["spec"]["ports"])]
        assert [s["metadata"]["name"] for s in chosen] == [f"{svc}-metrics"], chosen
        s = chosen[0]
        # job = the Service's jobLabel value: the name the rules and the dashboard use.
        assert s["metadata"]["labels"][sm["spec"]["jobLabel"]] == svc
        port = [p for p in s["spec"]["ports"] if p["name"] == "metrics"][0]
        d = one(objs, "Deployment", svc)
        assert selector_matches({"matchLabels": s["spec"]["selector"]}, d["spec"]["template"]["metadata"]["labels"])
        c = [c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == svc][0]
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert named[port["targetPort"]] == metrics_port == port_of(container_env(objs, c)["METRICS_ADDR"])
        assert s["spec"].get("clusterIP") == "None", "scrapers talk to each pod"


def test_rules_and_dashboard_reach_the_cluster_unchanged(production):
    objs = production
    rule = one(objs, "PrometheusRule", "menu")
    assert rule["spec"] == rule_doc()["spec"]
    cm = one(objs, "ConfigMap", "menu-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["menu.json"]) == json.loads((OBS / "grafana-dashboard.json").read_text())


def test_the_base_and_local_overlay_need_no_operator_crds():
    """Clusters without the Prometheus Operator apply the base and the local overlay as they are:
    no monitoring.coreos.com object there (the metrics Services are plain Services)."""
    why = kubectl_problem()
    if why:
        pytest.skip(why)
    objs = render("local")
    assert not [o for o in objs if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {f"{s}-metrics" for s in SERVICES} <= {s["metadata"]["name"] for s in find(objs, "Service")}
