"""deploy/docker: checked statically, since CI has no container engine. Each binary's image
builds with the packages scripts/deps.sh installs for building, runs as a numeric non-root user
from /app/<binary>, and its runtime stage installs the Debian package of every shared library
the binary loads (ldd + dpkg -S on the binaries in build/bin).
Run: /usr/bin/python3 -m pytest -q tests/deploy"""
import functools
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
BIN_DIR = Path(os.environ.get("MENU_BIN_DIR") or ROOT / "build" / "bin")  # where make puts binaries
BINARIES = ["gateway", "dynamo-svc", "sql-svc"]
# What scripts/deps.sh installs for something other than compiling and linking the binaries.
NOT_FOR_BUILDING = {"clang-format", "libcmocka-dev", "mariadb-server", "mariadb-client", "nodejs",
                    "npm", "python3", "python3-grpcio", "python3-protobuf", "python3-pytest",
                    "python3-yaml", "python3-h2", "nghttp2-client", "curl", "ca-certificates", "procps",
                    "openssl", "python3-boto3", "prometheus"}


def stages(name):
    """[(from-line, [instructions])] of deploy/docker/<name>.Dockerfile, continuations joined."""
    text = (DOCKER / f"{name}.Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        if op.upper() == "FROM":
            out.append((rest.strip(), []))
        else:
            assert out, f"{name}.Dockerfile: {op} before FROM"
            out[-1][1].append((op.upper(), rest.strip()))
    return out


def apt_installed(instrs):
    """Packages named on the stage's `apt-get install` lines."""
    pkgs = []
    for op, rest in instrs:
        if op != "RUN":
            continue
        for cmd in re.split(r"&&|;", rest):
            words = shlex.split(cmd)
            if "apt-get" in words and "install" in words:
                i = words.index("install")
                pkgs += [w for w in words[i + 1:] if not w.startswith("-")]
    return pkgs


def deps_sh_debs():
    text = (ROOT / "scripts" / "deps.sh").read_text()
    m = re.search(r"^DEBS=\((.*?)^\)", text, re.S | re.M)
    assert m, "scripts/deps.sh: DEBS=( ... ) not found"
    return [w for line in m.group(1).splitlines() for w in line.split("#")[0].split()]


@pytest.mark.parametrize("name", BINARIES)
def test_build_stage_uses_the_project_build_packages(name):
    st = stages(name)
    assert len(st) == 2, f"{name}: a build stage and a runtime stage"
    frm, instrs = st[0]
    assert re.fullmatch(r"debian:bookworm(@sha256:[0-9a-f]{64})? AS build", frm, re.I), frm
    want = set(deps_sh_debs()) - NOT_FOR_BUILDING
    have = set(apt_installed(instrs))
    assert not want - have, f"{name}: build stage lacks {sorted(want - have)} (scripts/deps.sh builds with them)"
    assert any(op == "RUN" and re.search(rf"\bmake\b.*\bbuild/bin/{re.escape(name)}\b", r) for op, r in instrs), \
        f"{name}: build stage must run make build/bin/{name}"


@pytest.mark.parametrize("name", BINARIES)
def test_runtime_stage_is_slim_non_root_and_runs_the_binary(name):
    frm, instrs = stages(name)[1]
    assert re.fullmatch(r"debian:bookworm-slim(@sha256:[0-9a-f]{64})?", frm), frm
    pkgs = apt_installed(instrs)
    assert pkgs, "runtime stage installs its libraries with apt-get"
    dev = [p for p in pkgs if p.endswith("-dev") or p in ("build-essential", "gcc", "make", "pkg-config")]
    assert not dev, f"{name}: build tools in the runtime image: {dev}"
    runs = " ".join(r for op, r in instrs if op == "RUN")
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists" in runs
    copies = [r for op, r in instrs if op == "COPY"]
    assert f"--from=build /src/build/bin/{name} /app/{name}" in copies
    users = [r for op, r in instrs if op == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), \
        f"{name}: final USER must be numeric and non-root (runAsNonRoot checks the number)"
    assert [r for op, r in instrs if op == "ENTRYPOINT"] == [f'["/app/{name}"]'], "exec-form ENTRYPOINT, no shell"
    last_user = max(i for i, (op, _) in enumerate(instrs) if op == "USER")
    assert not any(op == "RUN" for op, _ in instrs[last_user:]), "nothing runs as the service user at build time"
    if name == "sql-svc":
        assert "services/sql-svc/migrations /app/migrations" in copies
        envs = " ".join(r for op, r in instrs if op == "ENV")
        assert "MIGRATIONS_DIR=/app/migrations" in envs


@pytest.mark.parametrize("name", BINARIES)
def test_build_context_excludes_host_outputs(name):
    """The context is the repository root: build/ and .local/ must stay out, or the image would
    reuse objects built on the host (different libraries, stale)."""
    ign = [ln.strip() for ln in (DOCKER / f"{name}.Dockerfile.dockerignore").read_text().splitlines()
           if ln.strip() and not ln.lstrip().startswith("#")]
    assert ign[0] == "*", "allow-list: start by excluding everything"
    allowed = {p.lstrip("!").rstrip("/") for p in ign if p.startswith("!")}
    assert not allowed & {"build", ".local", ".git", "."}, allowed
    for op, rest in [i for _, instrs in stages(name) for i in instrs if i[0] == "COPY"]:
        src = rest.split()[0]
        if not src.startswith("--from"):
            top = src.split("/")[0]
            assert top in allowed or src in allowed or top in ("Makefile", "./"), \
                f"COPY {src} is excluded by the dockerignore"
            assert (ROOT / src).exists(), f"COPY {src}: missing in the repository"


def test_sql_svc_migrations_ship():
    sql = sorted((ROOT / "services/sql-svc/migrations").glob("*.sql"))
    if not sql:
        pytest.skip("services/sql-svc/migrations has no .sql yet")
    assert all(re.match(r"\d{3}_\w+\.sql$", p.name) for p in sql), [p.name for p in sql]


# ---- runtime libraries vs. the runtime stage -------------------------------------------------

@functools.lru_cache(maxsize=None)
def dpkg_status():
    """{package: (essential_or_required, [[alternatives of one dependency], ...])} for installed
    packages (the same Debian release as the images)."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${Package}\t${db:Status-Abbrev}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\t${Provides}\n"],
                         capture_output=True, text=True, check=True).stdout
    pk, provides = {}, {}
    for line in out.splitlines():
        name, status, ess, prio, deps, prov = line.split("\t")
        if not status.startswith("ii"):
            continue
        groups = []
        for d in deps.split(","):
            alts = [re.sub(r"[\s(:].*", "", a.strip()) for a in d.split("|")]
            alts = [a for a in alts if a]
            if alts:
                groups.append(alts)
        pk[name] = (ess == "yes" or prio == "required", groups)
        for p in prov.split(","):
            p = re.sub(r"[\s(].*", "", p.strip())
            if p:
                provides.setdefault(p, []).append(name)
    return pk, provides


def closure(roots, pk, provides):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen or p not in pk:
            continue
        seen.add(p)
        for alts in pk[p][1]:
            for a in alts:  # the first alternative that is installed (what apt would pick here)
                cand = [a] if a in pk else provides.get(a, [])
                if cand:
                    todo.extend(cand[:1])
                    break
    return seen


def owners(paths):
    """{path: Debian package that ships it} in one dpkg call; each path is tried in its
    merged-/usr spellings too (dpkg records /lib/... or /usr/lib/... as the package shipped it)."""
    spellings = {}
    for path in paths:
        real = os.path.realpath(path)
        for s in (path, real, re.sub(r"^/usr", "", real), real if real.startswith("/usr") else "/usr" + real):
            spellings.setdefault(s, path)
    r = subprocess.run(["dpkg", "-S", *spellings], capture_output=True, text=True)
    found = {}
    for line in r.stdout.splitlines():
        m = re.match(r"([^:\s,]+)(?::\S+)?(?:, [^:]+)*: (/.*)$", line)
        if m and m.group(2) in spellings:
            found.setdefault(spellings[m.group(2)], m.group(1))
    return found


def loaded_libraries(binary):
    """[(soname, path)] as ldd resolves them; fails on 'not found'."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            assert m.group(2) != "not", f"{binary.name}: {m.group(1)} not found"
            libs.append((m.group(1), m.group(2)))
    return libs


def needed(binary):
    out = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\).*\[(.+)\]", out)


