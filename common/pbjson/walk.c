/* walk.c — facts about protobuf-c descriptors that the JSON mapping depends on. */
#include "internal.h"

#include <ctype.h>
#include <string.h>

pbj_kind pbj_kind_of(const ProtobufCMessageDescriptor *desc)
{
    static const struct {
        const char *name;
        pbj_kind kind;
    } wkt[] = {
        {"google.protobuf.Struct", PBJ_STRUCT},        {"google.protobuf.Value", PBJ_VALUE},
        {"google.protobuf.ListValue", PBJ_LIST},       {"google.protobuf.Timestamp", PBJ_TIMESTAMP},
        {"google.protobuf.FieldMask", PBJ_FIELD_MASK},
    };
    if (strncmp(desc->name, "google.protobuf.", 16) != 0)
        return PBJ_PLAIN;
    for (size_t i = 0; i < sizeof wkt / sizeof wkt[0]; i++)
        if (strcmp(desc->name, wkt[i].name) == 0)
            return wkt[i].kind;
    return PBJ_PLAIN;
}

/* protobuf-c 1.4.1 keeps no map flag: a map field is a repeated message whose type is the
 * nested "<Parent>.<CamelField>Entry" with fields key = 1 and value = 2. A top-level message
 * that merely looks like one (rpc.v1.MetadataEntry) is not nested, so it stays a list. */
bool pbj_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t plen = strlen(parent->name);
    if (e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
        strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0 ||
        strncmp(e->name, parent->name, plen) != 0 || e->name[plen] != '.')
        return false;
    const char *p = e->name + plen + 1;
    bool up = true;
    for (const char *q = f->name; *q; q++) {
        if (*q == '_') {
            up = true;
            continue;
        }
        if (*p++ != (up ? toupper((unsigned char)*q) : *q))
            return false;
        up = false;
    }
    return strcmp(p, "Entry") == 0;
}

bool pbj_null_is_value(const ProtobufCFieldDescriptor *f)
{
    if (f->type == PROTOBUF_C_TYPE_ENUM)
        return strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name,
                      "google.protobuf.NullValue") == 0;
    return f->type == PROTOBUF_C_TYPE_MESSAGE && pbj_kind_of(f->descriptor) == PBJ_VALUE;
}

size_t pbj_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default: /* 32-bit ints, float, enum */
        return 4;
    }
}

void pbj_json_name(const char *proto_name, char *out, size_t cap)
{
    size_t n = 0;
    bool up = false;
    for (const char *p = proto_name; *p && n + 1 < cap; p++) {
        if (*p == '_')
            up = true;
        else {
            out[n++] = up ? (char)toupper((unsigned char)*p) : *p;
            up = false;
        }
    }
    out[n] = '\0';
}

bool pbj_field_matches(const ProtobufCFieldDescriptor *f, const char *key)
{
    char name[256];
    pbj_json_name(f->name, name, sizeof name);
    return strcmp(f->name, key) == 0 || strcmp(name, key) == 0;
}
