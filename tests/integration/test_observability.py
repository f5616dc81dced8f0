"""deploy/observability against the real binaries: every metric the Grafana dashboard and the
alert and recording rules name is exported by gateway, dynamo-svc or sql-svc (scraped from their
/metrics after a few real calls through the gateway, so series that only appear with traffic
exist), histogram suffixes only on histograms, and every label a selector or grouping clause
names is one the metric carries (or a label Prometheus adds to every target). Names from
kube-state-metrics and Prometheus itself are allowed from an explicit list only. The binaries run
with tracing on, exporting to a loopback port nothing listens on, so that the OTLP exporter's
otel_* counters (registered only when tracing is on) are checked too."""

import json
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml

from conftest import free_port, unary
from test_gateway_menu import dyn_env, sql_env  # noqa: F401 (module fixtures: demo data)
from promql_names import (grafana_queries, grouping_labels, metric_names, parse_exposition,
                          resolve, selectors)

from menu.v1 import common_pb2, menu_pb2  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "deploy" / "observability"

# Series that do not come from the binaries: Prometheus' own per-target series and
# kube-state-metrics (deploy/README.md "Observability" says both are needed).
EXTERNAL = {
    "up": {"job", "instance", "namespace", "pod", "service", "endpoint", "container"},
    "kube_pod_container_status_restarts_total": {"namespace", "pod", "container", "uid"},
}
# Labels Prometheus (ServiceMonitor discovery) attaches to every scraped series.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}


def rule_groups():
    doc = yaml.safe_load((OBS / "prometheus-rules.yaml").read_text())
    return doc["spec"]["groups"]


def recorded():
    """{name of a recording rule: the labels its result keeps (its by clause)}."""
    out = {}
    for g in rule_groups():
        for r in g["rules"]:
            if "record" in r:
                by = grouping_labels(r["expr"])
                out[r["record"]] = by
    return out


def expressions():
    """[(where, PromQL)] of the dashboard, the recording rules and the alerts."""
    out = []
    dash = json.loads((OBS / "grafana-dashboard.json").read_text())
    out += [("dashboard", e) for e in grafana_queries(dash)]
    for g in rule_groups():
        for r in g["rules"]:
            out.append((f'{g["name"]}/{r.get("alert") or r.get("record")}', r["expr"]))
    return out


# ---- the parser itself (no binaries) ---------------------------------------------------------

def test_promql_names_finds_metrics_not_functions_labels_or_keywords():
    e = ('histogram_quantile(0.99, sum by (job, le) (rate(grpc_server_handling_seconds_bucket'
         '{job=~"$job",grpc_service=~"menu\\\\.v1\\\\..+"}[$__rate_interval]))) > 1e3 '
         'and on (job) absent(up{job="x"}) or sum without (pod) (mysql_pool_in_use) / 2 '
         'unless max_over_time(a:b:c[5m] offset 1h)')
    assert metric_names(e) == {"grpc_server_handling_seconds_bucket", "up", "mysql_pool_in_use", "a:b:c"}
    assert grouping_labels(e) == {"job", "le", "pod"}
    assert ("grpc_server_handling_seconds_bucket", {"job", "grpc_service"}) in selectors(e)
    fam = parse_exposition('# TYPE h histogram\nh_bucket{a="1",le="0.1"} 1\nh_sum{a="1"} 1\n'
                           '# TYPE c counter\nc{b="x"} 3\n')
    assert fam == {"h": ("histogram", {"a"}), "c": ("counter", {"b"})}
    assert resolve("h_bucket", fam) == "h" and resolve("c_count", fam) is None


def test_every_rule_and_panel_has_an_expression_to_check():
    exprs = expressions()
    assert len([w for w, _ in exprs if w == "dashboard"]) >= 30
    for where, e in exprs:
        assert metric_names(e), f"{where}: no metric found in {e!r}"


# ---- against the running binaries -------------------------------------------------------------

