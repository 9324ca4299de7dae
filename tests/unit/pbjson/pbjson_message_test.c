/* pbjson_message_test.c — the proto3 JSON mapping of ordinary messages: names, every scalar kind
 * at its limits, enums, oneofs, nulls, errors with their paths, and memory ownership. */
#include "th.h"

#include <stdlib.h>
#include <string.h>

#include "pbjson/pbjson.h"
#include "rpc/v1/envelope.pb-c.h"
#include "testsvc/v1/echo.pb-c.h"

#define KITCHEN (&testsvc__v1__kitchen__descriptor)

static const char full_kitchen[] =
    "{\"s\":\"h\xc3\xa9\",\"i32\":-2147483648,\"i64\":\"-9223372036854775808\","
    "\"u32\":4294967295,\"u64\":\"18446744073709551615\",\"si32\":-5,\"si64\":\"-7\","
    "\"f32\":4294967295,\"f64\":\"18446744073709551615\",\"sf32\":-3,"
    "\"sf64\":\"9223372036854775807\",\"b\":true,\"fl\":1.5,\"db\":-0.25,\"by\":\"AAEC/w==\","
    "\"color\":\"GREEN\",\"inner\":{\"name\":\"n\",\"n\":7},\"tags\":[\"a\",\"b\"],"
    "\"nums\":[\"1\",\"-2\"],\"inners\":[{\"name\":\"x\",\"n\":1},{\"name\":\"\",\"n\":0}],"
    "\"colors\":[\"RED\",\"COLOR_UNSPECIFIED\"],"
    "\"meta\":{\"a\":{\"b\":[1,2.5,null,true,\"s\"]},\"e\":{},\"l\":[]},"
    "\"at\":\"2026-11-27T09:31:27.123Z\",\"choiceText\":\"pick\",\"snakeCaseName\":\"snake\"}";

static Testsvc__V1__Kitchen *parse_ok(const char *text)
{
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    cf_code rc = pbjson_from_string(KITCHEN, text, strlen(text), NULL, &m, &err);
    if (rc != CF_OK)
        fail_msg("%s: %s at \"%s\"", text, err.message, err.path);
    assert_non_null(m);
    return (Testsvc__V1__Kitchen *)m;
}

