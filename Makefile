# Sceau — developer entry points. Two commands for newcomers: `make demo` and `make test`.
# Every target installs what it needs, idempotently (system packages with apt-get, Python deps in .venv).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := softhsm2 opensc openssl xmlsec1 poppler-utils chromium chromium-l10n xvfb xauth xdotool x11-apps \
	imagemagick pcscd pcsc-tools libpcsclite-dev swig gcc python3-dev python3-venv python3-tk \
	firefox-esr vsmartcard-vpcd time libp11-kit-dev vsmartcard-vpicc python3-virtualsmartcard desktop-file-utils libxml2-utils gettext jq \
	libnss3-tools p11-kit p11-kit-modules redis-server \
	debhelper dh-virtualenv dpkg-dev fakeroot lintian nsis shellcheck pipx
# Debian's node only where no node is installed (some images ship NodeSource's, which conflicts).
NODE_PACKAGES := $(if $(shell command -v node),,nodejs npm)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: all demo test lint typecheck deps deps-system deps-python deps-node protocol-json bench clean extension deb

all: test

deps: deps-system deps-python deps-node

# apt-get only when a package is missing (fast no-op on a ready machine).
deps-system:
	@missing=""; for p in $(APT_PACKAGES) $(NODE_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps-python: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[gui,pcsc,dev]'
	@rm -f $(VENV)/.installed-*; touch $@

deps-node:
	@if [ -f package-lock.json ]; then \
		[ -d node_modules ] && [ node_modules -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; \
	fi

# The constants shared with the extension are generated from sceau.protocol and the handlers, never retyped.
protocol-json: deps-python
	$(PY) extension/tools/gen_protocol.py

# ruff, the layer contracts (import-linter, [tool.importlinter] in pyproject.toml) and ESLint (eslint.config.mjs).
lint: deps-python deps-node
	$(VENV)/bin/ruff check agent native_host tests benchmarks examples
	$(VENV)/bin/ruff format --check agent native_host
	$(VENV)/bin/lint-imports
	node_modules/.bin/eslint .

typecheck: deps-python
	$(VENV)/bin/mypy -p sceau -p sceau_rp -p sceau_native_host

test: deps lint typecheck
	@if [ -d extension/tests ]; then node --test extension/tests/; fi
	$(VENV)/bin/pytest -q -p no:cacheprovider

# Browser extension packages (build/extension/): CRX3 + store zip, Firefox .xpi, update manifest, ids.
# The CRX signing key: $$SCEAU_CRX_KEY (release), else build/keys/sceau-crx.pem, made on first use.
extension: deps-python deps-node
	$(PY) extension/tools/package.py

# dist/sceau_<version>_<arch>.deb (installers/debian/README.md); DEB_VERSION overrides pyproject's.
deb: extension
	@deb=$$(installers/build-deb.sh $(DEB_VERSION)) && echo "$$deb" && \
		lintian --fail-on error,warning "$$deb"

demo: deps
	$(VENV)/bin/sceau demo --serve

bench: deps
	$(PY) -m benchmarks.run

clean:
	rm -rf build .venv .mypy_cache .ruff_cache .pytest_cache test-artifacts node_modules
