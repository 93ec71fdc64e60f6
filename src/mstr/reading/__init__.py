"""The reading core: word images in, :class:`~mstr.reading.prediction.Prediction` objects out.

* :mod:`~mstr.reading.decode` — Spotter decoding, sequence log-probabilities, the end-of-sequence
  cut and the one Prediction builder (:func:`~mstr.reading.decode.to_predictions`);
* :mod:`~mstr.reading.refine` — which reading wins, the Spotter's or the Refiner's
  (:func:`~mstr.reading.refine.refine_readings`), shared by the torch and ONNX readers;
  :mod:`~mstr.reading.refine_policy` — the policies, modes and gates as one
  :class:`~mstr.reading.refine_policy.RefineSettings` value (torch-free, for the CLI);
* :mod:`~mstr.reading.reader` — the :class:`~mstr.reading.reader.Reader` base the readers share;
* :mod:`~mstr.reading.recognizer` — the torch reader; the ONNX one is :mod:`mstr.onnx.runtime`;
  :mod:`~mstr.reading.parallel` — reading with several processes;
* :mod:`~mstr.reading.lang_decode`, :mod:`~mstr.reading.lexicon`, :mod:`~mstr.reading.decode_options`
  — language hints, script consistency and the lexicon mode.

Importing this package loads nothing: import the module you need. Reading code never imports
training, synthesis, font or web code.
"""
