# ee-builder: build, test and benchmark an AWX Execution Environment.
#   make build     compose + build the image from ee-builder.yml / execution-environment.yml
#   make test      unit and integration tests (real engine, real images)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SETTINGS ?= ee-builder.yml
PYTEST_ARGS ?=

.PHONY: build context publish verify verify-soak ci test test-host test-settings unit bench bench-jobs inspect host engine venv venv-test venv-receptorctl clean \
	cluster-up cluster-down cluster-status

# BUILD_ARGS: more `ee-builder build` options, e.g. --cache-from-registry --cache-to-registry.
BUILD_ARGS ?=
build: host venv
	$(BIN)/ee-builder build --settings $(SETTINGS) $(BUILD_ARGS)

context: venv
	$(BIN)/ee-builder context --settings $(SETTINGS)

# Gate the built image and push it to publish.repository (uncomment publish: in ee-builder.yml
# first; credentials from EE_REGISTRY_USERNAME/EE_REGISTRY_PASSWORD or `docker login`).
publish: venv
	$(BIN)/ee-builder publish --settings $(SETTINGS)

# The test settings: ee-builder.yml publishing to the local test registry (tests/harness/settings.py),
# written next to it so its relative paths hold; not committed.
TEST_SETTINGS := ee-builder.test.yml

test-settings: host venv-test
	$(BIN)/python -m tests.harness.settings > $(TEST_SETTINGS)

# What the CI templates (ci-templates/) run, on this machine, publishing with the test settings
# to the local TLS registry of tests/harness/cluster/ with its generated credentials.
ci: SETTINGS = $(TEST_SETTINGS)
ci: test-settings cluster-up
	$(REGISTRY_CREDENTIALS) $(MAKE) build test SETTINGS=$(SETTINGS) BUILD_ARGS="--cache-from-registry --cache-to-registry"
	$(BIN)/ee-builder check --settings $(SETTINGS)
	$(REGISTRY_CREDENTIALS) $(BIN)/ee-builder publish --settings $(SETTINGS)
	$(BIN)/ee-builder awx objects --settings $(SETTINGS) -o awx

# The local registry's generated credentials, as the environment of one command (each its own
# line: `make -n` runs a line that calls $(MAKE), and must not run a publish with it).
REGISTRY_CREDENTIALS = EE_REGISTRY_USERNAME=$$($(BIN)/python -m tests.harness.cluster credential username) \
	EE_REGISTRY_PASSWORD=$$($(BIN)/python -m tests.harness.cluster credential password)

inspect: venv
	$(BIN)/ee-builder inspect $(IMAGE)

# Jobs against the built image the way AWX runs them (receptor from receptor.binary, PATH or the
# image; your cluster from $$KUBECONFIG). More options: VERIFY_ARGS="--namespace awx --silence 300".
VERIFY_ARGS ?=
verify: venv
	$(BIN)/ee-builder verify --settings $(SETTINGS) $(VERIFY_ARGS)

test: test-host venv-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The long soaks `make test` leaves out (pytest marker "soak"): a job silent for 10 minutes behind
# an idle-cutting proxy, kept alive by the keepalive.
verify-soak: test-host venv-test
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

unit: venv-test
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# BENCH_PARTS=local or fresh runs one half (bench/build_bench.py); fresh needs `make cluster-up`'s registry.
bench: test-host venv-test
	$(BIN)/python -m bench.build_bench

# Jobs through receptor and the pod against `docker run` of the same image: per-job time, event
# throughput (~110 MB), 20 jobs at once (bench/jobs_bench.py). Needs `make cluster-up` and
# `make build`; EE_RECEPTOR=/path/to/receptor uses a real receptor instead of the stand-in.
bench-jobs: venv-test
	$(BIN)/python -m bench.jobs_bench

# What the host needs: a running Docker engine, debootstrap, python venv support.
host engine:
	scripts/ensure-host

# The tests build with Docker and with Podman (through its Docker-compatible socket), and run
# Windows playbooks against a KDC on this host.
test-host:
	scripts/ensure-host docker podman kerberos samba cluster

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The test extras compile gssapi and krb5 against this host's MIT krb5 (a few minutes the first
# time, then from pip's wheel cache).
venv-test: $(BIN)/.installed-test venv-receptorctl

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# receptorctl in its own venv (it needs click<8.4; the test venv has click>=8.5), with the
# ansible-runner and ansible-core of the image, for the receptor node tests (tests/harness/receptor/).
RECEPTORCTL_VENV := .venv-receptorctl
RECEPTORCTL_REQUIREMENTS := tests/harness/receptor/requirements.txt

venv-receptorctl: $(RECEPTORCTL_VENV)/bin/.installed

$(RECEPTORCTL_VENV)/bin/.installed: $(RECEPTORCTL_REQUIREMENTS)
	@test -x $(RECEPTORCTL_VENV)/bin/python || $(PYTHON) -m venv $(RECEPTORCTL_VENV)
	$(RECEPTORCTL_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RECEPTORCTL_VENV)/bin/python -m pip install --quiet -r $(RECEPTORCTL_REQUIREMENTS)
	touch $@

# The local single-node Kubernetes and registry the tests use (tests/harness/cluster/; KUBECONFIG
# and registry credentials under /var/lib/ee-builder-cluster).
cluster-up: test-host venv-test
	$(BIN)/python -m tests.harness.cluster up

cluster-down: venv-test
	$(BIN)/python -m tests.harness.cluster down

cluster-status: venv-test
	$(BIN)/python -m tests.harness.cluster status

clean:
	rm -rf context/_build context/Containerfile .ee-builder .pytest_cache $(TEST_SETTINGS)
