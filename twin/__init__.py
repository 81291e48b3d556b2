"""cnetwin twin: the model layer of the computing-network-energy digital twin.

Pure functions over pandas/numpy, the telemetry store, periodic jobs and the CLI.
Nothing here imports ``collectors`` or ``dashboard`` except ``twin.cli``, which wires them.
"""

__version__ = "0.1.0"
