"""Background jobs: optimizer runs that must not hold a web worker while they solve.

A job runs in a small thread pool; its progress (0..1, a message) and its result or error are
kept in memory for the dispatcher or planner to poll, then accept or override.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from gridmap.errors import GridMapError, NotFoundError

#: A job's work: it reports progress through the callback and returns its JSON-able result
#: and what the service keeps to act on it later (a plan to apply).
Work = Callable[[Callable[[float, str], None]], tuple[Any, Any]]
KEEP = 200  # finished jobs kept for polling


@dataclass(frozen=True)
class Job:
    """The state of one background job."""

    id: str
    kind: str
    owner: str
    status: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    message: str = ""
    result: Any = None
    error: str = ""
    created_at: str = field(default_factory=lambda: pd.Timestamp.now(tz="UTC").isoformat())
    payload: Any = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        """Return the job as the API shows it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "owner": self.owner,
            "status": self.status,
            "progress": round(self.progress, 3),
            "message": self.message,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
        }


class Jobs:
    """The jobs of one service: started in a thread pool, polled by id."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gridmap-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, owner: str, work: Work) -> Job:
        """Queue ``work`` and return its job at once."""
        job = Job(secrets.token_hex(8), kind, owner)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job.id, work)
        return job

    def get(self, job_id: str) -> Job:
        """Return a job by id.

        Raises
        ------
        NotFoundError
            If there is no such job (or it finished long ago).
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}")
        return job

    def wait(self, job_id: str, timeout: float) -> Job:
        """Return a job once it has finished, or as it is after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.get(job_id).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.get(job_id)

    def shutdown(self) -> None:
        """Stop taking jobs and wait for the running ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _run(self, job_id: str, work: Work) -> None:
        self._update(job_id, status="running")
        try:
            result, payload = work(
                lambda share, text: self._update(job_id, progress=share, message=text)
            )
        except GridMapError as exc:
            self._update(job_id, status="failed", error=str(exc))
        except Exception as exc:  # a bug: recorded on the job, never lost silently
            self._update(job_id, status="failed", error=f"internal error: {type(exc).__name__}")
            raise
        else:
            self._update(job_id, status="done", progress=1.0, result=result, payload=payload)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in ("done", "failed")]
        for job in sorted(finished, key=lambda j: j.created_at)[:-KEEP]:
            del self._jobs[job.id]
