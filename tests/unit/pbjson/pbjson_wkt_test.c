/* pbjson_wkt_test.c — the well-known types' JSON forms (Struct/Value/ListValue, Timestamp,
 * FieldMask, Empty) and the nesting limit against hostile input. */
#include "th.h"

#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "pbjson/pbjson.h"
#include "testsvc/v1/echo.pb-c.h"

#define KITCHEN (&testsvc__v1__kitchen__descriptor)

static void struct_round_trips_nested_json(void **state)
{
    (void)state;
    const char *text = "{\"tickets\":3,\"score\":2.5,\"neg\":-1,\"name\":\"x\",\"ok\":true,"
                       "\"no\":false,\"none\":null,\"obj\":{\"a\":{\"b\":[1,[2,[]],{},null]}},"
                       "\"list\":[\"s\",1.25,{\"k\":null}],\"empty\":{}}";
    json_t *in = json_loads(text, 0, NULL);
    Google__Protobuf__Struct *s = NULL;
    assert_code(CF_OK, pbjson_struct_from_json(in, NULL, &s, NULL));
    assert_int_equal(s->n_fields, 10);
    assert_string_equal(s->fields[0]->key, "tickets");
    assert_int_equal(s->fields[0]->value->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE);
    assert_true(s->fields[0]->value->number_value == 3.0);
    assert_int_equal(s->fields[6]->value->kind_case, GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE);

    json_t *out = pbjson_struct_to_json(s);
    assert_true(json_equal(in, out)); /* integral numbers come back as integers */
    char *dumped = json_dumps(out, JSON_COMPACT);
    assert_non_null(strstr(dumped, "\"tickets\":3,"));
    free(dumped);
    json_decref(out);

    /* and through the binary form, as a service stores and reloads it */
    size_t n = google__protobuf__struct__get_packed_size(s);
    uint8_t *buf = malloc(n);
    google__protobuf__struct__pack(s, buf);
    Google__Protobuf__Struct *u = google__protobuf__struct__unpack(NULL, n, buf);
    out = pbjson_struct_to_json(u);
    assert_true(json_equal(in, out));
    json_decref(out);
    google__protobuf__struct__free_unpacked(u, NULL);
    free(buf);
    google__protobuf__struct__free_unpacked(s, NULL);
    json_decref(in);

    out = pbjson_struct_to_json(NULL);
    assert_true(json_is_object(out) && json_object_size(out) == 0);
    json_decref(out);
}

static void struct_must_be_an_object(void **state)
{
    (void)state;
    Google__Protobuf__Struct *s = (Google__Protobuf__Struct *)1;
    pbjson_error err;
    json_t *arr = json_array();
    assert_code(CF_INVALID_ARGUMENT, pbjson_struct_from_json(arr, NULL, &s, &err));
    assert_null(s);
    assert_non_null(strstr(err.message, "object"));
    json_decref(arr);
}