static void assert_json_eq(const json_t *expected, const json_t *actual)
{
    if (!json_equal(expected, actual)) {
        char *e = json_dumps(expected, JSON_COMPACT | JSON_ENCODE_ANY);
        char *a = json_dumps(actual, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("expected %s\n     got %s\n", e, a);
        free(e);
        free(a);
        fail();
    }
}

/* The JSON a one-field input comes back as, for that field. */
static json_t *field_after_round_trip(const char *text, const char *field)
{
    Testsvc__V1__Kitchen *k = parse_ok(text);
    json_t *j = pbjson_to_json(&k->base);
    json_t *v = json_incref(json_object_get(j, field));
    json_decref(j);
    protobuf_c_message_free_unpacked(&k->base, NULL);
    assert_non_null(v);
    return v;
}

static void round_trip_of_a_fully_populated_message_is_identity(void **state)
{
    (void)state;
    json_t *in = json_loads(full_kitchen, 0, NULL);
    assert_non_null(in);
    Testsvc__V1__Kitchen *k = parse_ok(full_kitchen);
    json_t *out = pbjson_to_json(&k->base);
    assert_json_eq(in, out);

    /* same layout as unpack: the binary round trip gives the same JSON */
    size_t n = protobuf_c_message_get_packed_size(&k->base);
    uint8_t *buf = malloc(n);
    protobuf_c_message_pack(&k->base, buf);
    ProtobufCMessage *u = protobuf_c_message_unpack(KITCHEN, NULL, n, buf);
    assert_non_null(u);
    json_t *out2 = pbjson_to_json(u);
    assert_json_eq(in, out2);
    char *s = pbjson_to_string(u);
    assert_null(strchr(s, ' ')); /* compact */
    free(s);

    protobuf_c_message_free_unpacked(u, NULL);
    protobuf_c_message_free_unpacked(&k->base, NULL);
    free(buf);
    json_decref(in);
    json_decref(out);
    json_decref(out2);
}

static void unpopulated_fields_are_emitted_like_grpc_gateway(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen k = TESTSVC__V1__KITCHEN__INIT;
    json_t *out = pbjson_to_json(&k.base);
    json_t *want = json_loads(
        "{\"s\":\"\",\"i32\":0,\"i64\":\"0\",\"u32\":0,\"u64\":\"0\",\"si32\":0,\"si64\":\"0\","
        "\"f32\":0,\"f64\":\"0\",\"sf32\":0,\"sf64\":\"0\",\"b\":false,\"fl\":0,\"db\":0,"
        "\"by\":\"\",\"color\":\"COLOR_UNSPECIFIED\",\"inner\":null,\"tags\":[],\"nums\":[],"
        "\"inners\":[],\"colors\":[],\"meta\":null,\"at\":null,\"snakeCaseName\":\"\"}",
        0, NULL);
    assert_json_eq(want, out);
    json_decref(out);
    json_decref(want);
}

/* Accepted inputs and what they are emitted as. */
static const struct {
    const char *in, *field, *out;
} accepted[] = {
    {"{\"i32\":2147483647}", "i32", "2147483647"},
    {"{\"i32\":\"-2147483648\"}", "i32", "-2147483648"},
    {"{\"i32\":1.0}", "i32", "1"},
    {"{\"i32\":1e3}", "i32", "1000"},
    {"{\"si32\":-2147483648}", "si32", "-2147483648"},
    {"{\"sf32\":\"2147483647\"}", "sf32", "2147483647"},
    {"{\"u32\":\"4294967295\"}", "u32", "4294967295"},
    {"{\"f32\":0}", "f32", "0"},
    {"{\"i64\":\"9223372036854775807\"}", "i64", "\"9223372036854775807\""},
    {"{\"i64\":9223372036854775807}", "i64", "\"9223372036854775807\""},
    {"{\"i64\":-9223372036854775808}", "i64", "\"-9223372036854775808\""},
    {"{\"si64\":\"-9223372036854775808\"}", "si64", "\"-9223372036854775808\""},
    {"{\"sf64\":-1}", "sf64", "\"-1\""},
    {"{\"u64\":\"18446744073709551615\"}", "u64", "\"18446744073709551615\""},
    {"{\"u64\":\"-0\"}", "u64", "\"0\""},
    {"{\"f64\":9223372036854775807}", "f64", "\"9223372036854775807\""},
    {"{\"nums\":[1,\"2\",-3]}", "nums", "[\"1\",\"2\",\"-3\"]"},
    {"{\"fl\":\"NaN\"}", "fl", "\"NaN\""},
    {"{\"fl\":\"Infinity\"}", "fl", "\"Infinity\""},
    {"{\"db\":\"-Infinity\"}", "db", "\"-Infinity\""},
    {"{\"db\":\"2.5\"}", "db", "2.5"},
    {"{\"db\":1e300}", "db", "1e300"},
    {"{\"fl\":3.4e38}", "fl", "3.3999999521443642e38"},
    {"{\"db\":3}", "db", "3"},
    {"{\"b\":false}", "b", "false"},
    {"{\"b\":true}", "b", "true"},
    {"{\"by\":\"AAEC/w==\"}", "by", "\"AAEC/w==\""},
    {"{\"by\":\"AAEC_w\"}", "by", "\"AAEC/w==\""}, /* URL-safe, unpadded */
    {"{\"by\":\"-_8=\"}", "by", "\"+/8=\""},
    {"{\"by\":\"\"}", "by", "\"\""},
    {"{\"color\":\"RED\"}", "color", "\"RED\""},
    {"{\"color\":2}", "color", "\"GREEN\""},
    {"{\"color\":7}", "color", "7"}, /* proto3 enums are open */
    {"{\"colors\":[\"GREEN\",1]}", "colors", "[\"GREEN\",\"RED\"]"},
    {"{\"s\":\"\\u00e9\\ud83d\\ude00\"}", "s", "\"\xc3\xa9\xf0\x9f\x98\x80\""},
    {"{\"snake_case_name\":\"x\"}", "snakeCaseName", "\"x\""},
    {"{\"snakeCaseName\":\"y\"}", "snakeCaseName", "\"y\""},
    {"{\"choice_num\":0}", "choiceNum", "0"},
    {"{\"inner\":{}}", "inner", "{\"name\":\"\",\"n\":0}"},
    {"{\"inner\":{\"name\":\"a\",\"n\":\"3\"}}", "inner", "{\"name\":\"a\",\"n\":3}"},
};

static void scalars_enums_and_names_are_accepted_as_the_mapping_says(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        json_t *got = field_after_round_trip(accepted[i].in, accepted[i].field);
        json_t *want = json_loads(accepted[i].out, JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        if (!json_equal(want, got))
            print_error("case %zu: %s\n", i, accepted[i].in);
        assert_json_eq(want, got);
        json_decref(got);
        json_decref(want);
    }
}

/* Rejected inputs: the path named and a word of the message. */
static const struct {
    const char *in, *path, *message;
} rejected[] = {
    {"{\"i32\":2147483648}", "i32", "out of range"},
    {"{\"i32\":\"-2147483649\"}", "i32", "out of range"},
    {"{\"i32\":1.5}", "i32", "integer"},
    {"{\"i32\":\"1.0\"}", "i32", "integer"},
    {"{\"i32\":\" 1\"}", "i32", "integer"},
    {"{\"i32\":true}", "i32", "integer"},
    {"{\"u32\":-1}", "u32", "out of range"},
    {"{\"u32\":4294967296}", "u32", "out of range"},
    {"{\"i64\":\"abc\"}", "i64", "integer"},
    {"{\"i64\":1.5}", "i64", "integer"},
    {"{\"i64\":\"9223372036854775808\"}", "i64", "out of range"},
    {"{\"i64\":\"-9223372036854775809\"}", "i64", "out of range"},
    {"{\"i64\":\"+1\"}", "i64", "integer"},
    {"{\"i64\":\"\"}", "i64", "integer"},
    {"{\"u64\":\"-1\"}", "u64", "out of range"},
    {"{\"u64\":\"18446744073709551616\"}", "u64", "out of range"},
    {"{\"f64\":-5}", "f64", "out of range"},
    {"{\"nums\":[1,\"x\"]}", "nums[1]", "integer"},
    {"{\"fl\":1e39}", "fl", "out of range"},
    {"{\"fl\":\"nan\"}", "fl", "number"},
    {"{\"db\":\"1e999\"}", "db", "number"},
    {"{\"db\":\"0x10\"}", "db", "number"},
    {"{\"db\":{}}", "db", "number"},
    {"{\"b\":\"true\"}", "b", "boolean"},
    {"{\"b\":1}", "b", "boolean"},
    {"{\"s\":5}", "s", "string"},
    {"{\"tags\":\"a\"}", "tags", "array"},
    {"{\"tags\":[\"a\",null]}", "tags[1]", "string"},
    {"{\"by\":\"!!!!\"}", "by", "base64"},
    {"{\"by\":\"A\"}", "by", "base64"},
    {"{\"by\":\"AA=A\"}", "by", "base64"},
    {"{\"by\":1}", "by", "base64"},
    {"{\"color\":\"BLUE\"}", "color", "unknown value \"BLUE\""},
    {"{\"color\":\"red\"}", "color", "unknown value"},
    {"{\"color\":true}", "color", "enum"},
    {"{\"colors\":[\"RED\",\"NOPE\"]}", "colors[1]", "unknown value"},
    {"{\"inner\":5}", "inner", "object"},
    {"{\"inner\":[]}", "inner", "object"},
    {"{\"nope\":1}", "nope", "unknown field"},
    {"{\"inner\":{\"bogus\":1}}", "inner.bogus", "unknown field"},
    {"{\"inners\":[{},{\"n\":1,\"x\":2}]}", "inners[1].x", "unknown field"},
    {"{\"inners\":[{\"n\":\"x\"}]}", "inners[0].n", "integer"},
    {"{\"Inner\":{}}", "Inner", "unknown field"},
    {"{\"choiceText\":\"a\",\"choiceNum\":1}", "choiceNum", "oneof"},
    {"{\"snake_case_name\":\"a\",\"snakeCaseName\":\"b\"}", "snakeCaseName", "twice"},
    {"{\"at\":\"yesterday\"}", "at", "RFC 3339"},
    {"{\"at\":5}", "at", "RFC 3339"},
    {"{\"meta\":[]}", "meta", "object"},
    {"{\"s\":\"a\",\"s\":\"b\"}", "", "duplicate"},
    {"{\"s\":\"a\"", "", "line 1"},
    {"", "", "line"},
    {"[1]", "", "top level"},
    {"{\"s\":\"\xff\"}", "", "unable to decode byte 0xff"},
    {"{\"s\":\"\xed\xa0\x80\"}", "", "unable to decode byte"}, /* an encoded surrogate */
    {"{\"s\":\"a\\u0000b\"}", "", "NUL"},
};

static void bad_input_is_invalid_argument_naming_the_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        ProtobufCMessage *m = (ProtobufCMessage *)1;
        pbjson_error err;
        cf_code rc =
            pbjson_from_string(KITCHEN, rejected[i].in, strlen(rejected[i].in), NULL, &m, &err);
        if (rc != CF_INVALID_ARGUMENT || strcmp(err.path, rejected[i].path) != 0 ||
            !strstr(err.message, rejected[i].message))
            fail_msg("case %zu %s: got %s path \"%s\" message \"%s\"", i, rejected[i].in,
                     cf_code_name(rc), err.path, err.message);
        assert_null(m);
    }
}

