/* test_pbwire.c — the nesting check before every protobuf unpack (base/pbwire.h): the bound
 * exactly, one past it, the 10^5-deep messages that overflow protobuf-c's recursion, malformed
 * varints and lengths, packed fields, groups, unknown fields, and agreement with protobuf-c on
 * random mutations of a valid message. SPEC §4: malformed input gets INVALID_ARGUMENT and never
 * crashes a service. */
#include "th.h"
#include "pbdeep.h"
#include "base/pbwire.h"

#include <stdlib.h>
#include <string.h>

#include "google/protobuf/struct.pb-c.h"
#include "testsvc/v1/echo.pb-c.h"

#define VALUE   (&google__protobuf__value__descriptor)
#define KITCHEN (&testsvc__v1__kitchen__descriptor)

static pbwire_result scan(const ProtobufCMessageDescriptor *d, const th_pbw *w)
{
    return pbwire_scan(d, th_pbw_data(w), th_pbw_len(w), PB_MAX_DEPTH);
}

/* Levels of a Value unpacked from th_pbw_deep_value, counted by walking down it. */
static size_t value_levels(const Google__Protobuf__Value *v)
{
    size_t n = 1;
    while (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE) {
        n++;
        if (v->list_value->n_values == 0)
            break;
        v = v->list_value->values[0];
        n++;
    }
    return n;
}

static void depth_at_the_bound_unpacks_and_one_more_is_refused(void **state)
{
    (void)state;
    for (size_t levels = PB_MAX_DEPTH - 1; levels <= PB_MAX_DEPTH + 1; levels++) {
        th_pbw w;
        th_pbw_init(&w, 8 * levels);
        th_pbw_deep_value(&w, levels);
        ProtobufCMessage *m = NULL;
        const char *why = NULL;
        cf_code rc = pb_unpack(VALUE, NULL, th_pbw_data(&w), th_pbw_len(&w), &m, &why);
        if (levels <= PB_MAX_DEPTH) {
            assert_int_equal(scan(VALUE, &w), PBWIRE_OK);
            assert_code(CF_OK, rc);
            assert_int_equal(value_levels((Google__Protobuf__Value *)m), levels);
            protobuf_c_message_free_unpacked(m, NULL);
        } else {
            assert_int_equal(scan(VALUE, &w), PBWIRE_TOO_DEEP);
            assert_code(CF_INVALID_ARGUMENT, rc);
            assert_null(m);
            assert_string_equal(why, "nested deeper than 256 levels");
        }
        th_pbw_free(&w);
    }
}

/* The bound counts every message level, map entries included: a Struct field of a message is
 * message, Struct, FieldsEntry, Value, … */
static void struct_nesting_counts_map_entries(void **state)
{
    (void)state;
    for (size_t depth = PB_MAX_DEPTH; depth <= PB_MAX_DEPTH + 1; depth++) {
        uint8_t *b;
        size_t n;
        th_pb_deep_struct_field(22, depth, &b, &n); /* Kitchen.meta */
        assert_int_equal(pbwire_scan(KITCHEN, b, n, PB_MAX_DEPTH),
                         depth <= PB_MAX_DEPTH ? PBWIRE_OK : PBWIRE_TOO_DEEP);
        free(b);
    }
}

/* What crashes protobuf-c (issue 13: ~10^4 levels) is refused, whatever the depth. */
static void very_deep_messages_are_refused_before_unpacking(void **state)
{
    (void)state;
    static const size_t depths[] = {1000, 10000, 100000, 1000000};
    for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
        uint8_t *b;
        size_t n;
        th_pb_deep_struct_field(22, depths[i], &b, &n);
        ProtobufCMessage *m = NULL;
        const char *why = NULL;
        assert_code(CF_INVALID_ARGUMENT, pb_unpack(KITCHEN, NULL, b, n, &m, &why));
        assert_null(m);
        assert_string_equal(why, "nested deeper than 256 levels");
        free(b);
    }
}

/* A smaller max_depth is honoured exactly (the scanner's own bound, not only PB_MAX_DEPTH). */
static void scan_honours_a_smaller_bound(void **state)
{
    (void)state;
    for (unsigned max = 1; max <= 8; max++) {
        for (size_t levels = 1; levels <= 10; levels++) {
            th_pbw w;
            th_pbw_init(&w, 64);
            th_pbw_deep_value(&w, levels);
            assert_int_equal(pbwire_scan(VALUE, th_pbw_data(&w), th_pbw_len(&w), max),
                             levels <= max ? PBWIRE_OK : PBWIRE_TOO_DEEP);
            th_pbw_free(&w);
        }
    }
}

/* Only fields the descriptor declares as messages are descended: nested-looking bytes in an
 * unknown field, a string, bytes or a packed field are skipped, as protobuf-c keeps them raw. */
