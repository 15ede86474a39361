"""Keep a long-running server's resident memory low under glibc's allocator.

Every completion allocates and frees full-vocabulary arrays (1-2 MB each) on several threads.
glibc raises its mmap threshold after the first such block is freed, so later ones come from
per-thread heap arenas that fragment and rarely shrink. A fixed threshold keeps big blocks in
mmap (returned to the system on free) and two arenas bound the fragmentation. Measured with
`caveat bench soak --requests 500`: RSS after warm-up 497 MB instead of 524 MB, growth over
the run about the same (+17 MB vs +14 MB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, now fixed
ARENA_MAX = 2


def tune_allocator() -> bool:
    """Apply the settings above when running on glibc; False (and no change) elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    if not ok:
        logger.debug("mallopt refused the allocator settings")
    return ok
