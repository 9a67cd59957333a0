"""Call functions of 32-bit DLLs / shared libraries from 64-bit Python.

dllbridge runs the library in a small 32-bit host process (surrogate32) and
forwards each call to it. This module is pure Python over dllbridge's C API
(ctypes, no compiled extension)::

    import dllbridge
    with dllbridge.Bridge() as bridge:                      # starts surrogate32
        lib = bridge.load("/opt/vendor/libmeter.so")
        add = lib.declare("int32_t add(int32_t a, int32_t b)")
        add(2, 40).value                                    # 42

Arguments are Python values: int, float, bool, str (text), bytes and lists
(buffers and arrays), dict (structs), None (a null pointer or handle).
Failures raise dllbridge.Error subclasses (Timeout, Crashed, CircuitOpen,
BadArgument, ...), one per error kind of docs/errors.md.

The C library is found by the DLLBRIDGE_LIBRARY environment variable (a
path), then ctypes.util.find_library, then pkg-config (dllbridge.pc).
"""

import ctypes
import ctypes.util
import glob
import json
import math
import numbers
import operator
import os
import re
import subprocess
import sys
import threading
import time

__all__ = [
    "Bridge", "Library", "Function", "Result", "Stats", "Error", "Timeout", "Crashed",
    "CircuitOpen", "BadSignature", "BadArgument", "SymbolNotFound", "LibraryLoadFailed",
    "SurrogateStartFailed", "Protocol", "Unauthorized", "CallbackFailed", "Internal", "Closed",
    "find_library",
]


# ---- errors ---------------------------------------------------------------

class Error(Exception):
    """A failed operation: .kind (docs/errors.md) and .message."""

    kind = "unknown"

    def __init__(self, message, kind=None):
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind

    def __str__(self):
        return f"{self.kind}: {self.message}"


class Timeout(Error, TimeoutError):
    """No reply within the call's deadline; the surrogate was replaced."""
    kind = "timeout"


class Crashed(Error):
    """The surrogate died during the call (the message names the signal)."""
    kind = "crashed"


class CircuitOpen(Error):
    """The bridge stopped restarting a crash-looping surrogate (Bridge.restart)."""
    kind = "circuit_open"


class BadSignature(Error, ValueError):
    """The declaration is not valid in the signature language."""
    kind = "bad_signature"


class BadArgument(Error, ValueError):
    """A value does not fit its parameter; refused before anything ran."""
    kind = "bad_argument"


class SymbolNotFound(Error):
    """The library has no such export."""
    kind = "symbol_not_found"


class LibraryLoadFailed(Error):
    """The surrogate could not load the library."""
    kind = "library_load_failed"


class SurrogateStartFailed(Error):
    """The surrogate process could not be started or reached."""
    kind = "surrogate_start_failed"


class Protocol(Error):
    """The surrogate answered something this client does not speak."""
    kind = "protocol"


class Unauthorized(Error):
    """A standalone surrogate of another user, or a wrong token."""
    kind = "unauthorized"


class CallbackFailed(Error):
    """A callback raised or returned a value out of range."""
    kind = "callback_failed"


class Internal(Error):
    """Out of memory, or a bug (the message says which)."""
    kind = "internal"


class Closed(Error):
    """The bridge was closed before the operation started."""
    kind = "closed"


_KINDS = {c.kind: c for c in (Timeout, Crashed, CircuitOpen, BadSignature, BadArgument,
                              SymbolNotFound, LibraryLoadFailed, SurrogateStartFailed, Protocol,
                              Unauthorized, CallbackFailed, Internal, Closed)}


def _error(kind, message):
    cls = _KINDS.get(kind)
    return cls(message) if cls else Error(message, kind)


# ---- the C library ------------------------------------------------------------

_NAMES = {"win32": ("dllbridge_client", "libdllbridge_client"), "darwin": ("dllbridge_client",)}