static void only_declared_message_fields_are_descended(void **state)
{
    (void)state;
    static const uint32_t fields[] = {
        1,    /* Kitchen.s: string */
        15,   /* Kitchen.by: bytes */
        19,   /* Kitchen.nums: packed int64 */
        1000, /* unknown */
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        th_pbw w;
        th_pbw_init(&w, 8 * 5000);
        /* Value->ListValue chain bytes, valid as varints too: every byte pair is a tag or a
         * length below 0x80 except the outer lengths, which are well-formed varints */
        th_pbw_deep_value(&w, 4000);
        th_pbw_wrap(&w, fields[i], 0);
        assert_int_equal(scan(KITCHEN, &w), PBWIRE_OK);
        th_pbw_free(&w);
    }
}

/* Packed repeated scalars: many elements in one field, and a packed length past the end. */
static void packed_fields_are_skipped_by_their_length(void **state)
{
    (void)state;
    th_pbw w;
    th_pbw_init(&w, 40000);
    size_t mark = th_pbw_len(&w);
    for (int i = 0; i < 3000; i++)
        th_pbw_varint(&w, (uint64_t)i * 0x10001);
    th_pbw_wrap(&w, 19, mark); /* nums, packed */
    size_t mark2 = th_pbw_len(&w);
    th_pbw_varint(&w, 1);
    th_pbw_varint(&w, 2);
    th_pbw_wrap(&w, 21, mark2); /* colors, packed enum */
    assert_int_equal(scan(KITCHEN, &w), PBWIRE_OK);
    ProtobufCMessage *m;
    assert_code(CF_OK, pb_unpack(KITCHEN, NULL, th_pbw_data(&w), th_pbw_len(&w), &m, NULL));
    assert_int_equal(((Testsvc__V1__Kitchen *)m)->n_nums, 3000);
    assert_int_equal(((Testsvc__V1__Kitchen *)m)->n_colors, 2);
    protobuf_c_message_free_unpacked(m, NULL);
    th_pbw_free(&w);

    static const uint8_t past_end[] = {0x9a, 0x01, 0x05, 0x01, 0x02}; /* nums: 5 bytes, 2 left */
    assert_int_equal(pbwire_scan(KITCHEN, past_end, sizeof past_end, PB_MAX_DEPTH),
                     PBWIRE_MALFORMED);
}

/* Many sibling sub-messages are not depth: 10,000 repeated messages at level 2. */
static void siblings_do_not_add_depth(void **state)
{
    (void)state;
    th_pbw w;
    th_pbw_init(&w, 10000 * 8);
    for (int i = 0; i < 10000; i++) {
        size_t mark = th_pbw_len(&w);
        th_pbw_string(&w, 1, "x");
        th_pbw_wrap(&w, 20, mark); /* inners */
    }
    assert_int_equal(scan(KITCHEN, &w), PBWIRE_OK);
    th_pbw_free(&w);
}

/* Malformed wire data: the scanner says MALFORMED, pb_unpack INVALID_ARGUMENT "malformed", and
 * protobuf-c itself refuses the same bytes (the check is never stricter than the parser on
 * these). */
