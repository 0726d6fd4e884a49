# clrp: build, test and run on a fresh Debian machine with the Swift toolchain.
# Every target first installs the system libraries it needs (apt, as root or via sudo).

APT_PACKAGES := libopenblas-dev libprotobuf-c-dev libpng-dev libjpeg62-turbo-dev pkg-config
# Only the tests need these: headless Chromium opens the `clrp eval report` page.
TEST_APT_PACKAGES := chromium
SWIFT_FLAGS ?=
MODEL ?= Tests/Fixtures/models/shapes-vgg.onnx
IMAGE ?= Tests/Fixtures/shapes/example.png
INPUT ?= Tests/Fixtures/reference/vgg16_small.input.npy

.PHONY: deps test-deps build release test explain classify results clean dist-deps dist dist-check wheel python-venv python-test

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
	$(MAKE) dist-check
	$(MAKE) python-test

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

# make dist: dist/clrp, one release executable for Linux x86-64 that needs nothing but glibc
# (Docs/DEPLOY.md, "Portable binary"). The Swift runtime and Foundation are linked statically
# (--static-swift-stdlib), and so is every C library: OpenBLAS (with the libgfortran and
# libquadmath it calls), protobuf-c, libpng, zlib, libjpeg, and libxml2 (FoundationXML's XML
# parser, which reads ImageNet annotations) with the ICU, liblzma and libstdc++ it needs.
# SwiftPM asks pkg-config for OpenBLAS and protobuf-c, and the linker prefers a .so to a .a in
# the same directory; so the build gets its own pkg-config files whose -L names a directory
# holding only the static archives, searched before the system's. The normal build is untouched
# (its own scratch path, .build/dist, and no change to Package.swift).
DIST_APT_PACKAGES := libgfortran-12-dev libxml2-dev libicu-dev liblzma-dev zlib1g-dev libstdc++-12-dev
DIST_SCRATCH := .build/dist
DIST_LIBS := $(CURDIR)/$(DIST_SCRATCH)/static-libs
DIST_PKGCONFIG := $(CURDIR)/$(DIST_SCRATCH)/pkgconfig
LIBDIR := /usr/lib/x86_64-linux-gnu
GCCDIR := /usr/lib/gcc/x86_64-linux-gnu/12
DIST_ARCHIVES := $(LIBDIR)/openblas-pthread/libopenblas.a $(LIBDIR)/libprotobuf-c.a $(LIBDIR)/libpng16.a \
  $(LIBDIR)/libjpeg.a $(LIBDIR)/libz.a $(LIBDIR)/libxml2.a $(LIBDIR)/libicuuc.a $(LIBDIR)/libicudata.a \
  $(LIBDIR)/liblzma.a $(GCCDIR)/libgfortran.a $(GCCDIR)/libquadmath.a $(GCCDIR)/libstdc++.a
# CLRP_PORTABLE: rule presets come from the binary, never from this source tree's Rules/.
# Archives named after the package's own -l flags come first; the ones they call follow.
DIST_FLAGS := -Xswiftc -DCLRP_PORTABLE -Xlinker -L$(DIST_LIBS) \
  $(foreach l,gfortran quadmath xml2 icuuc icudata lzma z stdc++ m,-Xlinker -l$(l)) \
  -Xswiftc -Xclang-linker -Xswiftc -static-libgcc

dist-deps: deps
	@if [ -f $(GCCDIR)/libgfortran.a ] && [ -f $(LIBDIR)/libxml2.a ] && [ -f $(LIBDIR)/libicuuc.a ] && [ -f $(LIBDIR)/liblzma.a ]; then :; else \
	  echo "installing $(DIST_APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DIST_APT_PACKAGES); \
	fi

dist: dist-deps
	@rm -rf $(DIST_LIBS) $(DIST_PKGCONFIG) && mkdir -p $(DIST_LIBS) $(DIST_PKGCONFIG) dist
	@for a in $(DIST_ARCHIVES); do \
	  [ -f "$$a" ] || { echo "make dist: missing static library $$a" >&2; exit 1; }; ln -s "$$a" $(DIST_LIBS)/; \
	done
	ln -s libpng16.a $(DIST_LIBS)/libpng.a
	sed 's|^libdir=.*|libdir=$(DIST_LIBS)|' $$(pkg-config --variable=pcfiledir openblas)/openblas.pc > $(DIST_PKGCONFIG)/openblas.pc
	sed 's|^libdir=.*|libdir=$(DIST_LIBS)|' $$(pkg-config --variable=pcfiledir libprotobuf-c)/libprotobuf-c.pc > $(DIST_PKGCONFIG)/libprotobuf-c.pc
	PKG_CONFIG_PATH=$(DIST_PKGCONFIG) swift build -c release --product clrp --scratch-path $(DIST_SCRATCH) \
	  --static-swift-stdlib $(DIST_FLAGS) $(SWIFT_FLAGS)
	strip -o dist/clrp $(DIST_SCRATCH)/release/clrp
	@ls -lL $(DIST_SCRATCH)/release/clrp dist/clrp
	@ldd dist/clrp

# Runs dist/clrp from a fresh directory outside the repository with a minimal environment and
# compares its outputs, byte for byte, with the normal (debug) build's, which `make test` has
# built already (Tools/check-dist.sh). Debug, release and dist builds write identical maps.
dist-check: dist build
	Tools/check-dist.sh dist/clrp .build/debug/clrp

clean:
	rm -rf .build dist
