"""ONNX export folders: :mod:`~mstr.onnx.format` (what an export folder holds: file names, the
``onnx.json`` manifest and its check), :mod:`~mstr.onnx.graphs` (the exported graphs as torch modules
and the loops that drive them), :mod:`~mstr.onnx.export` (``mstr export onnx``) and
:mod:`~mstr.onnx.runtime` (reading with onnxruntime; it never imports the exporter).

Importing this package loads nothing: import the module you need.
"""
