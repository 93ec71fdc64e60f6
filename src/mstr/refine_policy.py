"""Which reading a Recognizer with a Refiner returns (torch-free, so the CLI can list the choices).

Two readings compete, the Spotter's and the Refiner's:

* ``joint``: the reading that the Spotter and the Refiner, scored together, find more likely (each
  model's log-probability of the whole reading, end of word included, summed);
* ``confidence``: the Refiner's reading only when it is at least as confident as the Spotter's;
* ``always``: the Refiner's reading.
"""
REFINE_POLICIES = ("joint", "confidence", "always")
DEFAULT_REFINE_POLICY = "joint"
