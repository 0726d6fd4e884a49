# clrp: build, test and run on a fresh Debian machine with the Swift toolchain.
# Every target first installs the system libraries it needs (apt, as root or via sudo).

APT_PACKAGES := libopenblas-dev libprotobuf-c-dev libpng-dev libjpeg62-turbo-dev pkg-config
# Only the tests need these: headless Chromium opens the `clrp eval report` page.
TEST_APT_PACKAGES := chromium
SWIFT_FLAGS ?=
MODEL ?= Tests/Fixtures/models/shapes-vgg.onnx
IMAGE ?= Tests/Fixtures/shapes/example.png
INPUT ?= Tests/Fixtures/reference/vgg16_small.input.npy

.PHONY: deps test-deps build release test explain classify results clean dist wheel python-venv python-test

deps:
	@if pkg-config --exists openblas libprotobuf-c libpng libjpeg 2>/dev/null; then :; else \
	  echo "installing $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi

test-deps: deps
	@if command -v chromium >/dev/null 2>&1; then :; else \
	  echo "installing $(TEST_APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(TEST_APT_PACKAGES); \
	fi

build: deps
	swift build $(SWIFT_FLAGS)

release: deps
	swift build -c release $(SWIFT_FLAGS)

test: deps test-deps
	swift test $(SWIFT_FLAGS)
	$(MAKE) python-test

# PLACEHOLDER until the `dist` branch is merged, which replaces this target with the portable
# static build: here dist/clrp is only a copy of the release binary.
dist: release
	mkdir -p dist
	cp .build/release/clrp dist/clrp

# The Python package's wheel, carrying dist/clrp: dist/clrp-<version>-py3-none-linux_x86_64.whl.
wheel: dist
	python3 python/build_wheel.py --binary dist/clrp --output dist

# The virtual environment of the Python tests: numpy and pytest only (venv needs python3-venv on Debian).
VENV := .build/venv
python-venv:
	@if python3 -c 'import ensurepip, venv' 2>/dev/null; then :; else \
	  echo "installing python3-venv"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv; \
	fi
	@if [ -x $(VENV)/bin/pytest ]; then :; else \
	  python3 -m venv $(VENV) && $(VENV)/bin/pip install -q numpy pytest; \
	fi

# The package against the binary it carries (python/tests; the torch test is skipped there).
python-test: wheel python-venv
	CLRP_BINARY=$(abspath dist/clrp) $(VENV)/bin/python -m pytest -q -rs python/tests

# The main job: explain the bundled model's top two classes on the bundled image.
explain: release
	.build/release/clrp explain $(MODEL) $(IMAGE) --method lrp,clrp1,clrp2 --top 2 --output-dir explanations

# Docs/RESULTS.md: the pointing game and the ablation study of every method on the three
# shapes models (Tests/Fixtures/shapes, 600 images), and their HTML report in Docs/results/.
SHAPES_MODELS := shapes-alexnet shapes-vgg shapes-googlenet
EVAL_METHODS := lrp,clrp1,clrp2,sglrp,gradient,guided-backprop,deconvnet,center,random
results: release
	@for m in $(SHAPES_MODELS); do \
	  .build/release/clrp eval pointing --model Tests/Fixtures/models/$$m.onnx --data Tests/Fixtures/shapes \
	    --methods $(EVAL_METHODS) --output results/$$m/pointing --quiet || exit 1; \
	  .build/release/clrp eval ablation --model Tests/Fixtures/models/$$m.onnx --data Tests/Fixtures/shapes \
	    --methods $(EVAL_METHODS) --output results/$$m/ablation --quiet || exit 1; \
	done
	.build/release/clrp eval report $(foreach m,$(SHAPES_MODELS),results/$(m)/pointing results/$(m)/ablation) --output Docs/results

# The forward pass on the bundled input tensor.
classify: release
	.build/release/clrp classify Tests/Fixtures/models/vgg16_small.onnx $(INPUT) --top 5

clean:
	rm -rf .build
