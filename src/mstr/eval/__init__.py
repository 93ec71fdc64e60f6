"""Evaluation of the mSTR stages.

* :mod:`mstr.eval.mclip_eval` — Stage 1: retrieval of held-out character crops against the bank
  (top-1 / top-5, cross-script leakage, confusions), used by ``mstr eval mclip``.

Importing this package does no work; import the submodule you need.
"""
