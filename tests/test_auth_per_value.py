"""Each auth value's gateway docs and local tooling say what that value does, and only that.

Rendered per value and checked on the artifact: the gateway docs name `JWT_SECRET` and HS256 only
for `jwt`, print the issuer the gateway config carries for `oidc` (the same value as the config,
not a second placeholder), nginx resolves the issuer's JWKS through the DNS of the runtime it is
deployed on (`nginx -t` on the result); `make api-key` writes the keys file `make dev` hands to
the services, also with another DEV_WORKDIR. (Terraform per auth value: test_artifacts_iac.py.)
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import _render, run
from .test_gateway_nginx import _js_module, _nginx, check_container_config

GATEWAYS = ["envoy", "nginx", "traefik"]
AUTHS = ["api-key", "jwt", "oidc"]
# Where each gateway's config carries the issuer (oidc).
ISSUER_IN_CONFIG = {
    "envoy": lambda text: re.search(r"issuer: (\S+)", text),
    "nginx": lambda text: re.search(r'js_var \$token_issuer "([^"]+)"', text),
}
CONFIG = {"envoy": "gateway/envoy.yaml", "nginx": "gateway/nginx.conf"}


@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_gateway_docs_describe_only_the_chosen_auth(gateway: str, auth: str, tmp_path: Path) -> None:
    project = _render(tmp_path / "shop", gateway=gateway, auth=auth)
    docs = (project / "docs" / "gateway.md").read_text()
    assert ("JWT_SECRET" in docs) == (auth == "jwt"), docs
    assert ("HS256" in docs) == (auth == "jwt"), docs
    assert "127.0.0.11" not in docs or "Compose" in docs
    if auth == "oidc" and gateway in ISSUER_IN_CONFIG:
        found = ISSUER_IN_CONFIG[gateway]((project / CONFIG[gateway]).read_text())
        assert found is not None
        assert f"`{found.group(1)}`" in docs, "the docs do not name the issuer the config carries"


@pytest.mark.parametrize(("deploy", "resolver"), [("kubernetes", "kube-dns.kube-system"), ("compose", "127.0.0.11")])
def test_nginx_resolves_the_jwks_host_through_the_runtimes_dns(deploy: str, resolver: str, tmp_path: Path) -> None:
    project = _render(tmp_path / "shop", gateway="nginx", auth="oidc", deploy=deploy)
    source = (project / "gateway" / "nginx.conf").read_text()
    (line,) = [line for line in source.splitlines() if line.strip().startswith("resolver ")]
    assert resolver in line
    docs = (project / "docs" / "gateway.md").read_text()
    assert resolver in docs
    if deploy == "kubernetes":
        assert "127.0.0.11" not in source and "127.0.0.11" not in docs
    nginx = _nginx()
    module = _js_module(project, nginx)
    # nginx resolves the resolver's name while checking; the cluster's does not exist here.
    local = source.replace("kube-dns.kube-system.svc.cluster.local", "127.0.0.1")
    check_container_config(nginx, project, local, module, tmp_path / "check")


def test_make_api_key_and_make_dev_use_the_same_keys_file(tmp_path: Path) -> None:
    project = _render(tmp_path / "shop", auth="api-key")
    env = {k: v for k, v in os.environ.items() if k != "API_KEYS_FILE"}
    env["DEV_WORKDIR"] = "elsewhere/dev"  # relative: to the repo, where make runs
    created = run(
        [sys.executable, "scripts/api_key.py", "create", "--role", "reader", "--owner", "alice"],
        cwd=project,
        env=env,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    key_id = re.search(r"ak_([0-9a-f]{12})_", created.stdout)
    assert key_id is not None, created.stdout
    # The file the dev runner gives every service (API_KEYS_FILE), with the same environment.
    probe = (
        "import os, sys; from pathlib import Path; sys.path.insert(0, os.getcwd());"
        "from scripts import credentials, dev;"
        "workdir = dev.main.__globals__['Path'](os.environ['DEV_WORKDIR']);"
        "print(credentials.service_env(dev.Stack(workdir=workdir))['API_KEYS_FILE'])"
    )
    served = run([sys.executable, "-c", probe], cwd=project, env=env)
    assert served.returncode == 0, served.stderr
    keys_file = Path(served.stdout.strip())
    assert keys_file == (project / "elsewhere" / "dev" / "api-keys.json").resolve()
    assert key_id.group(1) in json.loads(keys_file.read_text())["keys"]
    assert not (project / ".dev" / "api-keys.json").exists()
    assert "DEV_WORKDIR" in yaml.safe_dump((project / "mk" / "auth.mk").read_text())
