"""Exceptions raised by the optimizer package."""


class SpecificationError(ValueError):
    """The model specification is invalid or provably infeasible.

    Raised before any solver is called, with a message that says why (for
    example ``p`` larger than the number of candidate sites, total capacity
    below total demand, or a negative cost).
    """


class NoSolutionError(RuntimeError):
    """The solver stopped without any feasible solution.

    Raised when the time limit is reached before a first solution was found,
    or when the solver reports an error. The message carries the solver status
    and the time spent.
    """