static void null_means_unset(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen *k =
        parse_ok("{\"s\":null,\"i64\":null,\"inner\":null,\"tags\":null,\"meta\":null,"
                 "\"at\":null,\"color\":null,\"by\":null,\"choiceText\":null}");
    assert_string_equal(k->s, "");
    assert_int_equal(k->i64, 0);
    assert_null(k->inner);
    assert_int_equal(k->n_tags, 0);
    assert_null(k->meta);
    assert_null(k->at);
    assert_int_equal(k->choice_case, TESTSVC__V1__KITCHEN__CHOICE__NOT_SET);
    protobuf_c_message_free_unpacked(&k->base, NULL);
}

static void oneof_emits_only_the_member_that_is_set(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen *k = parse_ok("{\"choiceNum\":0}");
    assert_int_equal(k->choice_case, TESTSVC__V1__KITCHEN__CHOICE_CHOICE_NUM);
    json_t *j = pbjson_to_json(&k->base);
    assert_non_null(json_object_get(j, "choiceNum"));
    assert_null(json_object_get(j, "choiceText"));
    json_decref(j);
    protobuf_c_message_free_unpacked(&k->base, NULL);

    k = parse_ok("{\"choice_text\":\"t\"}");
    assert_int_equal(k->choice_case, TESTSVC__V1__KITCHEN__CHOICE_CHOICE_TEXT);
    assert_string_equal(k->choice_text, "t");
    j = pbjson_to_json(&k->base);
    assert_null(json_object_get(j, "choiceNum"));
    assert_string_equal(json_string_value(json_object_get(j, "choiceText")), "t");
    json_decref(j);
    protobuf_c_message_free_unpacked(&k->base, NULL);

    Testsvc__V1__Kitchen none = TESTSVC__V1__KITCHEN__INIT;
    j = pbjson_to_json(&none.base);
    assert_null(json_object_get(j, "choiceNum"));
    assert_null(json_object_get(j, "choiceText"));
    json_decref(j);
}