@pytest.mark.parametrize("name", BINARIES)
def test_runtime_stage_installs_every_library_the_binary_loads(name):
    binary = BIN_DIR / name
    if not binary.exists():
        pytest.skip(f"build/bin/{name} not built (make build/bin/{name}); library check skipped")
    pk, provides = dpkg_status()
    listed = set(apt_installed(stages(name)[1][1]))
    # What debian:bookworm-slim already has: the essential and required packages and their
    # dependencies (libc6 among them).
    base = closure({p for p, (req, _) in pk.items() if req}, pk, provides)
    available = closure(listed | base, pk, provides)
    direct = set(needed(binary))
    problems = []
    libs = loaded_libraries(binary)
    pkg_of = owners([path for _, path in libs])
    for soname, path in libs:
        pkg = pkg_of.get(path)
        if pkg is None:
            problems.append(f"{soname} ({path}) belongs to no Debian package")
        elif pkg not in available:
            problems.append(f"{soname}: package {pkg} is not installed by the runtime stage")
        elif soname in direct and pkg not in listed and pkg not in base:
            # Linked directly: name it, rather than rely on another package depending on it.
            problems.append(f"{soname}: the binary links it directly; list {pkg} in the runtime stage")
    assert not problems, f"deploy/docker/{name}.Dockerfile:\n  " + "\n  ".join(problems)


# ---- build-images.sh -------------------------------------------------------------------------

def build_images(*args, **env):
    return subprocess.run([str(ROOT / "deploy/build-images.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, "DRY_RUN": "1", **env}, timeout=60)


def test_build_images_builds_each_binary_with_its_dockerfile():
    p = build_images("--push", REGISTRY="registry.example:5000/team", TAG="1.2.3")
    assert p.returncode == 0, p.stderr
    builds = [shlex.split(line) for line in p.stdout.splitlines() if " build " in line]
    pushes = [line.split()[-1] for line in p.stdout.splitlines() if " push " in line]
    assert len(builds) == 3
    for name, cmd in zip(BINARIES, builds):
        image = f"registry.example:5000/team/menu-{name}:1.2.3"
        assert cmd[cmd.index("-f") + 1] == f"deploy/docker/{name}.Dockerfile"
        assert cmd[cmd.index("-t") + 1] == image and cmd[-1] == "."
        assert image in pushes
    p = build_images("--local")
    assert p.returncode == 0 and "localhost:5001/menu-dynalite:dev" in p.stdout


@pytest.mark.parametrize("tag", ["latest", "V1", "1_2", ""])
def test_build_images_rejects_tags_the_manifests_cannot_use(tag):
    p = build_images(TAG=tag)
    if tag == "":  # unset means the default tag
        assert p.returncode == 0 and ":dev" in p.stdout
    else:
        assert p.returncode == 2 and "TAG" in p.stderr
