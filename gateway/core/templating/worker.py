"""A render process: compiles tenant templates from their recipes and renders them, one request at a time.

Started by :class:`~gateway.core.templating.pool.RenderPool` as ``python -m gateway.core.templating.worker
<memory bytes>``. Requests arrive on stdin and answers leave on stdout, in order, as length-prefixed frames:

* request: ``!I`` length, then JSON ``{"id", "key", "recipe", "context"}``;
* after compiling a template new to the process: ``!III`` id, 0, 0 (the render's clock starts now);
* answer: ``!III`` id, meta length, body length, then JSON meta (``{"contentType", "headers"}`` or
  ``{"error": {"field", "reason", "line", "column"}}``) and the body bytes.

The process holds nothing worth keeping: the parent kills it when a render overruns and starts another.
"""

from __future__ import annotations

import collections
import ctypes
import os
import resource
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO, Final

import orjson

from gateway.core.templating.errors import TemplateError
from gateway.core.templating.rendering import CompiledTemplate, RenderedBody
from gateway.core.templating.spec import compile_template

REQUEST_HEAD: Final = struct.Struct("!I")
"""A request frame's header: the length of its JSON."""
ANSWER_HEAD: Final = struct.Struct("!III")
"""An answer frame's header: request id, meta length, body length."""
_CACHE_SIZE: Final = 512
_PR_SET_PDEATHSIG: Final = 1


def _harden(memory_bytes: int) -> None:
    """Die with the parent, leave Ctrl-C to the parent, and cap the address space."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        parent = os.getppid()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above took effect
            os._exit(0)
    if memory_bytes > 0:
        # A template that tries to allocate more than this gets a MemoryError (a template error), not the host.
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _compile(recipe: dict[str, Any]) -> CompiledTemplate:
    named: dict[str, str] = recipe.get("named") or {}
    return compile_template(
        recipe.get("spec"),
        default=recipe.get("default"),
        loader=named.__getitem__,
        time_limit=recipe["time_limit"],
        max_output_bytes=recipe["max_output_bytes"],
        max_value_bytes=recipe["max_value_bytes"],
    )


def answer(
    request: dict[str, Any], cache: collections.OrderedDict[str, CompiledTemplate], compiled: Callable[[], None]
) -> tuple[bytes, bytes]:
    """Render one request (calling ``compiled()`` once a template new to this process is compiled); returns
    the answer's meta JSON and body."""
    key = str(request["key"])
    try:
        template = cache.get(key)
        if template is None:
            template = _compile(request["recipe"])
            cache[key] = template
            if len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
            compiled()
        else:
            cache.move_to_end(key)
        rendered: RenderedBody = template.render(request["context"])
    except TemplateError as exc:
        return orjson.dumps({"error": exc.to_dict()}), b""
    except MemoryError:
        return orjson.dumps({"error": {"field": "template", "reason": "out of memory while rendering"}}), b""
    meta = {"contentType": rendered.content_type, "headers": rendered.headers}
    return orjson.dumps(meta), rendered.body


class _Requests:
    """Request frames from a file descriptor, and whether another one is already waiting."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def _complete(self) -> int:
        """Length of the first frame if it has fully arrived, else 0."""
        if len(self._buffer) < REQUEST_HEAD.size:
            return 0
        size = REQUEST_HEAD.size + REQUEST_HEAD.unpack_from(self._buffer)[0]
        return size if len(self._buffer) >= size else 0

    @property
    def waiting(self) -> bool:
        """Whether the next request has arrived already (so answers may wait for one write)."""
        return self._complete() > 0

    def next(self) -> bytes | None:
        """The next request's JSON, reading as needed; ``None`` once the parent closed the pipe."""
        while not (size := self._complete()):
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        payload = bytes(self._buffer[REQUEST_HEAD.size : size])
        del self._buffer[:size]
        return payload


def serve(inp: int, out: BinaryIO) -> None:
    """Answer requests from file descriptor ``inp`` until it closes; answers to requests that arrived
    together leave in one write."""
    cache: collections.OrderedDict[str, CompiledTemplate] = collections.OrderedDict()
    requests = _Requests(inp)
    while (payload := requests.next()) is not None:
        request = orjson.loads(payload)
        ident = int(request["id"])

        def compiled() -> None:
            # An empty answer tells the parent that compiling is over and the render's own clock starts.
            out.write(ANSWER_HEAD.pack(ident, 0, 0))  # noqa: B023 - called before the loop moves on
            out.flush()

        meta, body = answer(request, cache, compiled)
        out.write(ANSWER_HEAD.pack(ident, len(meta), len(body)) + meta + body)
        if not requests.waiting:
            out.flush()


def main() -> None:
    """Entry point of a render process."""
    _harden(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers may reach the parent's pipe
    serve(sys.stdin.fileno(), out)


if __name__ == "__main__":
    main()