def find_library():
    """The path of the dllbridge C library: $DLLBRIDGE_LIBRARY, else what
    ctypes.util.find_library finds, else libdir of pkg-config's dllbridge.pc.
    Raises Internal naming every place looked at when none has it."""
    tried = []
    env = os.environ.get("DLLBRIDGE_LIBRARY")
    if env:
        return env
    tried.append("DLLBRIDGE_LIBRARY (not set)")
    for name in _NAMES.get(sys.platform, ("dllbridge_client",)):
        found = ctypes.util.find_library(name)
        if found:
            return found
        tried.append(f"ctypes.util.find_library({name!r})")
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "dllbridge"], check=True,
                                capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        libdir = ""
        tried.append(f"pkg-config dllbridge ({e})")
    if libdir:
        pattern = "*dllbridge_client*.dll" if sys.platform == "win32" else "libdllbridge_client.so*"
        candidates = sorted(glob.glob(os.path.join(libdir, pattern)) +
                            glob.glob(os.path.join(libdir, "..", "bin", pattern)), key=len)
        if candidates:
            return candidates[0]
        tried.append(f"pkg-config's libdir {libdir} (no {pattern})")
    raise Internal("the dllbridge C library was not found; looked at: " + "; ".join(tried) +
                   ". Set DLLBRIDGE_LIBRARY to its path, or PKG_CONFIG_PATH to PREFIX/lib/pkgconfig")


class _Value(ctypes.Structure):
    class _As(ctypes.Union):
        _fields_ = [("i", ctypes.c_int64), ("u", ctypes.c_uint64), ("d", ctypes.c_double)]
    _fields_ = [("kind", ctypes.c_int), ("as_", _As)]


_NULL, _INT, _UINT, _DOUBLE = 0, 1, 2, 3
_DEFAULT_TIMEOUT = -1
_MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000

_lib = None
_lib_lock = threading.Lock()


def _c():
    """The C library, loaded once with its prototypes."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is None:
            path = find_library()
            try:
                c = ctypes.CDLL(path)
            except OSError as e:
                raise Internal(f"cannot load the dllbridge C library {path}: {e}") from e
            vp, cp, st = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
            pvp, pcp = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)
            protos = {
                "dllbridge_open": (st, [cp, pvp]),
                "dllbridge_load": (st, [vp, cp, pvp]),
                "dllbridge_declare_ex": (st, [vp, cp, cp, pvp]),
                "dllbridge_call_json_timeout": (st, [vp, cp, ctypes.c_int64, pcp]),
                "dllbridge_call_values": (st, [vp, ctypes.POINTER(_Value), ctypes.c_size_t, ctypes.c_int64,
                                               ctypes.POINTER(_Value), ctypes.POINTER(ctypes.c_int64)]),
                "dllbridge_stats_json": (st, [vp, pcp]),
                "dllbridge_restart": (st, [vp]),
                "dllbridge_status_name": (cp, [st]),
                "dllbridge_last_error_message": (cp, []),
                "dllbridge_free": (None, [vp]),
                "dllbridge_close": (None, [vp]),
            }
            for name, (res, args) in protos.items():
                fn = getattr(c, name)
                fn.restype, fn.argtypes = res, args
            _lib = c
        return _lib


def _check(status):
    """Raises the Error of a failed C call; reads the message on this thread,
    which made the call (Python threads are OS threads)."""
    if status != 0:
        c = _c()
        kind = c.dllbridge_status_name(status).decode()
        raise _error(kind, c.dllbridge_last_error_message().decode("utf-8", "replace"))


def _take_string(p):
    """The text of a C API string, freed."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        _c().dllbridge_free(p)


def _millis(seconds):
    """Seconds to whole milliseconds, rounded up, in [1, 7 days]."""
    return max(1, min(_MAX_TIMEOUT_MS, math.ceil(seconds * 1000)))


# ---- values ---------------------------------------------------------------

