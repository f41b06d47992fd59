"""The generated README tells the truth about `make dev` and `make test`."""

from __future__ import annotations

import re
from pathlib import Path


def test_every_variable_make_dev_reads_is_documented_with_its_default(default_project: Path) -> None:
    runner = (default_project / "scripts" / "dev.py").read_text()
    read = dict(re.findall(r'_env_int\("(DEV_[A-Z_]+)", (\d+)\)', runner))
    assert {"DEV_GATEWAY_PORT", "DEV_TLS_PORT", "DEV_ADMIN_PORT", "DEV_BASE_PORT"} <= read.keys()
    read.update(re.findall(r'os\.environ\.get\("(DEV_[A-Z_]+)", ROOT / "([^"]+)"\)', runner))
    assert "DEV_WORKDIR" in read
    readme = (default_project / "README.md").read_text()
    documented = dict(re.findall(r"^\| `(DEV_[A-Z_]+)` \| `([^`]*)` \|", readme, re.M))
    assert documented == read
    # `make dev` takes them as make variables, so the README's example must work as written.
    assert "make dev DEV_GATEWAY_PORT=" in readme
    assert "--gateway-port" not in readme


def test_make_test_time_is_stated_for_two_cores(default_project: Path) -> None:
    first_block = (default_project / "README.md").read_text().split("```")[1]
    assert re.search(r"make test .*\(\d+-\d+ s on 2 cores\)", first_block), first_block
