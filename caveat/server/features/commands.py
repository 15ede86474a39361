"""`workspace/executeCommand`: caveat.accept, caveat.scanDocument, caveat.clear."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from caveat.annotate.provenance import Region
from caveat.annotate.regions import SCAN_ID, annotate
from caveat.engine.backend import Backend
from caveat.engine.errors import EngineCancelled, ModelError
from caveat.server.completing import REQUEST_FAILED
from caveat.server.features.diagnostics import publish
from caveat.server.jsonish import plain
from caveat.server.positions import well_formed
from caveat.server.progress import WorkDone
from caveat.server.server import CaveatServer
from caveat.server.worker import Job, JobCancelled, ModelUnavailable

logger = logging.getLogger(__name__)


def _uri_argument(args: tuple[Any, ...], command: str) -> str:
    """The single URI argument of a command (a string, or {"uri": ...})."""
    if len(args) == 1 and isinstance(args[0], dict):
        args = (args[0].get("uri"),)
    if len(args) != 1 or not isinstance(args[0], str):
        raise JsonRpcInvalidParams(f"{command} expects one argument: the document URI")
    return args[0]


def accept(server: CaveatServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """Record that a completion was inserted; publish its spans once its text is in place."""
    arg = args[0] if len(args) == 1 else None
    cid = arg.get("completionId") if isinstance(arg, dict) else None
    if not isinstance(cid, str):
        raise JsonRpcInvalidParams('caveat.accept expects [{"completionId": ID}]')
    entry = server.completions.get(cid)
    if entry is None:
        raise JsonRpcInvalidParams(f"caveat.accept: unknown or expired completion {cid!r}")
    prov = server.documents.get(entry.uri)
    if prov is None or entry.offer is None:
        return {"recorded": False, "spans": 0}
    recorded = prov.accept(cid)
    if recorded:
        publish(server, entry.uri)
    region = next((r for r in prov.regions if r.completion_id == cid), None)
    return {"recorded": region is not None, "spans": len(region.spans) if region else 0}


def _scan_job(server: CaveatServer, uri: str, progress: WorkDone) -> tuple[Job[Region], int | None]:
    """The worker job that teacher-forces a document and scores its spans."""
    doc = server.document(uri)
    text, language, version = well_formed(doc.source), doc.language_id, doc.version

    def run(engine: Backend, cancel: threading.Event) -> Region:
        records = engine.scan(text, cancel=cancel, progress=lambda f: progress.report("scoring", f))
        thresholds = server.thresholds
        if thresholds is None:
            raise ModelUnavailable("no thresholds for the model")
        return annotate(SCAN_ID, text, 0, records, language, thresholds, len(text), generated=False)

    return Job(run, key=uri, kind="scan"), version


async def scan_document(server: CaveatServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """Teacher-force the whole document and publish its uncertain spans."""
    uri = _uri_argument(args, "caveat.scanDocument")
    progress = WorkDone(server, "caveat: scanning")
    job, version = _scan_job(server, uri, progress)
    await progress.begin(uri.rsplit("/", 1)[-1])
    server.worker.submit(job)
    try:
        region = await asyncio.wrap_future(job.future)
    except asyncio.CancelledError:
        job.cancel.set()
        raise
    except (JobCancelled, EngineCancelled):
        return {"spans": 0, "cancelled": True}
    except ModelUnavailable as exc:
        raise JsonRpcException(f"caveat: no model: {exc}", REQUEST_FAILED) from exc
    except ModelError as exc:  # e.g. a serving engine that cannot score prompts
        raise JsonRpcException(f"caveat: {exc}", REQUEST_FAILED) from exc
    finally:
        progress.end()
    doc = server.workspace.text_documents.get(uri)
    if doc is None or doc.version != version:
        return {"spans": 0, "cancelled": True}
    server.provenance(uri).record_scan(region)
    publish(server, uri)
    return {"spans": len(region.spans)}


def clear(server: CaveatServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """Forget provenance and clear diagnostics of one document, or of all."""
    uris = list(server.documents) if not args else [_uri_argument(args, "caveat.clear")]
    cleared = 0
    for uri in uris:
        prov = server.documents.get(uri)
        if prov is not None:  # a URI never opened (or never annotated) has nothing to clear
            prov.clear()
            publish(server, uri)
            cleared += 1
    return {"cleared": cleared}


def register(server: CaveatServer) -> None:
    """Register the three commands."""

    @server.command("caveat.accept")
    def accept_command(ls: CaveatServer, *args: Any) -> dict[str, Any]:
        return accept(ls, tuple(plain(list(args))))

    @server.command("caveat.scanDocument")
    async def scan_command(ls: CaveatServer, *args: Any) -> dict[str, Any]:
        return await scan_document(ls, tuple(plain(list(args))))

    @server.command("caveat.clear")
    def clear_command(ls: CaveatServer, *args: Any) -> dict[str, Any]:
        return clear(ls, tuple(plain(list(args))))