def _to_json(v):
    """A Python argument in the JSON form of docs/cli.md, section 3."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return list(bytes(v))
    if isinstance(v, (list, tuple)):
        return [_to_json(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _to_json(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        if isinstance(v, float) and not math.isfinite(v):
            raise BadArgument(f"{v} has no JSON form")
        return v
    if hasattr(v, "__index__"):  # numpy integers and other integer types
        return operator.index(v)
    if isinstance(v, numbers.Real):
        return _to_json(float(v))
    if hasattr(v, "tolist"):  # array.array, numpy arrays
        return _to_json(v.tolist())
    raise BadArgument(f"a Python {type(v).__name__} has no JSON form")


def _is_scalar(v):
    return v is None or isinstance(v, (bool, int, float))


def _set_value(slot, v):
    if v is None:
        slot.kind, slot.as_.u = _NULL, 0
    elif isinstance(v, float):
        slot.kind, slot.as_.d = _DOUBLE, v
    elif v < 0:
        if v < -(1 << 63):
            raise BadArgument(f"{v} is below every integer type")
        slot.kind, slot.as_.i = _INT, v
    elif v < (1 << 63):
        slot.kind, slot.as_.i = _INT, int(v)
    elif v < (1 << 64):
        slot.kind, slot.as_.u = _UINT, v
    else:
        raise BadArgument(f"{v} is above every integer type")


class Result:
    """A successful call: .value (the return value, None for void), .out
    (every [out] and [in, out] parameter by name), .last_error (errno /
    GetLastError() right after the call) and .elapsed (seconds, round trip)."""

    __slots__ = ("value", "out", "last_error", "elapsed")

    def __init__(self, value, out, last_error, elapsed):
        self.value, self.out, self.last_error, self.elapsed = value, out, last_error, elapsed

    def __repr__(self):
        return f"Result(value={self.value!r}, out={self.out!r}, last_error={self.last_error})"


class Stats(dict):
    """The bridge's statistics (the "stats" object of `dllbridge-call
    --stats --json`), also readable as attributes: stats.calls_ok."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# ---- bridge, library, function ----------------------------------------------------

class _Gate:
    """Calls share the bridge; close waits for them and shuts the gate."""

    def __init__(self):
        self._cond = threading.Condition()
        self._active = 0
        self.closed = False

    def __enter__(self):
        with self._cond:
            if self.closed:
                raise Closed("the bridge is closed")
            self._active += 1

    def __exit__(self, *exc):
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def close(self):
        """True for the first close, after the calls in progress ended."""
        with self._cond:
            if self.closed:
                return False
            self.closed = True
            self._cond.wait_for(lambda: self._active == 0)
            return True


_OPTION_KEYS = {"arch": "arch", "call_timeout": "call_timeout_ms", "surrogate_path": "surrogate_path",
                "connect": "connect", "token_file": "token_file", "low_latency": "low_latency",
                "fork_server": "fork_server", "pool_size": "pool_size",
                "surrogate_log_level": "surrogate_log_level"}


class Bridge:
    """A supervised surrogate process. Bridge(arch=32, call_timeout=seconds,
    surrogate_path=..., connect=endpoint, token_file=..., low_latency=False,
    fork_server=False, pool_size=1, surrogate_log_level="warn"); every option may be
    left out. fork_server: later surrogates of this process are forked by a
    server process, a faster start (Linux; docs/supervision.md, "Fork server"). Safe to use
    from several threads; close() (or the with block) stops the surrogate."""

    def __init__(self, **options):
        unknown = set(options) - set(_OPTION_KEYS)
        if unknown:
            raise BadArgument(f"unknown option(s) {sorted(unknown)}; known: {sorted(_OPTION_KEYS)}")
        opts = {}
        for key, value in options.items():
            if value is None:
                continue
            opts[_OPTION_KEYS[key]] = _millis(value) if key == "call_timeout" else value
        c = _c()
        handle = ctypes.c_void_p()
        _check(c.dllbridge_open(json.dumps(opts).encode() if opts else None, ctypes.byref(handle)))
        self._handle = handle
        self._gate = _Gate()

    def load(self, path):
        """Loads the library at path in the surrogate (again in every new one)."""
        with self._gate:
            handle = ctypes.c_void_p()
            _check(_c().dllbridge_load(self._handle, os.fsdecode(path).encode("utf-8"), ctypes.byref(handle)))
            return Library(self, handle)

    def stats(self):
        """The bridge's statistics now, a Stats."""
        with self._gate:
            out = ctypes.c_void_p()
            _check(_c().dllbridge_stats_json(self._handle, ctypes.byref(out)))
            return json.loads(_take_string(out), object_hook=Stats)

    def restart(self):
        """Replaces the surrogate now (also after a crash-loop stop)."""
        with self._gate:
            _check(_c().dllbridge_restart(self._handle))

    def close(self):
        """Waits for the calls in progress, stops the surrogate, frees the
        bridge with its libraries and functions. Later use raises Closed."""
        if self._gate.close():
            _c().dllbridge_close(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Library:
    """A library loaded in the surrogate; lives as long as its Bridge."""

    def __init__(self, bridge, handle):
        self._bridge, self._handle = bridge, handle

    def declare(self, signature, idempotent=False, timeout=None, symbol=None):
        """A Function from its C declaration (docs/signature-language.md).
        idempotent: may be sent again after a crash or timeout; timeout: the
        function's default deadline in seconds; symbol: the export to look up
        instead of the declared name (a decorated name, or "#N")."""
        opts = {}
        if idempotent:
            opts["idempotent"] = True
        if timeout is not None:
            opts["timeout_ms"] = _millis(timeout)
        if symbol is not None:
            opts["symbol"] = symbol
        with self._bridge._gate:
            handle = ctypes.c_void_p()
            _check(_c().dllbridge_declare_ex(self._handle, signature.encode("utf-8"),
                                             json.dumps(opts).encode() if opts else None, ctypes.byref(handle)))
            return Function(self._bridge, handle, signature)


_BOOL_WORD = re.compile(r"\b(bool|_Bool)\b")


class Function:
    """A declared function. fn(*args, timeout=None) calls it: one value per
    parameter that is not [out]; timeout (seconds) is this call's deadline,
    else the function's own. Returns a Result; raises an Error subclass."""

    def __init__(self, bridge, handle, signature):
        self._bridge, self._handle, self.signature = bridge, handle, signature
        # None until a call tells whether the scalar fast path
        # (dllbridge_call_values) takes this signature. A bool return comes
        # back as 0 / 1 there and as True / False from JSON: JSON only.
        self._scalar = False if _BOOL_WORD.search(signature) else None

    def __call__(self, *args, timeout=None):
        return self.call(*args, timeout=timeout)

    def call(self, *args, timeout=None):
        """As calling the Function."""
        timeout_ms = _DEFAULT_TIMEOUT if timeout is None else _millis(timeout)
        with self._bridge._gate:
            if self._scalar is not False and all(map(_is_scalar, args)):
                try:
                    r = self._call_values(args, timeout_ms)
                    self._scalar = True
                    return r
                except BadArgument:
                    # Refused before anything was sent: the JSON path takes
                    # pointer parameters the fast path does not, and says
                    # precisely what is wrong otherwise.
                    pass
                r = self._call_json(args, timeout_ms)
                if self._scalar is None:
                    self._scalar = False
                return r
            return self._call_json(args, timeout_ms)

    def call_json(self, args_json, timeout=None):
        """Calls with args_json (a JSON array as text) and returns the C API's
        result JSON as text, exactly what `dllbridge-call --json` prints, for
        a failure too (with its "error" object) instead of raising."""
        timeout_ms = _DEFAULT_TIMEOUT if timeout is None else _millis(timeout)
        with self._bridge._gate:
            return self._raw_json(args_json, timeout_ms)

    def _raw_json(self, args_json, timeout_ms):
        out = ctypes.c_void_p()
        status = _c().dllbridge_call_json_timeout(self._handle, args_json.encode("utf-8"), timeout_ms,
                                                  ctypes.byref(out))
        text = _take_string(out)
        if text is None:
            _check(status)
        return text

    def _call_json(self, args, timeout_ms):
        try:
            text = json.dumps([_to_json(a) for a in args], allow_nan=False)
        except ValueError as e:
            raise BadArgument(str(e)) from None
        answer = json.loads(self._raw_json(text, timeout_ms))
        if "error" in answer:
            raise _error(answer["error"]["kind"], answer["error"]["message"])
        return Result(answer["return"], answer["out"], answer["last_error"], answer["elapsed_us"] / 1e6)

    def _call_values(self, args, timeout_ms):
        values = (_Value * max(1, len(args)))()
        for slot, a in zip(values, args):
            _set_value(slot, a)
        ret, last_error = _Value(), ctypes.c_int64()
        start = time.perf_counter()
        _check(_c().dllbridge_call_values(self._handle, values, len(args), timeout_ms, ctypes.byref(ret),
                                          ctypes.byref(last_error)))
        elapsed = time.perf_counter() - start
        if ret.kind == _INT:
            value = ret.as_.i
        elif ret.kind == _UINT:
            value = ret.as_.u
        elif ret.kind == _DOUBLE:
            value = ret.as_.d
        else:
            value = None
        return Result(value, {}, last_error.value, elapsed)
