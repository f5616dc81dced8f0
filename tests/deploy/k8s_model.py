"""Helpers for the deploy tests: render a kustomize overlay, look objects up, resolve a
container's environment, and decide whether NetworkPolicies allow a connection."""
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["local", "production"]
SERVICES = {  # name -> gRPC port, metrics port
    "gateway": (50051, 9451),
    "dynamo-svc": (50052, 9452),
    "sql-svc": (50053, 9453),
}
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl") or "/usr/bin/kubectl"
# The oldest kustomize the overlays are supported with (deploy/README.md "Requirements"):
# kubectl 1.27 embeds v5.0.1. Debian bookworm's kubectl 1.20 (kustomize v2) cannot render them.
MIN_KUSTOMIZE = (5, 0, 0)
RECOMMENDED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                      "app.kubernetes.io/version", "app.kubernetes.io/component",
                      "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")


def kubectl_problem():
    """Why the manifest tests cannot run with this kubectl, or None when they can."""
    if not os.path.exists(KUBECTL):
        return "kubectl not found: the manifest tests need `kubectl kustomize`"
    p = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True,
                       text=True, timeout=60)
    try:
        info = json.loads(p.stdout)
    except ValueError:
        info = {}
    client = info.get("clientVersion", {}).get("gitVersion", "unknown")
    kv = info.get("kustomizeVersion", "")
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", kv)
    if not m or tuple(int(x) for x in m.groups()) < MIN_KUSTOMIZE:
        want = ".".join(map(str, MIN_KUSTOMIZE))
        return (f"kubectl {client} embeds kustomize {kv or '(none reported)'}; the overlays need "
                f"kustomize v{want} or newer (kubectl 1.27+, deploy/README.md \"Requirements\")")
    return None


def render(overlay):
    """Objects of `kubectl kustomize deploy/k8s/overlays/<overlay>`; raises with kubectl's
    message when the overlay does not build."""
    p = subprocess.run([KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"kubectl kustomize overlays/{overlay} failed:\n{p.stderr}")
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def find(objs, kind, name=None):
    out = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return out


def one(objs, kind, name):
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_templates(objs):
    """(object, pod spec, pod metadata) for every workload that creates pods."""
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            t = o["spec"]["template"]
            yield o, t["spec"], t.get("metadata", {})


def configmap_by_prefix(objs, name):
    """The ConfigMap generated as `name` (kustomize appends a hash)."""
    return one(objs, "ConfigMap", name)


def container_env(objs, container):
    """A container's environment as the kubelet builds it: envFrom ConfigMaps (values) and
    Secrets (marked '<secret:NAME>'), then env entries (valueFrom marked likewise)."""
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(one(objs, "ConfigMap", src["configMapRef"]["name"]).get("data", {}))
        elif "secretRef" in src:
            name = src["secretRef"]["name"]
            for s in find(objs, "Secret", name):
                for k in list(s.get("data", {})) + list(s.get("stringData", {})):
                    env[k] = f"<secret:{name}>"
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            env[e["name"]] = "<valueFrom>"
    return env


def volume_for_path(pod_spec, container, path):
    """The pod volume whose mount contains file `path`, or None."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/") + "/"
        if path.startswith(mp) and (best is None or len(mp) > len(best[0])):
            best = (mp, m["name"])
    if not best:
        return None
    for v in pod_spec.get("volumes", []):
        if v["name"] == best[1]:
            return v
    return None


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def image_tag(image):
    """Tag of an image reference, '' when it has none (a registry port is not a tag)."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "@" + last.split("@", 1)[1]
    return last.split(":", 1)[1] if ":" in last else ""


# ---- NetworkPolicy evaluation ---------------------------------------------------------------

def selector_matches(sel, labels):
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        has, val = e["key"] in labels, labels.get(e["key"])
        op = e["operator"]
        if op == "In" and val not in e["values"]:
            return False
        if op == "NotIn" and has and val in e["values"]:
            return False
        if op == "Exists" and not has:
            return False
        if op == "DoesNotExist" and has:
            return False
    return True


class Endpoint:
    """A traffic end: a pod (namespace name + labels, pod labels) or an outside address."""

    def __init__(self, ns=None, ns_labels=None, pod_labels=None, ip=None):
        self.ns, self.pod_labels, self.ip = ns, pod_labels, ip
        self.ns_labels = dict(ns_labels or {})
        if ns:
            self.ns_labels.setdefault("kubernetes.io/metadata.name", ns)


def _peer_matches(peer, ep, policy_ns):
    if "ipBlock" in peer:
        # Only outside addresses: whether ipBlock matches pod IPs differs between CNIs.
        if ep.ip is None:
            return False
        net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        addr = ipaddress.ip_address(ep.ip)
        return addr in net and not any(addr in ipaddress.ip_network(x)
                                       for x in peer["ipBlock"].get("except", []))
    if ep.pod_labels is None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], ep.ns_labels):
            return False
    elif ep.ns != policy_ns:
        return False
    return selector_matches(peer.get("podSelector", {}), ep.pod_labels)


def _port_matches(ports, port, proto):
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == proto and p.get("port") in (None, port) for p in ports)


def _direction_allows(policies, pod, other, port, proto, direction):
    """Whether the policies selecting `pod` let traffic of `direction` through; a pod no
    policy of that type selects is unrestricted in that direction."""
    key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if p["metadata"]["namespace"] == pod.ns
                 and direction in p["spec"].get("policyTypes", ["Ingress"])
                 and selector_matches(p["spec"]["podSelector"], pod.pod_labels)]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get(key) or []:
            peers = rule.get(peer_key)
            if (not peers or any(_peer_matches(x, other, p["metadata"]["namespace"]) for x in peers)) \
                    and _port_matches(rule.get("ports"), port, proto):
                return True
    return False


def allowed(objs, src, dst, port, proto="TCP"):
    """Whether a connection src -> dst:port is allowed by the rendered NetworkPolicies."""
    pols = find(objs, "NetworkPolicy")
    ok_out = src.pod_labels is None or _direction_allows(pols, src, dst, port, proto, "Egress")
    ok_in = dst.pod_labels is None or _direction_allows(pols, dst, src, port, proto, "Ingress")
    return ok_out and ok_in


# ---- schema validation ----------------------------------------------------------------------

def validate_schemas(objs, tmp_path):
    """Runs validate_k8s.mjs; returns {"Kind/name": [errors]} for objects with errors."""
    node = shutil.which("node")
    if not node:
        raise AssertionError("node not found: schema validation needs it (scripts/deps.sh)")
    f = tmp_path / "objects.json"
    f.write_text(json.dumps(objs))
    p = subprocess.run([node, str(Path(__file__).with_name("validate_k8s.mjs")), str(f)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"validate_k8s.mjs failed ({p.returncode}): {p.stderr}")
    res = json.loads(p.stdout)
    assert res["types"] > 500, "type declarations not found: is kubernetes-models complete?"
    return {f'{r["kind"]}/{r["name"]}': r["errors"] for r in res["results"] if r["errors"]}