static void value_and_list_value_are_plain_json(void **state)
{
    (void)state;
    const char *cases[] = {"null", "1", "-2.5", "\"s\"", "true", "[]", "[1,null,[{}]]", "{}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *in = json_loads(cases[i], JSON_DECODE_ANY, NULL);
        ProtobufCMessage *m = NULL;
        assert_code(CF_OK,
                    pbjson_from_json(&google__protobuf__value__descriptor, in, NULL, &m, NULL));
        json_t *out = pbjson_to_json(m);
        if (!json_equal(in, out))
            fail_msg("value %s", cases[i]);
        json_decref(out);
        protobuf_c_message_free_unpacked(m, NULL);
        json_decref(in);
    }
    json_t *in = json_loads("[1,\"a\",null]", 0, NULL);
    ProtobufCMessage *m = NULL;
    assert_code(CF_OK,
                pbjson_from_json(&google__protobuf__list_value__descriptor, in, NULL, &m, NULL));
    assert_int_equal(((Google__Protobuf__ListValue *)m)->n_values, 3);
    json_t *out = pbjson_to_json(m);
    assert_true(json_equal(in, out));
    json_decref(out);
    json_decref(in);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* A Value with no kind, or a number JSON cannot hold, is emitted as null. */
static void values_json_cannot_hold_are_emitted_as_null(void **state)
{
    (void)state;
    Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
    json_t *j = pbjson_to_json(&v.base);
    assert_true(json_is_null(j));
    json_decref(j);
    v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v.number_value = 1.0 / 0.0;
    j = pbjson_to_json(&v.base);
    assert_true(json_is_null(j));
    json_decref(j);
}

static const struct {
    const char *text;
    bool ok;
    int64_t seconds;
    int32_t nanos;
    const char *formatted;
} timestamps[] = {
    {"2026-11-27T09:31:27Z", true, 1795771887, 0, "2026-11-27T09:31:27Z"},
    {"1970-01-01T00:00:00Z", true, 0, 0, "1970-01-01T00:00:00Z"},
    {"1969-12-31T23:59:59.5Z", true, -1, 500000000, "1969-12-31T23:59:59.500Z"},
    {"1970-01-01T00:00:00.000001Z", true, 0, 1000, "1970-01-01T00:00:00.000001Z"},
    {"1970-01-01T00:00:00.1234Z", true, 0, 123400000, "1970-01-01T00:00:00.123400Z"},
    {"1970-01-01T00:00:00.000000001Z", true, 0, 1, "1970-01-01T00:00:00.000000001Z"},
    {"2024-02-29T12:00:00z", true, 1709208000, 0, "2024-02-29T12:00:00Z"},
    {"2024-02-29t13:30:00+01:30", true, 1709208000, 0, "2024-02-29T12:00:00Z"},
    {"2024-02-29T07:00:00-05:00", true, 1709208000, 0, "2024-02-29T12:00:00Z"},
    {"2026-11-27T09:31:27.123+00:00", true, 1795771887, 123000000, "2026-11-27T09:31:27.123Z"},
    {"0001-01-01T00:00:00Z", true, -62135596800, 0, "0001-01-01T00:00:00Z"},
    {"9999-12-31T23:59:59.999999999Z", true, 253402300799, 999999999,
     "9999-12-31T23:59:59.999999999Z"},
    {"0001-01-01T00:30:00+01:00", false, 0, 0, NULL}, /* before year 1 in UTC */
    {"9999-12-31T23:59:59-00:01", false, 0, 0, NULL}, /* after 9999 in UTC */
    {"0000-12-31T23:59:59Z", false, 0, 0, NULL},
    {"2026-02-29T00:00:00Z", false, 0, 0, NULL},
    {"1900-02-29T00:00:00Z", false, 0, 0, NULL},
    {"2026-13-01T00:00:00Z", false, 0, 0, NULL},
    {"2026-11-31T00:00:00Z", false, 0, 0, NULL},
    {"2026-11-27T24:00:00Z", false, 0, 0, NULL},
    {"2026-11-27T23:60:00Z", false, 0, 0, NULL},
    {"2026-11-27T23:59:60Z", false, 0, 0, NULL},
    {"2026-11-27T09:31:27", false, 0, 0, NULL},
    {"2026-11-27 09:31:27Z", false, 0, 0, NULL},
    {"2026-11-27T09:31:27.Z", false, 0, 0, NULL},
    {"2026-11-27T09:31:27.1234567891Z", false, 0, 0, NULL},
    {"2026-11-27T09:31:27.9999999999Z", false, 0, 0, NULL},
    {"2026-11-27T09:31:27+1:00", false, 0, 0, NULL},
    {"2026-11-27T09:31:27+01:60", false, 0, 0, NULL},
    {"2026-11-27T09:31:27+0100", false, 0, 0, NULL},
    {"2026-11-27T09:31:27ZZ", false, 0, 0, NULL},
    {"2026-1-27T09:31:27Z", false, 0, 0, NULL},
    {"+026-11-27T09:31:27Z", false, 0, 0, NULL},
    {"", false, 0, 0, NULL},
};

static void timestamps_parse_and_format_as_rfc3339(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof timestamps / sizeof timestamps[0]; i++) {
        int64_t s = 42;
        int32_t ns = 42;
        bool ok = pbjson_timestamp_parse(timestamps[i].text, strlen(timestamps[i].text), &s, &ns);
        if (ok != timestamps[i].ok)
            fail_msg("%s: parse %s", timestamps[i].text, ok ? "accepted" : "rejected");
        if (!ok)
            continue;
        if (s != timestamps[i].seconds || ns != timestamps[i].nanos)
            fail_msg("%s: got %lld.%09d", timestamps[i].text, (long long)s, ns);
        char buf[PBJSON_TIMESTAMP_MAX];
        assert_true(pbjson_timestamp_format(s, ns, buf));
        assert_string_equal(buf, timestamps[i].formatted);

        /* and through a message field */
        char *json = xasprintf("{\"at\":\"%s\"}", timestamps[i].text);
        ProtobufCMessage *m = NULL;
        assert_code(CF_OK, pbjson_from_string(KITCHEN, json, strlen(json), NULL, &m, NULL));
        json_t *out = pbjson_to_json(m);
        assert_string_equal(json_string_value(json_object_get(out, "at")), timestamps[i].formatted);
        json_decref(out);
        protobuf_c_message_free_unpacked(m, NULL);
        free(json);
    }
}

