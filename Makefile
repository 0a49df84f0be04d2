# GridMap: `make demo` builds and serves the demo, `make test` runs every test.
# Both set themselves up from a fresh clone (Debian, Python 3.11) and are safe to run twice.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STORE ?= demo/gridmap.gpkg
DEMO_PORT ?= 8000
# Debian packages the tests need: a PostGIS server and a browser.
SYSTEM_PACKAGES := postgresql-15-postgis-3 chromium

.PHONY: demo test bench lint format system clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# Installs the Debian packages when run as root and one is missing; otherwise says what is missing.
system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; \
	  fi; \
	fi

demo: $(STAMP)
	@mkdir -p $(dir $(DEMO_STORE))
	$(BIN)/gridmap --store $(DEMO_STORE) demo
	$(BIN)/gridmap --store $(DEMO_STORE) stats
	$(BIN)/gridmap --store $(DEMO_STORE) site mclp --kind red_home --p 3 --radius 500m --demand courier
	$(BIN)/gridmap --store $(DEMO_STORE) dispatch --register --now next-workday
	$(BIN)/gridmap --store $(DEMO_STORE) patrol --worker W001 --time-limit 2
	$(BIN)/gridmap --store $(DEMO_STORE) kpi --by category
	@echo
	@echo "Demo store: $(DEMO_STORE) (open it in QGIS, or run: $(BIN)/gridmap --store $(DEMO_STORE) stats --json)"
	@echo "Pages: http://127.0.0.1:$(DEMO_PORT)/login  (users dispatcher, planner, official, admin; password gridmap-demo)"
	@echo "  dispatcher http://127.0.0.1:$(DEMO_PORT)/dispatch   planner http://127.0.0.1:$(DEMO_PORT)/coverage   official http://127.0.0.1:$(DEMO_PORT)/heatmap"
	@echo "  OGC API (QGIS) http://127.0.0.1:$(DEMO_PORT)/   Open311 http://127.0.0.1:$(DEMO_PORT)/open311/v2/services.json   OpenAPI http://127.0.0.1:$(DEMO_PORT)/openapi.json"
	$(BIN)/gridmap --store $(DEMO_STORE) serve --port $(DEMO_PORT) --demo-accounts

test: $(STAMP) system
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	touch $@

bench: $(BENCH_STAMP)
	@status=0; for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache .hypothesis
