# Developer entry points. `make demo` and `make test` work from a fresh clone: they
# create .venv from the pinned requirements, link this checkout as the collection
# velero_ops.tuning, and run. CI (.ci/run) calls `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
BUILD := $(CURDIR)/.build
COLLECTION_LINK := $(BUILD)/collections/ansible_collections/velero_ops/tuning
# Outside this checkout: inside a git work tree ansible-test only sees tracked files.
SANITY_ROOT := $(or $(TMPDIR),/tmp)/velero_ops.tuning-sanity/ansible_collections/velero_ops/tuning
GET_PIP_CACHE := $(HOME)/.ansible/test/cache/get_pip_24_2.py
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup demo test sanity lint units integration molecule changelog-lint build bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt tests/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c tests/constraints.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

# Optional dependency kubernetes.core (helm_values_apply), for lint and syntax checks.
$(BUILD)/collections/ansible_collections/kubernetes/core/MANIFEST.json: | $(VENV)/.installed
	$(BIN)/python tools/fetch_kubernetes_core.py $(BUILD)/collections

## setup: virtualenv with pinned tools, collection linked for ansible-playbook
setup: $(VENV)/.installed $(COLLECTION_LINK) $(BUILD)/collections/ansible_collections/kubernetes/core/MANIFEST.json

## demo: size and render Helm values for the bundled example fleet into ./out
demo: setup
	ansible-playbook -i examples/inventory.yml playbooks/tune.yml

## test: every gate CI runs
test: setup changelog-lint build sanity lint units integration molecule

changelog-lint: setup
	antsibull-changelog lint

build: setup
	rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	ansible-galaxy collection build --force --output-path $(BUILD)/dist .

# ansible-test needs the collection at ansible_collections/<ns>/<name> as a real directory.
sanity: setup
	mkdir -p $(dir $(GET_PIP_CACHE)) && cp tools/get_pip_offline.py $(GET_PIP_CACHE)
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	tar -C $(CURDIR) --exclude=./.venv --exclude=./.build --exclude=./.git --exclude=./out \
	    --exclude=./tests/output --exclude=./benchmarks/out --exclude='__pycache__' \
	    --exclude=./.pytest_cache --exclude=./.hypothesis -cf - . | tar -C $(SANITY_ROOT) -xf -
	cd $(SANITY_ROOT) && ansible-test sanity --python 3.11 --local --color no

lint: setup
	ansible-lint --offline --profile production

units: setup
	python -m pytest tests/unit tests/calibration

integration: setup
	python -m pytest tests/integration

molecule: setup
	cd extensions && molecule test --all

# Not part of `make test`: minutes of wall time; results go to benchmarks/RESULTS.md.
bench: setup
	python benchmarks/cluster_facts_scale.py --write-results
	python benchmarks/tune_fleet.py

clean:
	rm -rf $(BUILD) out
