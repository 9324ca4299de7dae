/* pbjson_fuzz.c — libFuzzer driver for the JSON → message direction (h2o: a fuzz driver for
 * every parser). Any input must be accepted or rejected without a crash or leak, and whatever is
 * accepted must encode to JSON that is accepted again and encodes the same way.
 * Not wired into CMake; build by hand, e.g. from a configured build dir B:
 *   clang -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -D_GNU_SOURCE -Icommon -I$B/gen \
 *     tests/fuzz/pbjson_fuzz.c common/pbjson/{encode,decode,walk,text}.c common/base/xmalloc.c \
 *     $B/gen/testsvc/v1/echo.pb-c.c $B/gen/google/protobuf/{struct,timestamp}.pb-c.c \
 *     -lprotobuf-c -ljansson -lm -o pbjson_fuzz && ./pbjson_fuzz -max_len=4096 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson/pbjson.h"
#include "testsvc/v1/echo.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *desc = &testsvc__v1__kitchen__descriptor;
    ProtobufCMessage *m = NULL, *again = NULL;
    pbjson_error err;
    if (pbjson_from_string(desc, (const char *)data, size, NULL, &m, &err) != CF_OK)
        return 0;
    char *first = pbjson_to_string(m);
    if (pbjson_from_string(desc, first, strlen(first), NULL, &again, &err) != CF_OK)
        abort(); /* our own output must be valid input */
    char *second = pbjson_to_string(again);
    if (strcmp(first, second) != 0)
        abort();
    free(first);
    free(second);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(again, NULL);
    return 0;
}
