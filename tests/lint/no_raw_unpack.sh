#!/bin/sh
# no_raw_unpack.sh SOURCE_DIR — fails if code outside tests unpacks protobuf bytes without
# pb_unpack (common/base/pbwire.h): protobuf-c 1.4 recurses with no depth limit, so a raw
# protobuf_c_message_unpack or generated xxx__unpack on bytes from the network crashes on
# deep nesting. Only pbwire.c itself may call protobuf-c's unpack.
set -eu
cd "$1"
hits=$(grep -rnE '(__unpack|protobuf_c_message_unpack)[[:space:]]*\(' common services tools \
         --include='*.c' --include='*.h' | grep -v '^common/base/pbwire\.c:' || true)
if [ -n "$hits" ]; then
    echo "unpack without pb_unpack (use pb_unpack from base/pbwire.h):"
    echo "$hits"
    exit 1
fi
echo "no raw unpack outside common/base/pbwire.c"
