/* mhdpool.c — see mhdpool.h. What was checked in libmicrohttpd 0.9.75's source (Debian 12's
 * 0.9.75-6 adds only a postprocessor fix, CVE-2023-27371), src/microhttpd/:
 *
 * Where the pool is. memorypool.c MHD_pool_create(max): a pool above 32 KiB (and above 4/3 of a
 * page) is one mmap(MAP_PRIVATE | MAP_ANONYMOUS) of max rounded up to whole pages; otherwise, or
 * if that mmap fails, one malloc of max rounded up to 16 bytes. pos = 0, end = size. The pool
 * lives until MHD_pool_destroy (munmap or free) when the connection is cleaned up; a keep-alive
 * reset (MHD_pool_reset) keeps the same memory.
 *
 * Where the first read goes. connection.c MHD_connection_handle_read: with an empty read buffer
 * it calls try_grow_read_buffer, which for read_buffer_size 0 takes avail / 2 (avail =
 * MHD_pool_get_free = end - pos) with MHD_pool_reallocate(pool, NULL, 0, size): a new block at
 * pos. Then recv_param_adapter → recv(fd, &read_buffer[read_buffer_offset = 0], size). Nothing
 * is allocated from the pool before a connection's first read, so that first recv is
 * (pool start, pool size / 2) — and in any case [buf, buf + 2 * len) = [pos, pos + 2 * (avail /
 * 2)) lies inside [memory, memory + end), the pool. The guard records exactly that first call
 * (rawguard.c); its buffer's page-aligned interior is never memory of anything else.
 *
 * What is alive in the pool after the upgrade. connection.c, MHD_CONNECTION_HEADERS_SENT → the
 * 101 is sent whole; state UPGRADE; response.c MHD_response_execute_upgrade_: for a connection
 * without TLS the upgrade handle is calloc'd (not in the pool), read_buffer_offset is set to 0,
 * the connection is suspended, and the application's handler gets the socket and the extra
 * bytes (a pointer into the read buffer: copied by our handler before the release). After the
 * handler: the response (heap) is destroyed and MHD_connection_handle_idle returns for
 * MHD_CONNECTION_UPGRADE; a suspended connection is neither read, written nor timed out.
 * MHD_upgrade_action(CLOSE) resumes it; daemon.c resume_suspended_connections calls
 * notify_completed (ours reads only its own request record) and moves it to the clean-up list;
 * MHD_cleanup_connections calls notify_connection(CLOSED) (ours: its own record) and
 * MHD_pool_destroy. None of these reads the pool: the head's strings (parsed in place in the
 * read buffer), the header records (allocated from the pool's end), the write buffer (the 101,
 * sent) are all dead. The gateway reads request headers only before it answers (gateway.c
 * handle, ws.c gw_ws_upgrade copy what they keep). With TLS the pool is used after the upgrade
 * (the forwarding buffers): the gateway's daemon has no TLS (http.c). So zeroing the whole pool
 * — which is what MADV_DONTNEED does to a private anonymous page (heap pages included) — is
 * safe; the pages are faulted in again as zeros only if touched, and unmapped at close.
 *
 * A library update may change any of this: the release runs only for "0.9.75" (MHD_get_version)
 * and only when the first read's length is exactly half the pool this version makes for the
 * configured limit (mmap'd: whole pages; malloc'd: 16-byte rounding). Anything else keeps the
 * pool. */
#include "mhdpool.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECKED_VERSION "0.9.75"

bool gw_mhdpool_verified(char *why, size_t whylen)
{
    const char *v = MHD_get_version();
    if (v && strcmp(v, CHECKED_VERSION) == 0)
        return true;
    snprintf(why, whylen,
             "libmicrohttpd %s is not the version whose memory pool was checked (" CHECKED_VERSION
             "): an upgraded connection keeps its pool (ws.release_upgrade_buffer has no effect)",
             v ? v : "?");
    return false;
}

size_t gw_mhdpool_release(const void *first_buf, size_t first_len, size_t pool_limit)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (!first_buf || first_len == 0 || pg <= 0)
        return 0;
    size_t page = (size_t)pg;
    size_t mapped = (pool_limit + page - 1) / page * page; /* MHD_pool_create with mmap */
    size_t malloced = (pool_limit + 15) / 16 * 16;         /* its malloc fall-back */
    size_t pool = 2 * first_len;
    if (pool != mapped && pool != malloced)
        return 0; /* not the layout that was checked: keep it */
    uintptr_t lo = (uintptr_t)first_buf, hi = lo + pool;
    uintptr_t a = (lo + page - 1) & ~(uintptr_t)(page - 1), b = hi & ~(uintptr_t)(page - 1);
    if (b <= a)
        return 0;
    if (madvise((void *)a, b - a, MADV_DONTNEED) != 0)
        return 0;
    return b - a;
}