static void timestamps_outside_the_range_format_as_null(void **state)
{
    (void)state;
    char buf[PBJSON_TIMESTAMP_MAX];
    assert_false(pbjson_timestamp_format(253402300800, 0, buf));
    assert_false(pbjson_timestamp_format(-62135596801, 0, buf));
    assert_false(pbjson_timestamp_format(0, 1000000000, buf));
    assert_false(pbjson_timestamp_format(0, -1, buf));
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = INT64_MAX;
    json_t *j = pbjson_to_json(&ts.base);
    assert_true(json_is_null(j));
    json_decref(j);
}

static void field_mask_is_a_string_of_camel_case_paths(void **state)
{
    (void)state;
    json_t *in = json_string("displayName,settings.maxCount,id");
    ProtobufCMessage *m = NULL;
    assert_code(CF_OK,
                pbjson_from_json(&google__protobuf__field_mask__descriptor, in, NULL, &m, NULL));
    Google__Protobuf__FieldMask *fm = (Google__Protobuf__FieldMask *)m;
    assert_int_equal(fm->n_paths, 3);
    assert_string_equal(fm->paths[0], "display_name");
    assert_string_equal(fm->paths[1], "settings.max_count");
    assert_string_equal(fm->paths[2], "id");
    json_t *out = pbjson_to_json(m);
    assert_true(json_equal(in, out));
    json_decref(out);
    json_decref(in);
    protobuf_c_message_free_unpacked(m, NULL);

    in = json_string("");
    assert_code(CF_OK,
                pbjson_from_json(&google__protobuf__field_mask__descriptor, in, NULL, &m, NULL));
    assert_int_equal(((Google__Protobuf__FieldMask *)m)->n_paths, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(in);

    const char *bad[] = {"a,,b", "a,", ",a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        in = json_string(bad[i]);
        pbjson_error err;
        assert_code(CF_INVALID_ARGUMENT, pbjson_from_json(&google__protobuf__field_mask__descriptor,
                                                          in, NULL, &m, &err));
        assert_null(m);
        json_decref(in);
    }
    in = json_array();
    assert_code(CF_INVALID_ARGUMENT,
                pbjson_from_json(&google__protobuf__field_mask__descriptor, in, NULL, &m, NULL));
    json_decref(in);
}

/* Both encoders write null for a mask whose paths have no JSON form that reads back as them
 * (found by fuzz_pbjson: paths {"", ""} were written "," and the decoder refused its own
 * encoder's output); a mask of good paths is written as before. */
static void field_mask_without_a_json_form_is_null(void **state)
{
    (void)state;
    static const struct {
        const char *paths[3];
        size_t n;
        const char *json; /* NULL: null */
    } rows[] = {
        {{""}, 1, NULL},
        {{"", ""}, 2, NULL},
        {{"name", ""}, 2, NULL},
        {{"a,b"}, 1, NULL},
        {{"display_name", "x,"}, 2, NULL},
        {{"displayName"}, 1, NULL}, /* would read back as display_name */
        {{"display_name", "settings.max_count"}, 2, "\"displayName,settings.maxCount\""},
        {{"a_1", "b.c"}, 2, "\"a_1,b.c\""},
        {{0}, 0, "\"\""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
        fm.n_paths = rows[i].n;
        fm.paths = (char **)rows[i].paths;
        json_t *j = pbjson_to_json(&fm.base);
        char *s = pbjson_to_string(&fm.base);
        if (!rows[i].json) {
            assert_true(json_is_null(j));
            assert_string_equal(s, "null");
        } else {
            char *dumped = json_dumps(j, JSON_ENCODE_ANY);
            assert_string_equal(dumped, rows[i].json);
            assert_string_equal(s, rows[i].json);
            free(dumped);
            /* and it reads back as the same paths */
            ProtobufCMessage *m = NULL;
            assert_code(CF_OK, pbjson_from_json(&google__protobuf__field_mask__descriptor, j, NULL,
                                                &m, NULL));
            Google__Protobuf__FieldMask *back = (Google__Protobuf__FieldMask *)m;
            assert_int_equal(back->n_paths, rows[i].n);
            for (size_t k = 0; k < rows[i].n; k++)
                assert_string_equal(back->paths[k], rows[i].paths[k]);
            protobuf_c_message_free_unpacked(m, NULL);
        }
        free(s);
        json_decref(j);
    }
}

static void empty_is_an_empty_object(void **state)
{
    (void)state;
    ProtobufCMessage *m = NULL;
    assert_code(CF_OK,
                pbjson_from_string(&google__protobuf__empty__descriptor, "{}", 2, NULL, &m, NULL));
    char *s = pbjson_to_string(m);
    assert_string_equal(s, "{}");
    free(s);
    protobuf_c_message_free_unpacked(m, NULL);
    pbjson_error err;
    assert_code(CF_INVALID_ARGUMENT, pbjson_from_string(&google__protobuf__empty__descriptor,
                                                        "{\"a\":1}", 7, NULL, &m, &err));
    assert_string_equal(err.path, "a");
}

/* n nested arrays inside "meta": {"meta":{"a":[[[...]]]}} */
static json_t *deep_meta(int n)
{
    json_t *v = json_array();
    for (int i = 1; i < n; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    json_t *meta = json_object(), *top = json_object();
    json_object_set_new(meta, "a", v);
    json_object_set_new(top, "meta", meta);
    return top;
}

static void nesting_beyond_the_limit_is_rejected(void **state)
{
    (void)state;
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    /* top object + meta object + arrays: PBJSON_MAX_DEPTH levels in all are fine */
    json_t *j = deep_meta(PBJSON_MAX_DEPTH - 2);
    assert_code(CF_OK, pbjson_from_json(KITCHEN, j, NULL, &m, &err));
    json_t *out = pbjson_to_json(m);
    assert_true(json_equal(json_object_get(j, "meta"), json_object_get(out, "meta")));
    json_decref(out);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(j);

    j = deep_meta(PBJSON_MAX_DEPTH - 1);
    assert_code(CF_INVALID_ARGUMENT, pbjson_from_json(KITCHEN, j, NULL, &m, &err));
    assert_null(m);
    assert_non_null(strstr(err.message, "nested deeper"));
    assert_true(strncmp(err.path, "meta.a[0][0]", 12) == 0);
    json_decref(j);

    j = deep_meta(1000);
    assert_code(CF_INVALID_ARGUMENT, pbjson_from_json(KITCHEN, j, NULL, &m, &err));
    json_decref(j);
}

static void depth_bomb_text_is_rejected_without_crashing(void **state)
{
    (void)state;
    size_t n = 100000;
    char *text = xmalloc(2 * n + 32);
    size_t o = (size_t)sprintf(text, "{\"meta\":{\"a\":");
    memset(text + o, '[', n);
    o += n;
    memset(text + o, ']', n);
    o += n;
    o += (size_t)sprintf(text + o, "}}");
    ProtobufCMessage *m = NULL;
    pbjson_error err;
    assert_code(CF_INVALID_ARGUMENT, pbjson_from_string(KITCHEN, text, o, NULL, &m, &err));
    assert_null(m);
    free(text);
}

/* A message nested deeper than the limit (built in memory) is cut off with null, not a crash. */
static void encoding_stops_at_the_depth_limit(void **state)
{
    (void)state;
    enum { N = 100 };
    Google__Protobuf__ListValue lists[N];
    Google__Protobuf__Value values[N], *ptrs[N];
    for (int i = 0; i < N; i++) {
        google__protobuf__list_value__init(&lists[i]);
        google__protobuf__value__init(&values[i]);
        if (i + 1 < N) {
            values[i].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
            values[i].list_value = &lists[i + 1];
            ptrs[i] = &values[i];
            lists[i].n_values = 1;
            lists[i].values = &ptrs[i];
        }
    }
    json_t *j = pbjson_to_json(&lists[0].base);
    int depth = 0;
    json_t *p = j;
    while (json_is_array(p)) {
        depth++;
        p = json_array_get(p, 0);
    }
    assert_int_equal(depth, PBJSON_MAX_DEPTH);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(struct_round_trips_nested_json),
        cmocka_unit_test(struct_must_be_an_object),
        cmocka_unit_test(value_and_list_value_are_plain_json),
        cmocka_unit_test(values_json_cannot_hold_are_emitted_as_null),
        cmocka_unit_test(timestamps_parse_and_format_as_rfc3339),
        cmocka_unit_test(timestamps_outside_the_range_format_as_null),
        cmocka_unit_test(field_mask_is_a_string_of_camel_case_paths),
        cmocka_unit_test(field_mask_without_a_json_form_is_null),
        cmocka_unit_test(empty_is_an_empty_object),
        cmocka_unit_test(nesting_beyond_the_limit_is_rejected),
        cmocka_unit_test(depth_bomb_text_is_rejected_without_crashing),
        cmocka_unit_test(encoding_stops_at_the_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
