/* b64url.h — base64url without padding (RFC 7515 §2), the encoding of every JWS part and JWK
 * number. Decoding is strict: canonical input only, so one byte string has one spelling. */
#ifndef CONFETTI_AUTHN_B64URL_H
#define CONFETTI_AUTHN_B64URL_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes needed to encode n bytes (without the NUL). */
static inline size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Upper bound of the bytes decoded from n characters. */
static inline size_t b64url_decoded_max(size_t n)
{
    return n / 4 * 3 + 2;
}

/* Encodes n bytes of src into out (room for b64url_encoded_len(n) + 1) and NUL-terminates.
 * Returns the length written. Never fails. */
size_t b64url_encode(char *out, const void *src, size_t n);

/* Same, into a new string the caller frees. Never NULL (aborts on OOM). */
char *b64url_encode_new(const void *src, size_t n);

/* Decodes n characters of src into out (room for b64url_decoded_max(n)); *out_len gets the
 * length. Returns false on a character outside the alphabet, padding, a length of 1 mod 4, or
 * non-zero unused trailing bits (a non-canonical spelling). */
bool b64url_decode(const char *src, size_t n, unsigned char *out, size_t *out_len);

#endif
