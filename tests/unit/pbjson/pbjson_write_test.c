/* pbjson_write_test.c — pbjson_to_string (write.c, no jansson tree) must give byte for byte the
 * text of the reference, json_dumps(pbjson_to_json(m), JSON_COMPACT | JSON_ENCODE_ANY), on every
 * kind of content: each scalar at its limits, strings that need escaping or are not UTF-8,
 * floating point (integral, fractional, huge, NaN, infinities, inside a Value), bytes, enums
 * unknown to the descriptor, oneofs, Struct maps (with a repeated key too), nesting past the
 * depth limit, Timestamps out of range, FieldMasks, empty and NULL messages. */
#include "th.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "pbjson/pbjson.h"
#include "testsvc/v1/echo.pb-c.h"

static void assert_same_text(const ProtobufCMessage *m)
{
    json_t *tree = pbjson_to_json(m);
    char *want = json_dumps(tree, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(tree);
    char *got = pbjson_to_string(m);
    if (strcmp(want, got) != 0) {
        print_error("reference %s\n   writer %s\n", want, got);
        free(want);
        free(got);
        fail();
    }
    free(want);
    free(got);
}

static Testsvc__V1__Kitchen *parse(const char *text)
{
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    if (pbjson_from_string(&testsvc__v1__kitchen__descriptor, text, strlen(text), NULL, &m, &err) !=
        CF_OK)
        fail_msg("%s: %s at %s", text, err.message, err.path);
    return (Testsvc__V1__Kitchen *)m;
}

static void parsed_messages_write_as_the_reference(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "{}",
        "{\"s\":\"h\\u00e9 \\\"q\\\" \\\\ / \\b\\f\\n\\r\\t \\u0001\\u001f\\u007f "
        "\\u2028 \\ud83d\\ude00\"}",
        "{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,"
        "\"u64\":\"18446744073709551615\",\"si32\":-5,\"si64\":\"-7\",\"f32\":4294967295,"
        "\"f64\":\"18446744073709551615\",\"sf32\":-3,\"sf64\":\"9223372036854775807\"}",
        "{\"b\":true,\"fl\":1.5,\"db\":-0.25}",
        "{\"fl\":3,\"db\":1e300}",
        "{\"db\":0.1}",
        "{\"db\":-1e-300}",
        "{\"db\":9007199254740993}",
        "{\"db\":\"NaN\",\"fl\":\"-Infinity\"}",
        "{\"db\":\"Infinity\"}",
        "{\"by\":\"AAEC/w==\",\"color\":\"GREEN\",\"colors\":[\"RED\",\"COLOR_UNSPECIFIED\"]}",
        "{\"color\":7,\"colors\":[9]}",
        "{\"inner\":{\"name\":\"n\",\"n\":7},\"inners\":[{\"name\":\"x\",\"n\":1},{}]}",
        "{\"tags\":[\"a\",\"\",\"c\\\"\"],\"nums\":[\"1\",\"-2\"]}",
        "{\"meta\":{\"a\":{\"b\":[1,2.5,null,true,\"s\",{\"deep\":[]}]},\"e\":{},\"l\":[],"
        "\"x\\ny\":\"\\u00ff\",\"n\":-0.0,\"big\":1.2345678901234567e19,\"small\":1e-7}}",
        "{\"at\":\"2026-11-27T09:31:27.123Z\",\"choiceText\":\"pick\",\"snakeCaseName\":\"s\"}",
        "{\"at\":\"0001-01-01T00:00:00Z\",\"choiceNum\":-1}",
        "{\"at\":\"9999-12-31T23:59:59.999999999Z\"}",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        Testsvc__V1__Kitchen *k = parse(inputs[i]);
        assert_same_text(&k->base);
        protobuf_c_message_free_unpacked(&k->base, NULL);
    }
}

