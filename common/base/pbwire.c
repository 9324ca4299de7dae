/* pbwire.c — a depth check of protobuf wire data before protobuf-c unpacks it (see pbwire.h). */
#include "pbwire.h"

#include <assert.h>
#include <stdbool.h>

#define PB_STR_(x) #x
#define PB_STR(x)  PB_STR_(x)

/* Reads a varint of at most 10 bytes from data[*pos..end); false if it runs past end or is
 * longer than any 64-bit value. */
static bool read_varint(const uint8_t *data, size_t end, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*pos >= end)
            return false;
        uint8_t b = data[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The largest field number protobuf allows (2^29 - 1). */
#define MAX_FIELD 536870911u

/* One message being walked: its type and where its bytes end. */
typedef struct frame {
    const ProtobufCMessageDescriptor *desc;
    size_t end;
} frame;

pbwire_result pbwire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                          unsigned max_depth)
{
    assert(max_depth >= 1 && max_depth <= PB_MAX_DEPTH);
    frame st[PB_MAX_DEPTH];
    unsigned depth = 1;
    st[0] = (frame){desc, len};
    size_t pos = 0;
    for (;;) {
        while (pos == st[depth - 1].end) /* a sub-message ends exactly where its length said */
            if (--depth == 0)
                return PBWIRE_OK;
        frame *f = &st[depth - 1];
        uint64_t key, n;
        if (!read_varint(data, f->end, &pos, &key) || key >> 3 == 0 || key >> 3 > MAX_FIELD)
            return PBWIRE_MALFORMED;
        switch (key & 7) {
        case 0: /* varint */
            if (!read_varint(data, f->end, &pos, &n))
                return PBWIRE_MALFORMED;
            break;
        case 1: /* 64-bit */
            if (f->end - pos < 8)
                return PBWIRE_MALFORMED;
            pos += 8;
            break;
        case 5: /* 32-bit */
            if (f->end - pos < 4)
                return PBWIRE_MALFORMED;
            pos += 4;
            break;
        case 2: { /* length-delimited: a sub-message only if desc says so */
            if (!read_varint(data, f->end, &pos, &n) || n > f->end - pos)
                return PBWIRE_MALFORMED;
            const ProtobufCFieldDescriptor *fd =
                protobuf_c_message_descriptor_get_field(f->desc, (unsigned)(key >> 3));
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth == max_depth)
                    return PBWIRE_TOO_DEEP;
                st[depth++] = (frame){fd->descriptor, pos + (size_t)n};
            } else {
                pos += (size_t)n;
            }
            break;
        }
        default: /* 3, 4: groups, which protobuf-c 1.4 refuses; 6, 7: no such wire type */
            return PBWIRE_MALFORMED;
        }
    }
}

cf_code pb_unpack(const ProtobufCMessageDescriptor *desc, ProtobufCAllocator *alloc,
                  const uint8_t *data, size_t len, ProtobufCMessage **out, const char **why)
{
    static const char too_deep[] = "nested deeper than " PB_STR(PB_MAX_DEPTH) " levels";
    *out = NULL;
    switch (pbwire_scan(desc, data, len, PB_MAX_DEPTH)) {
    case PBWIRE_OK:
        break;
    case PBWIRE_TOO_DEEP:
        if (why)
            *why = too_deep;
        return CF_INVALID_ARGUMENT;
    case PBWIRE_MALFORMED:
        if (why)
            *why = "malformed";
        return CF_INVALID_ARGUMENT;
    }
    *out = protobuf_c_message_unpack(desc, alloc, len, data);
    if (!*out) {
        if (why)
            *why = "malformed";
        return CF_INVALID_ARGUMENT;
    }
    return CF_OK;
}
