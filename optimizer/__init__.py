"""Numeric core of GridMap: siting, dispatch, staffing and routing (numpy, scipy, OR-Tools only).

Public entry points
-------------------
- :mod:`optimizer.siting`: ``p_median``, ``mclp``, ``lscp``, ``p_center``
  on a demand x candidate cost matrix, returning frozen results
  (:mod:`optimizer.results`).
- :mod:`optimizer.dispatch`: ``dispatch`` of incidents to grid workers (min-cost flow, or
  CP-SAT with side limits); :mod:`optimizer.candidates`: ``nearest_pairs``.
- :mod:`optimizer.staffing`: ``balance_workload`` of grids across workers (CP-SAT).
- :mod:`optimizer.routing`: ``solve_vrptw`` and ``plan_patrol`` (OR-Tools routing).
- :mod:`optimizer.instances`: ``read_orlib_pmed`` (OR-Library p-median) and ``read_solomon``
  (Solomon VRPTW) benchmark files.
- :mod:`optimizer.errors`: ``SpecificationError`` (invalid or infeasible input,
  raised before solving) and ``NoSolutionError`` (time limit without a solution).

Internals: :mod:`optimizer.heuristics` (greedy + interchange),
:mod:`optimizer.lagrangian` (bound, fixing), :mod:`optimizer.branch_and_bound`,
:mod:`optimizer.pmedian`, :mod:`optimizer.coverage`, :mod:`optimizer.pcenter`.
This package never imports ``gridmap`` or ``web``.
"""
