"""Speed of a model bundle on this machine: ``mstr bench --bundle B``.

What is measured (every figure through ``read_tensor``: preprocessed batch → Predictions, so the
decoding on the host is included):

* **machine** — CPU model and the instruction-set flags that matter here (AVX-512, AVX512-BF16,
  AMX, VNNI), logical CPUs, threads used, torch / onnxruntime versions, the load average at start
  (a busy machine makes every figure slower);
* **model** — parameters of the Spotter and the Refiner, bank size, FLOPs per word
  (:class:`torch.utils.flop_counter.FlopCounterMode`; one multiply-add = 2 FLOPs) for the Spotter
  and for the Refiner as torch runs it (re-running the prefix each step) and as the ONNX graphs
  run it (cached step), at a typical and at the maximal number of decoding steps;
* **configurations** — Spotter in torch float32 / channels-last / bfloat16 autocast /
  bfloat16 + channels-last, Spotter in onnxruntime float32 / int8, and Spotter + Refiner in
  torch float32 / bfloat16 and onnxruntime float32 / int8. For each: batch-1 latency (median and
  90th percentile over ``repeats`` calls, ms) and throughput at ``batch`` (words/s over ``n``
  words), plus the share of words read exactly as the float32 torch configuration of the same
  pipeline reads them (int8 and bf16 change numbers slightly);
* **decoding steps** — batch-1 latency of the Refiner alone against the number of greedy steps
  (= label length + 1), which is what makes Spotter + Refiner latency depend on the word;
* **real crops** (``samples=``, from ``--lmdb`` or ``--manifest``) — decoding and preprocessing
  time per image, ``read()`` throughput from decoded images, and batch-1 latency by label length.

Inputs are random tensors in [-1, 1] unless real crops are given: fine for the Spotter (its cost
does not depend on the content), not for Spotter + Refiner, whose cost grows with the number of
characters it reads (see the decoding-steps table, and ``mean chars``).

Modules: :mod:`~mstr.bench.machine` (machine and model facts), :mod:`~mstr.bench.configs`
(configurations and their timing), :mod:`~mstr.bench.crops` (real crops, parallel readers,
Tesseract), :mod:`~mstr.bench.run` (the whole run) and :mod:`~mstr.bench.report` (markdown).
Imports torch, onnxruntime when present, and the inference modules; never training code.
"""
from __future__ import annotations

from mstr.bench.configs import Config
from mstr.bench.machine import busy_warning, machine_info, model_info
from mstr.bench.report import format_markdown
from mstr.bench.run import run_bench

__all__ = ["machine_info", "busy_warning", "model_info", "run_bench", "format_markdown", "Config"]
