"""What an operator meets first, on the real binaries: the version and git revision the start-up
log line reports."""

import re

from conftest import BUILD, ROOT


def built_revision():
    """The revision make compiled in (not today's HEAD: main may have moved since the build)."""
    return re.search(r'MENU_GIT_REVISION="([^"]*)"', (BUILD / "version.flags").read_text()).group(1)


def test_start_up_line_names_version_and_git_revision(start_service):
    svc = start_service("gateway")
    serving = [ln for ln in svc.log_lines() if ln.get("msg") == "serving"]
    assert len(serving) == 1, svc.log_text()
    assert serving[0]["version"] == (ROOT / "VERSION").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?|unknown", serving[0]["git_revision"])
    assert serving[0]["git_revision"] == built_revision()
