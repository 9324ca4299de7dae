/* httpedge_fuzz.c — libFuzzer target for the gateway's raw-byte HTTP/1.1 check
 * (services/gateway/edgeparse.c), the parser every byte a client sends goes through before
 * libmicrohttpd sees it (docs/gateway.md, "The HTTP edge").
 *
 * Input: byte 0 is the size of each read (1..256), the rest is the connection's byte stream.
 * Checked: no crash, leak or UB; the verdict (status, refused message, committed offset) is the
 * same fed whole and fed in reads of that size (TCP cuts anywhere); the committed offset never
 * goes back and never passes what was fed; a refusal has a known status, a reason and a
 * terminator, and commits nothing after it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "edgeparse.h"

/* Small bounds, so that 414 and 431 are reached with short inputs. */
#define MAX_URI    64
#define MAX_HEADER 512

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++, size--;
    ep whole, parts;
    ep_init(&whole, MAX_URI, MAX_HEADER);
    ep_init(&parts, MAX_URI, MAX_HEADER);
    bool ok = ep_feed(&whole, data, size);
    check(ok == (whole.status == 0));
    uint64_t last = 0;
    for (size_t i = 0; i < size; i += step) {
        size_t n = size - i < step ? size - i : step;
        bool more = ep_feed(&parts, data + i, n);
        uint64_t c = ep_commit(&parts);
        check(c >= last && c <= parts.pos);
        last = c;
        if (!more)
            break;
    }
    check(whole.status == parts.status);
    check(ep_commit(&whole) == ep_commit(&parts));
    if (whole.status) {
        int st = whole.status;
        check(st == 400 || st == 413 || st == 414 || st == 431 || st == 501 || st == 505);
        check(whole.why && *whole.why);
        check(whole.refused_msg == parts.refused_msg);
        size_t tl = 0;
        check(ep_terminator(&whole, &tl) && tl > 0);
        uint8_t more = 'x';
        check(!ep_feed(&whole, &more, 1) && ep_commit(&whole) == whole.cut);
    } else {
        check(whole.msg == parts.msg);
    }
    return 0;
}