static void parsed_values_land_in_the_generated_struct(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen *k = parse_ok(full_kitchen);
    assert_int_equal(k->i32, INT32_MIN);
    assert_true(k->i64 == INT64_MIN);
    assert_true(k->u64 == UINT64_MAX);
    assert_true(k->sf64 == INT64_MAX);
    assert_int_equal(k->color, TESTSVC__V1__KITCHEN__COLOR__GREEN);
    assert_int_equal(k->by.len, 4);
    assert_memory_equal(k->by.data, "\x00\x01\x02\xff", 4);
    assert_string_equal(k->inner->name, "n");
    assert_int_equal(k->n_inners, 2);
    assert_int_equal(k->inners[0]->n, 1);
    assert_int_equal(k->n_nums, 2);
    assert_true(k->nums[1] == -2);
    assert_string_equal(k->snake_case_name, "snake");
    assert_true(k->at->seconds == 1795771887);
    assert_int_equal(k->at->nanos, 123000000);
    protobuf_c_message_free_unpacked(&k->base, NULL);
}

/* A protobuf-c allocator that counts live blocks. */
typedef struct counting {
    long live, total;
} counting;

static void *count_alloc(void *data, size_t n)
{
    counting *c = data;
    c->live++;
    c->total++;
    return malloc(n);
}

