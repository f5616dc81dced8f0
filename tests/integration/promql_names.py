"""(No tests here.) The metric names and label names a PromQL expression refers to, and the
metric families a Prometheus text exposition declares, for test_observability.py.

PromQL is parsed just far enough: string literals, range and subquery brackets, label matchers
and grouping clauses are taken out, then every identifier that is not a keyword, a function
or aggregation (followed by "(" or a grouping clause) or a number is a metric name. Grafana's
template functions (label_values(expr, label)) and variables ($job, $__rate_interval) are
handled as Grafana expands them."""

import re

IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "atan2", "inf", "nan"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'


def _strip_strings(expr):
    return re.sub(STRING, '""', expr)


def selectors(expr):
    """[(metric name or None, {label names used in its matchers})] of every vector selector."""
    out = []
    s = _strip_strings(expr)
    for m in re.finditer(r"(%s)?\s*\{([^}]*)\}" % IDENT, s):
        labels = set(re.findall(r"(%s)\s*(?:=~|!~|!=|=)" % IDENT, m.group(2)))
        name = m.group(1)
        if name and name.lower() in KEYWORDS | AGGREGATIONS:
            name = None
        out.append((name, labels))
    return out


def grouping_labels(expr):
    """Label names in by/without/on/ignoring/group_left/group_right clauses."""
    s = _strip_strings(expr)
    names = set()
    for m in re.finditer(GROUPING, s):
        names.update(x.strip() for x in m.group(1).split(",") if x.strip())
    return names


def metric_names(expr):
    """Every metric name `expr` selects (with its _bucket/_sum/_count suffix as written)."""
    s = _strip_strings(expr)
    s = re.sub(r"\[[^\]]*\]", " ", s)             # [5m], [$__rate_interval], [1h:5m]
    s = re.sub(r"\{[^}]*\}", " ", s)              # label matchers
    s = re.sub(GROUPING, " ", s)                  # by (job, le) ...
    s = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", s)  # offset 5m
    s = re.sub(r"\$\{?\w+\}?", " ", s)            # Grafana variables outside brackets
    names = set()
    for m in re.finditer(r"(?<![\w.$])(%s)" % IDENT, s):
        word = m.group(1)
        rest = s[m.end():].lstrip()
        if word.lower() in KEYWORDS:
            continue
        if rest.startswith("("):                  # a function or an aggregation
            continue
        if word in AGGREGATIONS and re.match(r"(by|without)\b", rest):
            continue
        names.add(word)
    return names


def grafana_queries(dashboard):
    """Every PromQL expression of a Grafana dashboard: panel targets (rows' panels too) and
    query variables (label_values(expr, label) -> expr; query_result(expr) -> expr)."""
    exprs = []

    def panels(ps):
        for p in ps:
            for t in p.get("targets", []):
                if t.get("expr"):
                    exprs.append(t["expr"])
            panels(p.get("panels", []))

    panels(dashboard.get("panels", []))
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.match(r"\s*label_values\((.*),\s*(%s)\s*\)\s*$" % IDENT, q, re.S)
        if m:
            exprs.append(m.group(1))
            continue
        m = re.match(r"\s*query_result\((.*)\)\s*$", q, re.S)
        exprs.append(m.group(1) if m else q)
    return exprs


def parse_exposition(text):
    """{family name: (type, set of label names seen on its series)} from the text format."""
    families = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (%s) (\w+)" % IDENT, line)
        if m:
            families.setdefault(m.group(1), (m.group(2), set()))
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"(%s)(\{(.*)\})?\s" % IDENT, line)
        if not m:
            continue
        name, labels = m.group(1), set(re.findall(r'(%s)="' % IDENT, m.group(3) or ""))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base in families and families[base][0] == "histogram":
            name = base
        families.setdefault(name, ("untyped", set()))[1].update(labels - {"le"})
    return families


def resolve(name, families):
    """The exported family `name` refers to, or None: a family itself, or a histogram's
    _bucket / _sum / _count series (a counter's or gauge's name never takes those)."""
    if name in families:
        return name
    m = re.match(r"(.*)_(bucket|sum|count)$", name)
    if m and families.get(m.group(1), ("",))[0] == "histogram":
        return m.group(1)
    return None
