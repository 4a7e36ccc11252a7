"""The floor under every floor: the sizes of a run (``profiles``), the run cache (``cache``), pinned
Hub revisions (``hub``), time and memory (``measure``), the device and precision (``devices``),
confidence intervals (``intervals``), and how a number is formatted and worded (``report``). Any
module of ``tap`` may import these; they import only each other, the mechanism modules of
``tap.models`` and ``tap.methods``, and libraries.
"""
