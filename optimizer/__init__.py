"""Numeric facility-siting core of GridMap (numpy, scipy, OR-Tools only).

Public entry points
-------------------
- :mod:`optimizer.siting`: ``p_median``, ``mclp``, ``lscp``, ``p_center``
  on a demand x candidate cost matrix, returning frozen results
  (:mod:`optimizer.results`).
- :mod:`optimizer.instances`: ``read_orlib_pmed`` for OR-Library p-median files.
- :mod:`optimizer.errors`: ``SpecificationError`` (invalid or infeasible input,
  raised before solving) and ``NoSolutionError`` (time limit without a solution).

Internals: :mod:`optimizer.heuristics` (greedy + interchange),
:mod:`optimizer.lagrangian` (bound, fixing), :mod:`optimizer.branch_and_bound`,
:mod:`optimizer.pmedian`, :mod:`optimizer.coverage`, :mod:`optimizer.pcenter`.
This package never imports ``gridmap`` or ``web``.
"""
