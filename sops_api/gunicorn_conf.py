"""Gunicorn settings shared by `make run` and docker-compose (`--config python:sops_api.gunicorn_conf`)."""
from __future__ import annotations

import gc
import os
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms
from prometheus_client import multiprocess

from sops_api.logs import MASK, SECRET_HEADERS, RedactingFilter, redact_query, redact_text

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# How long a stopping worker may finish its current request (make run passes 2 s).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))
accesslog = "-"
# The access log carries the path and status; the app's own lines carry the caller.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


class MaskedAtoms(SafeAtoms):
    """The access log's atoms, each masked and escaped when the format reads it.

    A request has dozens of header and environ atoms (`{name}i`, `{name}o`, `{name}e`) and the
    format reads a few (the default none): masking every one for every request, then escaping it
    (gunicorn's SafeAtoms), took a third of a small request's logging; each is done on read here.
    A credential header is masked whole (its value need not look like a credential: `Bearer x`);
    any other value has the credentials in its text masked."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        dict.__init__(self, atoms)  # not SafeAtoms' copy, which escapes every value first

    def __getitem__(self, key: str) -> Any:
        if key.startswith("{"):
            key = key.lower()
        if key not in self:
            return "-"
        value: Any = dict.__getitem__(self, key)
        if not isinstance(value, str):
            return value
        if key.startswith("{"):
            value = MASK if key[1:-2] in SECRET_HEADERS else redact_text(value)
        return value.replace('"', '\\"')


class RedactingLogger(Logger):
    """Gunicorn's logger, with credentials masked in the access log's request line, query string
    and header atoms (MaskedAtoms), and in the error log (which quotes request URIs on failures)."""

    atoms_wrapper_class = MaskedAtoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        path, sep, raw_query = (environ.get("RAW_URI") or "").partition("?")
        query = environ.get("QUERY_STRING") or ""
        masked_query = redact_query(query)
        uri = f"{path}{sep}{masked_query if raw_query == query else redact_query(raw_query)}"
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {uri} {environ.get('SERVER_PROTOCOL')}"
        # Masked already: MaskedAtoms' redact_text leaves them as they are.
        atoms["q"] = atoms["{query_string}e"] = masked_query
        atoms["{raw_uri}e"] = uri
        return atoms


logger_class = RedactingLogger


def child_exit(server, worker) -> None:  # noqa: ANN001 (gunicorn's hook signature)
    """A dead worker's live-gauge files must be dropped, or /metrics keeps counting it.

    Runs inside the master's SIGCHLD handler, once per dead worker and possibly re-entered by
    the next worker's exit: nothing is imported here (an import in a signal handler re-entered
    by another raised ImportError on every stop), and one failure does not skip the others.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        try:
            multiprocess.mark_process_dead(worker.pid)
        except OSError as exc:
            server.log.warning("could not mark worker %s dead for metrics: %s", worker.pid, exc)


def worker_exit(server, worker) -> None:  # noqa: ANN001 (gunicorn's hook signature)
    """Freeze the heap before the interpreter tears it down: the collections of finalization walked
    a worker's whole Django heap, ~1.7 s per worker (measured on a 2-core machine), most of a stop."""
    gc.freeze()