@pytest.fixture(scope="module")
def scraped(sql_env, dyn_env):
    """{service: its /metrics text} of the three binaries, after real calls."""
    from conftest import Service

    # Tracing on, towards a collector that is not there: each export is refused at once,
    # dropped and counted (a call never waits for it); the time bound keeps shutdown short.
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
            "OTEL_BSP_EXPORT_TIMEOUT": "1000"}
    started = []
    try:
        dyn = Service("dynamo-svc", {**dyn_env, **otel})
        started.append(dyn)
        sql = Service("sql-svc", {**sql_env, **otel})
        started.append(sql)
        dyn.wait_ready(20), sql.wait_ready(20)
        gw = Service("gateway", {"DYNAMO_SVC_TARGET": f"dns:///{dyn.addr}",
                                 "SQL_SVC_TARGET": f"dns:///{sql.addr}", **otel})
        started.append(gw)
        gw.wait_ready(20)
        # A few real calls: menus (backends, DynamoDB, MySQL), one of them failing on a bad
        # argument, so the series that exist only after traffic are there too.
        with gw.channel() as ch:
            for store in ("R001", "R002", "R001"):
                req = menu_pb2.GetStoreMenuRequest(store_code=store, channel=common_pb2.CHANNEL_KIOSK)
                unary(ch, "/menu.v1.MenuService/GetStoreMenu", req, menu_pb2.GetStoreMenuResponse,
                      timeout=10)
            with pytest.raises(grpc.RpcError):
                unary(ch, "/menu.v1.MenuService/GetStoreMenu", menu_pb2.GetStoreMenuRequest(),
                      menu_pb2.GetStoreMenuResponse, timeout=10)
        texts = {}
        for svc in (gw, dyn, sql):
            with urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5) as resp:
                texts[svc.name] = resp.read().decode()
        yield texts
    finally:
        for svc in started:
            svc.stop()


@pytest.fixture(scope="module")
def exported(scraped):
    """{family: (type, label names)} over the three binaries."""
    families = {}
    for text in scraped.values():
        for name, (kind, labels) in parse_exposition(text).items():
            families.setdefault(name, (kind, set()))[1].update(labels)
    return families


def test_each_binary_exports_the_trace_exporter_counters(scraped):
    """Tracing is on in the scraped binaries, so the otel_* names of the dashboard and the rules
    are checked against what the exporter registers (with tracing off it registers nothing)."""
    for svc, text in scraped.items():
        fam = parse_exposition(text)
        for name in ("otel_spans_exported_total", "otel_spans_dropped_total",
                     "otel_export_failures_total", "otel_export_retries_total"):
            assert resolve(name, fam), f"{svc}: no {name} (tracing off?)"


def test_every_metric_in_dashboard_and_rules_is_exported(exported):
    rec = recorded()
    missing = []
    for where, e in expressions():
        for name in sorted(metric_names(e)):
            if name in EXTERNAL or name in rec:
                continue
            if resolve(name, exported) is None:
                missing.append(f"{where}: {name}")
    assert not missing, ("metrics no binary exports (renamed? a histogram suffix on a counter?):\n  "
                         + "\n  ".join(missing))


def test_every_label_in_dashboard_and_rules_exists_on_its_metric(exported):
    rec = recorded()

    def labels_of(name):
        if name in EXTERNAL:
            return EXTERNAL[name]
        if name in rec:
            return rec[name]
        fam = resolve(name, exported)
        if fam is None or not exported[fam][1]:
            return None  # no series yet: nothing to compare (the name test covers the name)
        return exported[fam][1] | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())

    wrong = []
    for where, e in expressions():
        known = set(TARGET_LABELS) | {"le"}
        unseen = False  # a metric without series yet: its labels are unknown
        for name in metric_names(e):
            got = labels_of(name)
            if got is None:
                unseen = True
            else:
                known |= got
        for name, labels in selectors(e):
            got = labels_of(name) if name else None
            if got is not None and labels - got:
                wrong.append(f"{where}: {name} has no label {sorted(labels - got)}")
        unknown = grouping_labels(e) - known
        if unknown and not unseen:
            wrong.append(f"{where}: grouping by {sorted(unknown)}, which none of its metrics has")
    assert not wrong, "\n  ".join(["labels that do not exist:"] + wrong)


def test_slo_latency_thresholds_are_bucket_bounds(scraped):
    """The latency SLO counts calls under le="0.25" at the gateway and le="0.1" at the backends:
    those bounds must be buckets of grpc_server_handling_seconds as each binary exports it, or
    the recording rules select nothing and the latency alerts can never fire."""
    text = (OBS / "prometheus-rules.yaml").read_text()
    for job, le in (("gateway", "0.25"), ("dynamo-svc", "0.1"), ("sql-svc", "0.1")):
        assert f'le="{le}"' in text
        lines = [x for x in scraped[job].splitlines()
                 if x.startswith("grpc_server_handling_seconds_bucket{") and 'grpc_service="menu.v1.' in x]
        assert lines, f"{job}: no menu.v1 call was measured"
        assert any(f'le="{le}"' in x for x in lines), f"{job}: no bucket le={le}"
