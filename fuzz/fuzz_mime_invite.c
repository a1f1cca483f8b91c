/* libFuzzer: MIME header blocks, X-MMS-IM-Format, invitation bodies and
 * their classification; building an invitation from parsed fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msnp/msnp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *dup_str(msnp_str s, char *dst, size_t cap) {
    if (!s.p) return NULL;
    msnp_str_copy(s, dst, cap);
    return dst;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data;
    msnp_mime m;
    size_t off = 0;
    if (msnp_mime_parse(p, size, &m, &off) == MSNP_MIME_OK) {
        if (m.body.p < p || m.body.p + m.body.n > p + size) abort();
        for (size_t i = 0; i < m.count; i++) {
            char tmp[128];
            msnp_header_unfold(&m.h[i], tmp, sizeof(tmp));
        }
        msnp_imformat f;
        if (msnp_imformat_parse(msnp_mime_value(&m, "X-MMS-IM-Format"), &f) == 0) {
            char out[512];
            (void)msnp_imformat_write(&f, out, sizeof(out));
        }
        (void)msnp_content_kind_of(&m);
    } else if (off > size) {
        abort();
    }
    msnp_invite inv;
    off = 0;
    msnp_invite_status st = msnp_invite_parse(p, size, &inv, &off);
    if (st != MSNP_INVITE_OK && off > size) abort();
    if (st == MSNP_INVITE_OK) {
        (void)msnp_invite_classify(&inv, NULL);
        char name[64], guid[64], file[64], ip[64], ac[64];
        msnp_invite_fields fl = {0};
        fl.command = inv.command == MSNP_INVITE_UNKNOWN ? MSNP_INVITE_CANCEL : inv.command;
        fl.cookie = inv.cookie;
        fl.app_name = dup_str(inv.app_name, name, sizeof(name));
        fl.app_guid = dup_str(inv.app_guid, guid, sizeof(guid));
        fl.file = dup_str(inv.file, file, sizeof(file));
        fl.ip = dup_str(inv.ip, ip, sizeof(ip));
        fl.auth_cookie = dup_str(inv.auth_cookie, ac, sizeof(ac));
        fl.port = inv.port;
        char out[2048];
        long n = msnp_invite_build(&fl, out, sizeof(out));
        if (n > 0) {
            msnp_mime m2;
            if (msnp_mime_parse(out, (size_t)n, &m2, NULL) != MSNP_MIME_OK) abort();
            msnp_invite again;
            if (msnp_invite_parse(m2.body.p, m2.body.n, &again, NULL) == MSNP_INVITE_OK && again.command != fl.command)
                abort();
        }
    }
    return 0;
}
