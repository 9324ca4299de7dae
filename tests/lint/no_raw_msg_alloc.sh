#!/bin/sh
# no_raw_msg_alloc.sh SOURCE_DIR — fails if the platform's code makes a message for nng anywhere
# but rpc_sendmsg_alloc (common/rpc/sendmsg.h): nng 1.5.2 loses a message sent to a closing
# connection, and the sanitizer run forgives that loss for that allocator only
# (tests/lsan-nng152.supp). A message made elsewhere (nng_msg_alloc, nng_msg_dup, or nng_send's
# own copy of a buffer) would turn that loss into a failing test on a busy machine, or tempt a
# wider suppression that hides our own leaks.
set -eu
cd "$1"
hits=$(grep -rnE '(nng_msg_alloc|nng_msg_dup|nng_send)[[:space:]]*\(' common services \
         tests/harness tests/integration/gateway/hop.c --include='*.c' --include='*.h' |
       grep -v '^common/rpc/sendmsg\.c:' || true)
if [ -n "$hits" ]; then
    echo "a message for nng made outside rpc_sendmsg_alloc (use rpc/sendmsg.h):"
    echo "$hits"
    exit 1
fi
echo "every message for nng in common/ and services/ comes from rpc_sendmsg_alloc"
