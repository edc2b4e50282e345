"""Pre-checks for operations that can amplify, run *before* allocating.

``*``, ``**``, ``%``, the padding/replace string methods and the ``center``/``indent``/``wordwrap``/
``replace``/``format``/``batch``/``slice`` filters can build values far larger than their inputs, so
their result size (or integer magnitude) is estimated from the arguments and refused over budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from gateway.core.templating.limits import _LimitExceeded, _RenderState

_MAX_INT_BITS: Final = 16_384
_MAX_COUNT_ARG: Final = 100_000
_PERCENT_SPEC_RE: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([A-Za-z%])")
_NUMBER_RE: Final = re.compile(r"\d+")


def _check_width(state: _RenderState, width: Any) -> None:
    if isinstance(width, int) and width > state.max_value:
        state.require(width)


def _check_percent_format(state: _RenderState, fmt: str, args: Any) -> None:
    """Bound ``fmt % args`` before running it: no ``*`` widths, widths/precisions and repeats bounded."""
    specs = 0
    widths = 0
    for match in _PERCENT_SPEC_RE.finditer(fmt):
        if match.group(3) == "%":
            continue
        for number in (match.group(1), match.group(2)):
            if number == "*":
                raise _LimitExceeded("'*' field widths are not supported in templates")
            if number:
                if len(number) > 9:
                    state.require(10**9)
                widths += int(number)
        specs += 1
    if isinstance(args, tuple):
        biggest = max((state.size_of(arg) for arg in args), default=0)
    elif isinstance(args, Mapping):
        biggest = max((state.size_of(arg) for arg in args.values()), default=0)
    else:
        biggest = state.size_of(args)
    state.require(len(fmt) + specs * biggest + widths)


def _check_format_spec(state: _RenderState, spec: str) -> None:
    for match in _NUMBER_RE.finditer(spec):
        digits = match.group()
        if len(digits) > 9:
            state.require(10**9)
        if int(digits) > state.max_value:
            state.require(int(digits))


def _replace_size(text: str | bytes | bytearray, old: Any, new: Any, count: Any) -> int | None:
    if not (isinstance(old, type(text)) and isinstance(new, type(text))):
        return None
    hits = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _check_mul(state: _RenderState, left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and isinstance(seq, (str, bytes, list, tuple)):
            if times > 0:
                unit = len(seq) if isinstance(seq, (str, bytes)) else state.size_of(seq)
                state.require(unit * times)
            return
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > _MAX_INT_BITS:
        raise _LimitExceeded(f"integer too large (more than {_MAX_INT_BITS} bits)")


def _check_pow(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and abs(left) > 1
        and (right > _MAX_INT_BITS or left.bit_length() * right > _MAX_INT_BITS)
    ):
        raise _LimitExceeded(f"integer too large (more than {_MAX_INT_BITS} bits)")


def _pre_center(state: _RenderState, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    _check_width(state, width)


def _pre_indent(state: _RenderState, s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(s)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    state.require(len(text) + (text.count("\n") + 1) * max(pad, 0))


def _pre_wordwrap(state: _RenderState, s: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    text = str(s)
    state.require(len(text) + (len(text) + 1) * len(str(wrapstring or "\n")))


def _pre_replace(state: _RenderState, s: Any, old: Any, new: Any, count: Any = None) -> None:
    text = s if isinstance(s, str) else str(s)
    size = _replace_size(text, str(old), str(new), count)
    if size is not None:
        state.require(size)


def _pre_format(state: _RenderState, value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent_format(state, str(value), kwargs or args)


def _pre_count_arg(state: _RenderState, value: Any, count: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(count, int) and count > _MAX_COUNT_ARG:
        raise _LimitExceeded(f"batch/slice count too large (at most {_MAX_COUNT_ARG})")


_FILTER_PRECHECKS: Final[dict[str, Callable[..., None]]] = {
    "batch": _pre_count_arg,
    "center": _pre_center,
    "format": _pre_format,
    "indent": _pre_indent,
    "replace": _pre_replace,
    "slice": _pre_count_arg,
    "wordwrap": _pre_wordwrap,
}
