"""The README's quick start, as a new user types it: command 1 in a clean virtualenv made from the
system Python, in a fresh HOME, ending with the stack up (``make dev`` started and stopped here,
bounded in time, on free ports); command 2 from another directory.

The commands are read from the README itself, so the README and this test cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import REPO_ROOT, require_tool, run
from .test_e2e_default import _free_block, _stop_group

README = REPO_ROOT / "README.md"


def quick_start() -> tuple[str, str]:
    """The two commands of the README's first bash block (comments and blank lines dropped)."""
    block = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert block, "README.md has no bash block"
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    return commands[0], commands[1]


def test_quick_start_commands_have_the_promised_shape() -> None:
    first, second = quick_start()
    assert first.startswith("cd ~/msmvp && python3 -m venv .venv && . .venv/bin/activate && ")
    assert first.endswith(" && make dev")
    # Command 2 names the checkout, so the directory command 1 left the shell in does not matter.
    assert second.startswith(("make -C ~/msmvp ", "cd ~/msmvp && "))


def _checkout_copy(dest: Path) -> None:
    """The files of this checkout that a clone would have (tracked, or new and not ignored)."""
    listed = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT)
    if listed.returncode != 0:  # not a git checkout (an sdist): copy without local state
        shutil.copytree(REPO_ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__"))
        return
    for rel in filter(None, listed.stdout.split("\0")):
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _system_env(home: Path) -> dict[str, str]:
    """The environment of a fresh login: the system Python first on PATH, no virtualenv active."""
    base_python = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    path = os.pathsep.join([str(base_python.parent), "/usr/local/bin", "/usr/bin", "/bin"])
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "HOME": str(home), "PATH": path}


@pytest.mark.slow
def test_readme_command_1_ends_with_the_stack_running_and_command_2_runs_from_anywhere(tmp_path: Path) -> None:
    require_tool("git")
    require_tool("make")
    first, second = quick_start()
    home = tmp_path / "home"
    (home / "msmvp").mkdir(parents=True)
    _checkout_copy(home / "msmvp")
    env = _system_env(home)

    # Command 1 up to `make dev`, exactly as written.
    setup = first.removesuffix(" && make dev")
    started = time.monotonic()
    result = run(["bash", "-c", setup], cwd=home, env=env, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    print(f"quick start before `make dev`: {time.monotonic() - started:.0f} s")
    venv = home / "msmvp" / ".venv"
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()  # a clean one
    shop = home / "shop"
    assert (shop / "msmvp.yaml").is_file()

    # Then `make dev` as the activated shell would run it, on free ports, stopped by PID.
    ports = _free_block(8)
    dev_env = {
        **env,
        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "DEV_BASE_PORT": str(ports),
        "DEV_GATEWAY_PORT": str(ports + 5),
        "DEV_ADMIN_PORT": str(ports + 6),
        "DEV_TLS_PORT": str(ports + 7),
    }
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["make", "dev"], cwd=shop, env=dev_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while "is up in" not in log.read_text():
            assert proc.poll() is None, f"make dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"the stack was not up in 90 s:\n{log.read_text()[-4000:]}"
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{ports + 5}/healthz", timeout=10).status_code == 200
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as the README says
        proc.wait(timeout=20)
    finally:
        _stop_group(proc)

    # Command 2 from the directory command 1 left the shell in: a dry run shows it works on the
    # checkout and its virtualenv, not on the generated project.
    dry = run(["bash", "-c", second.replace("make ", "make -n ", 1)], cwd=shop, env=env, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert ".venv/bin/python -m pytest" in dry.stdout, dry.stdout
    assert "install-tools.sh" in dry.stdout
