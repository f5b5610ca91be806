# rollsense: two commands do all set-up on a fresh Debian / Raspberry Pi OS machine.
#   make demo   simulated tool -> broker -> dashboard, end to end
#   make test   the whole test suite (installs what it needs first)
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test deps system postgres venv axe lint bench screenshot clean

demo: deps
	$(VENV)/bin/rollsense demo $(ARGS)

test: deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

deps: system venv postgres axe

# Debian packages the tests and the demo use, installed only when missing: python3-venv
# (ensurepip, for the venv), libatomic1 (the node that Playwright runs links against it),
# npm (installs the pinned axe-core the accessibility tests run).
system:
	@missing=""; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_passwd >/dev/null || missing="$$missing mosquitto-clients"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v pg_ctlcluster >/dev/null || missing="$$missing postgresql"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	dpkg-query -W -f='$${Status}' libatomic1 2>/dev/null | grep -q 'ok installed' || missing="$$missing libatomic1"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The local PostgreSQL server the fleet-store tests use: started when it is not running,
# with a superuser role for the current OS user (peer authentication over the Unix socket).
postgres: system
	@cd /; if ! pg_lsclusters -h 2>/dev/null | grep -q online; then \
	  for c in $$(pg_lsclusters -h | awk '{print $$1 "/" $$2}'); do \
	    echo "starting PostgreSQL cluster $$c"; \
	    $(SUDO) pg_ctlcluster --skip-systemctl-redirect $${c%/*} $${c#*/} start || true; \
	  done; \
	fi
	@me=$$(id -un); cd /; \
	if ! $(SUDO) runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_roles WHERE rolname='$$me'" | grep -q 1; then \
	  echo "creating PostgreSQL role $$me"; \
	  $(SUDO) runuser -u postgres -- createuser --superuser "$$me"; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# the peer driver bench/bus.py compares against (its smbus dependency is replaced by our counting fake)
	$(PY) -m pip install -q --no-deps mpu6050-raspberrypi==1.2
	touch $@

# axe-core for the accessibility tests: the version pinned in tests/axe/package-lock.json,
# installed with `npm ci` into .cache/axe (npm's download cache in .cache/npm; both ignored by git).
AXE := .cache/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)

$(AXE): tests/axe/package.json tests/axe/package-lock.json | system
	mkdir -p .cache/axe
	cp tests/axe/package.json tests/axe/package-lock.json .cache/axe/
	cd .cache/axe && npm ci --no-audit --no-fund --cache ../npm
	test -f $@ && touch $@

lint: venv
	$(VENV)/bin/ruff check .

bench: deps
	$(PY) bench/run.py $(ARGS)

screenshot: deps
	$(PY) scripts/screenshot.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .cache