static void count_free(void *data, void *p)
{
    counting *c = data;
    c->live -= p != NULL;
    free(p);
}

static void every_block_comes_from_the_callers_allocator(void **state)
{
    (void)state;
    counting c = {0, 0};
    ProtobufCAllocator a = {count_alloc, count_free, &c};
    ProtobufCMessage *m = NULL;
    assert_code(CF_OK,
                pbjson_from_string(KITCHEN, full_kitchen, strlen(full_kitchen), &a, &m, NULL));
    assert_true(c.total > 20);
    protobuf_c_message_free_unpacked(m, &a);
    assert_int_equal(c.live, 0);

    /* errors deep inside leave nothing behind */
    const char *bad[] = {
        "{\"s\":\"x\",\"inners\":[{\"name\":\"a\"},{\"name\":5}]}",
        "{\"tags\":[\"a\",\"b\",3],\"inner\":{\"name\":\"x\"}}",
        "{\"meta\":{\"a\":[1,{\"b\":\"c\"}]},\"by\":\"AAAA\",\"at\":\"x\"}",
        "{\"choiceText\":\"a\",\"choiceNum\":1}",
        "{\"inner\":{\"name\":\"x\",\"zz\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (counting){0, 0};
        assert_code(CF_INVALID_ARGUMENT,
                    pbjson_from_string(KITCHEN, bad[i], strlen(bad[i]), &a, &m, NULL));
        assert_true(c.total > 0);
        assert_int_equal(c.live, 0);
    }
}

static void invalid_utf8_in_a_message_is_emitted_as_replacement_characters(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen k = TESTSVC__V1__KITCHEN__INIT;
    char bad[] = "a\xff"
                 "b\xc3";
    k.s = bad;
    json_t *j = pbjson_to_json(&k.base);
    assert_string_equal(json_string_value(json_object_get(j, "s")), "a\xef\xbf\xbd"
                                                                    "b\xef\xbf\xbd");
    json_decref(j);
}

/* rpc.v1.MetadataEntry has key/value fields but is not a map entry: it stays a list. */
static void only_real_map_entries_become_objects(void **state)
{
    (void)state;
    const char *in = "{\"method\":\"a.B/C\",\"metadata\":[{\"key\":\"k\",\"value\":\"v\"}]}";
    ProtobufCMessage *m = NULL;
    assert_code(CF_OK,
                pbjson_from_string(&rpc__v1__request__descriptor, in, strlen(in), NULL, &m, NULL));
    char *s = pbjson_to_string(m);
    assert_non_null(strstr(s, "\"metadata\":[{\"key\":\"k\",\"value\":\"v\"}]"));
    assert_non_null(strstr(s, "\"timeoutMs\":0"));
    free(s);
    protobuf_c_message_free_unpacked(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_of_a_fully_populated_message_is_identity),
        cmocka_unit_test(unpopulated_fields_are_emitted_like_grpc_gateway),
        cmocka_unit_test(scalars_enums_and_names_are_accepted_as_the_mapping_says),
        cmocka_unit_test(bad_input_is_invalid_argument_naming_the_path),
        cmocka_unit_test(null_means_unset),
        cmocka_unit_test(oneof_emits_only_the_member_that_is_set),
        cmocka_unit_test(parsed_values_land_in_the_generated_struct),
        cmocka_unit_test(every_block_comes_from_the_callers_allocator),
        cmocka_unit_test(invalid_utf8_in_a_message_is_emitted_as_replacement_characters),
        cmocka_unit_test(only_real_map_entries_become_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
