"""Simulation study of the comparability verdict (issue 13, operating characteristics).

Modules, one job each:

* :mod:`simstudy.profile`: expression profiles (gene means) from real MSC data and the marker genes
  (shipped panels as co-regulated programs, sex, genotype on/off, contaminant markers);
* :mod:`simstudy.generator`: one seeded, vectorised simulated study (counts, sheet, truth);
* :mod:`simstudy.scenarios`: the scenarios and the design grid of the issue;
* :mod:`simstudy.rules`: verdict functions (the current rule through the ``mscseq compare`` library calls);
* :mod:`simstudy.runner`: seeded runs in parallel processes, tallies, Clopper–Pearson intervals, tables.

``benchmarks/sim_comparability.py`` is the command line.
"""
