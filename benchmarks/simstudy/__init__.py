"""Simulation study of the comparability verdict (issue 13, operating characteristics).

Modules, one job each:

* :mod:`simstudy.profile`: expression profiles (gene means) from real MSC data and the marker genes
  (shipped panels as co-regulated programs, sex, genotype on/off, contaminant markers);
* :mod:`simstudy.generator`: one seeded, vectorised simulated study (counts, sheet, truth);
* :mod:`simstudy.scenarios`: the scenarios and the design grids of the issue (``study_grid``: the
  operating characteristics; paired cells share their base cell's seeds);
* :mod:`simstudy.rules`: verdict functions (the current rule through the ``mscseq compare`` library calls;
  ``v2_rule``: collapse, QC, VST and ``run_comparability`` as a user of the study would run them, the
  block mapped to the verdict, product statuses, replicate caveat and tier diagnostics);
* :mod:`simstudy.runner`: seeded runs in parallel processes, appended to a runs TSV as they finish
  (resumable), tallies with Clopper–Pearson intervals;
* :mod:`simstudy.tables`: the issue's targets checked (met / not met) and the markdown report.

``benchmarks/sim_comparability.py`` is the command line; ``benchmarks/sim_cost.py`` measures the cost
per run and chooses the genes per study (``results/sim_cost.md``).
"""