static void hand_built_contents_write_as_the_reference(void **state)
{
    (void)state;
    Testsvc__V1__Kitchen k = TESTSVC__V1__KITCHEN__INIT;
    /* not UTF-8: lone continuation, truncated sequence, overlong, surrogate, > U+10FFFF */
    k.s = "a\x80 b\xc3 c\xc0\xaf d\xed\xa0\x80 e\xf4\x90\x80\x80 f\xe2\x82";
    char *tags[] = {"\xff", "ok"};
    k.tags = tags;
    k.n_tags = 2;
    k.fl = NAN;
    k.db = -INFINITY;
    Testsvc__V1__Kitchen__Inner inner = TESTSVC__V1__KITCHEN__INNER__INIT;
    inner.name = NULL; /* a NULL string is "" */
    k.inner = &inner;
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    at.seconds = 253402300800; /* 10000-01-01: out of range, null */
    k.at = &at;
    assert_same_text(&k.base);
    at.seconds = 0;
    at.nanos = 1000000000; /* bad nanos: null */
    assert_same_text(&k.base);
    at.nanos = 500000;
    assert_same_text(&k.base);
}

/* A Struct whose map has the same key twice (possible on the wire) and Values of every kind,
 * including the numbers a Value cannot carry in JSON. */
static void struct_values_and_repeated_keys_write_as_the_reference(void **state)
{
    (void)state;
    Google__Protobuf__Value v[6];
    for (int i = 0; i < 6; i++)
        google__protobuf__value__init(&v[i]);
    v[0].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v[0].number_value = NAN;
    v[1].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v[1].number_value = INFINITY;
    v[2].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    v[3].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v[3].string_value = "x";
    v[4].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
    v[4].bool_value = 1;
    /* v[5]: no kind set */
    Google__Protobuf__Struct__FieldsEntry e[6];
    Google__Protobuf__Struct__FieldsEntry *ep[6];
    const char *keys[] = {"nan", "inf", "null", "s", "b", "none"};
    for (int i = 0; i < 6; i++) {
        google__protobuf__struct__fields_entry__init(&e[i]);
        e[i].key = (char *)keys[i];
        e[i].value = &v[i];
        ep[i] = &e[i];
    }
    Google__Protobuf__Struct st = GOOGLE__PROTOBUF__STRUCT__INIT;
    st.fields = ep;
    st.n_fields = 6;
    assert_same_text(&st.base);
    e[4].key = "nan"; /* the same key twice */
    assert_same_text(&st.base);
    e[4].value = NULL; /* an entry without a value */
    assert_same_text(&st.base);
}

/* Structs nested past PBJSON_MAX_DEPTH: the levels beyond are null in both. */
static void nesting_past_the_limit_writes_as_the_reference(void **state)
{
    (void)state;
    enum { LEVELS = PBJSON_MAX_DEPTH + 5 };
    Google__Protobuf__Struct st[LEVELS];
    Google__Protobuf__Value val[LEVELS];
    Google__Protobuf__Struct__FieldsEntry ent[LEVELS];
    Google__Protobuf__Struct__FieldsEntry *ep[LEVELS];
    for (int i = 0; i < LEVELS; i++) {
        google__protobuf__struct__init(&st[i]);
        google__protobuf__value__init(&val[i]);
        google__protobuf__struct__fields_entry__init(&ent[i]);
        ent[i].key = "k";
        ent[i].value = &val[i];
        ep[i] = &ent[i];
        if (i + 1 < LEVELS) {
            st[i].fields = &ep[i];
            st[i].n_fields = 1;
            val[i].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
            val[i].struct_value = &st[i + 1];
        }
    }
    assert_same_text(&st[0].base);
}

static void field_masks_and_null_write_as_the_reference(void **state)
{
    (void)state;
    Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    assert_same_text(&fm.base);
    char *paths[] = {"name", "app_settings.theme_color", "x"};
    fm.paths = paths;
    fm.n_paths = 3;
    assert_same_text(&fm.base);
    char *s = pbjson_to_string(NULL);
    assert_string_equal(s, "null");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parsed_messages_write_as_the_reference),
        cmocka_unit_test(hand_built_contents_write_as_the_reference),
        cmocka_unit_test(struct_values_and_repeated_keys_write_as_the_reference),
        cmocka_unit_test(nesting_past_the_limit_writes_as_the_reference),
        cmocka_unit_test(field_masks_and_null_write_as_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