static void malformed_wire_data_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        uint8_t bytes[16];
        size_t len;
    } cases[] = {
        {"tag varint cut short", {0x80}, 1},
        {"field number 0", {0x02, 0x00}, 2},
        {"tag varint of 11 bytes",
         {0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
         11},
        {"value varint cut short", {0x10, 0xff, 0xff}, 3}, /* i32 */
        {"value varint of 11 bytes",
         {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
         12},
        {"fixed64 cut short", {0x49, 1, 2, 3, 4, 5, 6, 7}, 8}, /* f64 */
        {"fixed32 cut short", {0x45, 1, 2, 3}, 4},             /* f32 */
        {"length past the end", {0x0a, 0x05, 'a', 'b'}, 4},    /* s */
        {"length varint cut short", {0x0a, 0x80}, 2},
        {"huge length", {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}, 7},
        {"sub-message field past its end", {0x8a, 0x01, 0x02, 0x0a, 0x05, 'a', 'b', 'c'}, 8},
        {"start group", {0x0b, 0x0c}, 2}, /* field 1 */
        {"end group alone", {0x0c}, 1},
        {"wire type 6", {0x0e, 0x00}, 2},
        {"wire type 7", {0x0f, 0x00}, 2},
        {"group inside a sub-message", {0x8a, 0x01, 0x02, 0x0b, 0x0c}, 5}, /* inner */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (pbwire_scan(KITCHEN, cases[i].bytes, cases[i].len, PB_MAX_DEPTH) != PBWIRE_MALFORMED)
            fail_msg("%s: not MALFORMED", cases[i].what);
        ProtobufCMessage *m = (ProtobufCMessage *)1;
        const char *why = NULL;
        assert_code(CF_INVALID_ARGUMENT,
                    pb_unpack(KITCHEN, NULL, cases[i].bytes, cases[i].len, &m, &why));
        assert_null(m);
        assert_string_equal(why, "malformed");
        ProtobufCMessage *raw =
            protobuf_c_message_unpack(KITCHEN, NULL, cases[i].len, cases[i].bytes);
        if (raw)
            fail_msg("%s: protobuf-c accepts what the scanner refuses", cases[i].what);
    }
}

/* Well-formed wire data protobuf-c refuses (a message field sent as a varint) passes the scan
 * and pb_unpack still reports "malformed" from protobuf-c. Empty input is an empty message.
 * Field numbers: 2^29 - 1 is the largest protobuf allows. */
static void what_protobuf_c_refuses_after_the_scan_is_malformed_too(void **state)
{
    (void)state;
    /* the one place the scan is stricter: field numbers past 2^29 - 1, which protobuf forbids
     * and protobuf-c keeps as an unknown field */
    static const uint8_t big_field[] = {0xfa, 0xff, 0xff, 0xff, 0x1f, 0x00};
    assert_int_equal(pbwire_scan(KITCHEN, big_field, sizeof big_field, PB_MAX_DEPTH),
                     PBWIRE_MALFORMED);
    static const uint8_t max_field[] = {0xfa, 0xff, 0xff, 0xff, 0x0f, 0x00}; /* 2^29 - 1 */
    assert_int_equal(pbwire_scan(KITCHEN, max_field, sizeof max_field, PB_MAX_DEPTH), PBWIRE_OK);

    static const uint8_t inner_as_varint[] = {0x88, 0x01, 0x05}; /* inner = 5 */
    assert_int_equal(pbwire_scan(KITCHEN, inner_as_varint, sizeof inner_as_varint, PB_MAX_DEPTH),
                     PBWIRE_OK);
    ProtobufCMessage *m;
    const char *why = NULL;
    assert_code(CF_INVALID_ARGUMENT,
                pb_unpack(KITCHEN, NULL, inner_as_varint, sizeof inner_as_varint, &m, &why));
    assert_null(m);
    assert_string_equal(why, "malformed");

    assert_code(CF_OK, pb_unpack(KITCHEN, NULL, (const uint8_t *)"", 0, &m, NULL));
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Random mutations of a valid message with nested parts: the scan never crashes, and when it
 * says MALFORMED protobuf-c refuses the bytes too; when protobuf-c accepts, the scan said OK
 * (these messages are shallow). Fixed seed: a failure reproduces. */
static void random_mutations_agree_with_protobuf_c(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen k = TESTSVC__V1__KITCHEN__INIT;
    Testsvc__V1__Kitchen__Inner in = TESTSVC__V1__KITCHEN__INNER__INIT;
    in.name = "inner";
    in.n = 300;
    k.inner = &in;
    Testsvc__V1__Kitchen__Inner *ins[2] = {&in, &in};
    k.inners = ins;
    k.n_inners = 2;
    int64_t nums[3] = {1, -1, 1 << 20};
    k.nums = nums;
    k.n_nums = 3;
    k.s = "text";
    k.f64 = 7;
    k.f32 = 9;
    uint8_t base[512];
    size_t n = protobuf_c_message_pack(&k.base, base);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 50000; round++) {
        uint8_t b[512];
        memcpy(b, base, n);
        size_t len = n;
        int edits = 1 + (int)(th_xorshift(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = th_xorshift(&seed);
            size_t at = (size_t)(r >> 8) % len;
            switch (r & 3) {
            case 0:
                b[at] = (uint8_t)(r >> 40);
                break;
            case 1:
                b[at] ^= (uint8_t)(1u << ((r >> 40) & 7));
                break;
            case 2:
                len = at + 1; /* truncate */
                break;
            default:
                b[at] = (uint8_t)(b[at] | 0x80);
            }
        }
        pbwire_result sr = pbwire_scan(KITCHEN, b, len, PB_MAX_DEPTH);
        ProtobufCMessage *raw = protobuf_c_message_unpack(KITCHEN, NULL, len, b);
        if (raw && sr != PBWIRE_OK)
            fail_msg("round %d: protobuf-c accepts, scan says %d", round, (int)sr);
        protobuf_c_message_free_unpacked(raw, NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(depth_at_the_bound_unpacks_and_one_more_is_refused),
        cmocka_unit_test(struct_nesting_counts_map_entries),
        cmocka_unit_test(very_deep_messages_are_refused_before_unpacking),
        cmocka_unit_test(scan_honours_a_smaller_bound),
        cmocka_unit_test(only_declared_message_fields_are_descended),
        cmocka_unit_test(packed_fields_are_skipped_by_their_length),
        cmocka_unit_test(siblings_do_not_add_depth),
        cmocka_unit_test(malformed_wire_data_is_refused),
        cmocka_unit_test(what_protobuf_c_refuses_after_the_scan_is_malformed_too),
        cmocka_unit_test(random_mutations_agree_with_protobuf_c),
    };
    return cmocka_run_group_tests_name("pbwire", tests, NULL, NULL);
}
