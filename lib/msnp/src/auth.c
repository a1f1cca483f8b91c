/* MD5 login answers and CHL/QRY challenge answers (OpenSSL libcrypto). */
#include "msnp/auth.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <string.h>

static void hex(const unsigned char *d, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The MD5 algorithm, fetched once: EVP_DigestInit_ex with EVP_md5() looks
 * it up in the provider's tables on every call, 2 500 of the 4 400
 * instructions an answer took (one per MD5 login at the NS). The first
 * thread to fetch it keeps it; another that fetched it too frees its own. */
static _Atomic(EVP_MD *) md5_fetched;

static const EVP_MD *md5_md(void) {
    EVP_MD *md = atomic_load_explicit(&md5_fetched, memory_order_acquire);
    if (md) return md;
    md = EVP_MD_fetch(NULL, "MD5", NULL);
    if (!md) return NULL;
    EVP_MD *none = NULL;
    if (atomic_compare_exchange_strong_explicit(&md5_fetched, &none, md, memory_order_acq_rel, memory_order_acquire))
        return md;
    EVP_MD_free(md);
    return none;
}

/* MD5 over two concatenated parts, without building the concatenation. */
static void md5_two(const void *a, size_t an, const void *b, size_t bn, char out[MSNP_MD5_HEX_LEN + 1]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    const EVP_MD *md = md5_md();
    EVP_MD_CTX *ctx = md ? EVP_MD_CTX_new() : NULL;
    if (!ctx || EVP_DigestInit_ex2(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, an) != 1 ||
        EVP_DigestUpdate(ctx, b, bn) != 1 || EVP_DigestFinal_ex(ctx, d, &dn) != 1 || dn != 16) {
        /* Only on allocation failure: an impossible answer, never a valid one. */
        memset(out, 'x', MSNP_MD5_HEX_LEN);
        out[MSNP_MD5_HEX_LEN] = '\0';
        EVP_MD_CTX_free(ctx);
        return;
    }
    EVP_MD_CTX_free(ctx);
    hex(d, 16, out);
}

void msnp_md5_hex(const void *data, size_t n, char out[MSNP_MD5_HEX_LEN + 1]) { md5_two(data, n, "", 0, out); }

void msnp_login_response(msnp_str challenge, msnp_str password, char out[MSNP_MD5_HEX_LEN + 1]) {
    md5_two(challenge.p ? challenge.p : "", challenge.n, password.p ? password.p : "", password.n, out);
}

int msnp_md5_hex_equal(msnp_str a, msnp_str b) {
    if (a.n != MSNP_MD5_HEX_LEN || b.n != MSNP_MD5_HEX_LEN) return 0;
    unsigned diff = 0;
    for (size_t i = 0; i < MSNP_MD5_HEX_LEN; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x >= 'A' && x <= 'F') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'F') y = (unsigned char)(y + 32);
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

static const struct {
    const char *id, *key;
} chl_keys[] = {
    {"msmsgs@msnmsgr.com", "Q1P7W2E4J9R8U3S5"}, {"PROD0038W!61ZTF9", "VT6PX?UQTM4WM%YR"},
    {"PROD0058#7IL2{QD", "QHDCY@7R1TB6W?5B"},   {"PROD0061VRRZH@4F", "JXQ6J@TUOGYV@N0M"},
    {"PROD00504RLUG%WL", "I2EBK%PYNLZL5_J4"},   {"PROD0076ENE8*@AW", "CEQJ8}OE0!WTSWII"},
};

int msnp_chl_response(msnp_str challenge, msnp_str client_id, char out[MSNP_MD5_HEX_LEN + 1]) {
    for (size_t i = 0; i < sizeof(chl_keys) / sizeof(chl_keys[0]); i++) {
        if (msnp_str_eq(client_id, chl_keys[i].id)) {
            md5_two(challenge.p ? challenge.p : "", challenge.n, chl_keys[i].key, strlen(chl_keys[i].key), out);
            return 0;
        }
    }
    return -1;
}

int msnp_random_bytes(void *buf, size_t n) {
    if (n > 0x7fffffff) return -1;
    return RAND_bytes((unsigned char *)buf, (int)n) == 1 ? 0 : -1;
}
