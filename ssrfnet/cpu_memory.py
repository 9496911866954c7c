"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc malloc).

glibc serves every allocation above 32 MiB with a fresh mmap and returns it with munmap on free. A CPU
training step allocates hundreds of such activation and gradient buffers (a 3 s batch of 4: 80 MB per
CNN feature map), so each step pays the kernel to fault in and zero hundreds of MB of new pages again; on a
2-core machine that is 5-10% of the step. Turning mmap off for malloc and raising the trim threshold makes
those buffers come from, and go back to, the heap, so later steps reuse pages that are already mapped.
The peak resident memory is the same; it is simply not returned between steps. Linux/glibc only; elsewhere
(or with another allocator preloaded, e.g. jemalloc) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the malloc settings once per process; True when they are in effect.

    SSRFNET_MALLOC_TUNING=0 in the environment turns this off (e.g. to measure its effect).
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("SSRFNET_MALLOC_TUNING", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name)
    trim_ok = libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(2**31 - 1))
    mmap_ok = libc.mallopt(M_MMAP_MAX, ctypes.c_int(0))
    _applied = bool(trim_ok and mmap_ok)
    return _applied
