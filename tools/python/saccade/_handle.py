"""Base class for objects that own a C handle."""
import ctypes
import threading

from ._lib import Error


class Handle:
    """Owns one C object; close() (or leaving a `with` block, or garbage
    collection) frees it. Calls are serialised with a lock: one C object is
    never used from two threads at once."""
    _free = None  # the C free function, set by subclasses

    def __init__(self):
        self._h = None
        self._lock = threading.RLock()

    def _ptr(self):
        if self._h is None:
            raise Error(1, "%s is closed" % type(self).__name__)
        return self._h

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Free the C object now (idempotent)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            h, self._h = getattr(self, "_h", None), None
            if h is not None and type(self)._free is not None:
                type(self)._free(h)

    def __enter__(self):
        self._ptr()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def new_handle():
    return ctypes.c_void_p()
