# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest clean system-packages screenshots

# Debian ships venv separately (python3-venv); install it when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update && \
		$(SUDO) apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p data
	$(BIN)/signalbox serve --config routes.yaml --data-dir ./data

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The console's browser tests drive Debian's Chromium (Playwright cannot download its
# own here) and its pages show Chinese; the PostgreSQL store's tests start a throwaway
# server of their own from Debian's binaries (tests/pgserver.py). Installed when missing,
# else nothing is done.
SYSTEM_PACKAGES := chromium fonts-noto-cjk postgresql

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

# promtool checks and unit-tests deploy/prometheus/ (tests/test_deploy.py). It is taken out
# of Debian's prometheus package into the venv, not installed: installing the package
# would start a Prometheus server. ~19 MB once; without it those tests skip, saying why.
$(BIN)/promtool: | $(BIN)/python
	@tmp=$$(mktemp -d) && chmod 755 $$tmp && cd $$tmp && \
	{ apt-get download prometheus >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && apt-get download prometheus >/dev/null; }; } && \
	dpkg-deb -x prometheus_*.deb root && cp root/usr/bin/promtool $(CURDIR)/$(BIN)/promtool \
	|| echo "promtool not installed: the Prometheus rule tests will skip"; \
	rm -rf $$tmp

# amtool drives the Alertmanager v2 silence API (tests/test_oncall_amtool.py); taken out of
# Debian's prometheus-alertmanager package like promtool (the package would start an
# Alertmanager). ~11 MB download once; without it those tests skip, saying why.
$(BIN)/amtool: | $(BIN)/python
	@tmp=$$(mktemp -d) && chmod 755 $$tmp && cd $$tmp && \
	{ apt-get download prometheus-alertmanager >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && apt-get download prometheus-alertmanager >/dev/null; }; } && \
	dpkg-deb -x prometheus-alertmanager_*.deb root && \
	cp root/usr/bin/amtool $(CURDIR)/$(BIN)/amtool \
	|| echo "amtool not installed: the Alertmanager silence API tests will skip"; \
	rm -rf $$tmp

# haproxy checks and runs deploy/haproxy/haproxy.cfg (tests/test_deploy.py). Like promtool
# it is taken out of Debian's haproxy package into the venv (installing the package would
# start a server); the shared libraries it links (~200 KB, no service) are installed.
# ~2 MB once; without it those tests skip, saying why.
$(BIN)/haproxy: | $(BIN)/python
	@tmp=$$(mktemp -d) && chmod 755 $$tmp && cd $$tmp && \
	{ apt-get download haproxy >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && apt-get download haproxy >/dev/null; }; } && \
	libs=$$(dpkg-deb -f haproxy_*.deb Depends | tr ',' '\n' | \
		sed -n 's/^ *\(lib[^ (|]*\).*/\1/p') && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$$libs >/dev/null && \
	dpkg-deb -x haproxy_*.deb root && cp root/usr/sbin/haproxy $(CURDIR)/$(BIN)/haproxy \
	|| echo "haproxy not installed: the load balancer tests will skip"; \
	rm -rf $$tmp

pytest: $(STAMP) system-packages $(BIN)/promtool $(BIN)/haproxy $(BIN)/amtool
	$(BIN)/pytest -q

# Re-shoots docs/screenshots/*.png from fixture data (see tests/screenshots.py).
screenshots: $(STAMP) system-packages
	$(BIN)/python tests/screenshots.py

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
