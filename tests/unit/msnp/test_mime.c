/* libmsnp MIME header blocks and X-MMS-IM-Format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transcripts.h"

static void test_im_payload(void **state) {
    (void)state;
    static const char p[] = IM_PAYLOAD;
    msnp_mime m;
    assert_int_equal(msnp_mime_parse(p, sizeof(p) - 1, &m, NULL), MSNP_MIME_OK);
    assert_int_equal(m.count, 3);
    assert_true(m.has_blank);
    assert_true(msnp_str_eq(m.body, "hello! how are you?"));
    assert_int_equal(msnp_content_kind_of(&m), MSNP_CT_TEXT_PLAIN);
    msnp_str type, cs;
    msnp_content_type_split(msnp_mime_value(&m, "content-type"), &type, &cs);
    assert_true(msnp_str_eq(type, "text/plain"));
    assert_true(msnp_str_eq(cs, "UTF-8"));
    msnp_imformat f;
    assert_int_equal(msnp_imformat_parse(msnp_mime_value(&m, "X-MMS-IM-FORMAT"), &f), 0);
    assert_string_equal(f.font, "Microsoft Sans Serif");
    assert_int_equal(f.effects, MSNP_EF_ITALIC);
    assert_true(f.has_color);
    assert_int_equal(f.color_bgr, 0);
    assert_int_equal(f.charset, 0);
    assert_int_equal(f.pitch_family, 0x22);
    assert_false(f.rtl);
}

static void test_case_duplicates_folding(void **state) {
    (void)state;
    static const char p[] = "content-TYPE: text/x-msmsgscontrol\r\n"
                            "TypingUser: alice@hotmail.com\r\n"
                            "X-Note: first\r\n"
                            "X-Note: second part\r\n"
                            "\tcontinued here\r\n"
                            "Empty:\r\n"
                            "\r\n";
    msnp_mime m;
    assert_int_equal(msnp_mime_parse(p, sizeof(p) - 1, &m, NULL), MSNP_MIME_OK);
    assert_int_equal(m.count, 5);
    assert_int_equal(msnp_content_kind_of(&m), MSNP_CT_CONTROL);
    assert_true(msnp_str_eq(msnp_mime_value(&m, "typinguser"), "alice@hotmail.com"));
    /* by a name and its length: the length's bytes of the name, no more */
    assert_true(msnp_str_eq(msnp_mime_value_n(&m, "TYPINGUSER", 10), "alice@hotmail.com"));
    assert_true(msnp_str_eq(msnp_mime_value_n(&m, "X-Notes", 6), "first"));
    assert_null(msnp_mime_value_n(&m, "TypingUs", 8).p);
    assert_null(msnp_mime_value_n(&m, "", 0).p);
    const msnp_header *h = msnp_mime_get(&m, "x-note");
    assert_non_null(h);
    assert_true(msnp_str_eq(h->value, "first"));
    h = msnp_mime_get_next(&m, h);
    assert_non_null(h);
    assert_true(h->folded);
    char buf[64];
    msnp_header_unfold(h, buf, sizeof(buf));
    assert_string_equal(buf, "second part continued here");
    assert_null(msnp_mime_get_next(&m, h));
    assert_int_equal(msnp_mime_value(&m, "Empty").n, 0);
    assert_null(msnp_mime_value(&m, "Missing").p);
    assert_int_equal(m.body.n, 0);
}

static void test_bare_lf_and_no_blank_line(void **state) {
    (void)state;
    static const char p[] =
        "MIME-Version: 1.0\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\nLoginTime: 1\nMemberIdLow: -517030579\n";
    msnp_mime m;
    assert_int_equal(msnp_mime_parse(p, sizeof(p) - 1, &m, NULL), MSNP_MIME_OK);
    assert_false(m.has_blank);
    assert_int_equal(m.count, 4);
    assert_int_equal(msnp_content_kind_of(&m), MSNP_CT_PROFILE);
    assert_true(msnp_str_eq(msnp_mime_value(&m, "MemberIdLow"), "-517030579"));
}

static void test_errors(void **state) {
    (void)state;
    msnp_mime m;
    size_t off = 99;
    static const char nocolon[] = "MIME-Version: 1.0\r\nthis line has no colon\r\n\r\n";
    assert_int_equal(msnp_mime_parse(nocolon, sizeof(nocolon) - 1, &m, &off), MSNP_MIME_ENOCOLON);
    assert_int_equal(off, 19);
    static const char noname[] = ": value\r\n\r\n";
    assert_int_equal(msnp_mime_parse(noname, sizeof(noname) - 1, &m, &off), MSNP_MIME_EBAD_NAME);
    static const char nul[] = "A: b\0c\r\n\r\n";
    assert_int_equal(msnp_mime_parse(nul, sizeof(nul) - 1, &m, &off), MSNP_MIME_ECONTROL);
    assert_int_equal(off, 4);
    /* more headers than the fixed table: an error, not an overflow */
    char many[4096] = "";
    for (int i = 0; i < MSNP_MIME_MAX_HEADERS + 1; i++) strcat(many, "H: v\r\n");
    assert_int_equal(msnp_mime_parse(many, strlen(many), &m, &off), MSNP_MIME_ETOO_MANY);
    assert_int_equal(off, 6 * MSNP_MIME_MAX_HEADERS);
    /* a NUL in the body is fine: bodies are binary */
    static const char body[] = "A: b\r\n\r\nx\0y";
    assert_int_equal(msnp_mime_parse(body, sizeof(body) - 1, &m, &off), MSNP_MIME_OK);
    assert_int_equal(m.body.n, 3);
    /* lines are scanned sixteen bytes at a time: a NUL is the line's only
     * when it comes before the LF, wherever the chunks fall */
    static const char late_nul[] = "Application-Name: a long value with\0 a NUL\r\n\r\n";
    assert_int_equal(msnp_mime_parse(late_nul, sizeof(late_nul) - 1, &m, &off), MSNP_MIME_ECONTROL);
    assert_int_equal(off, 35);
    static const char next_line_nul[] = "A: b\r\nC: d\0e\r\n\r\n"; /* both lines in one chunk */
    assert_int_equal(msnp_mime_parse(next_line_nul, sizeof(next_line_nul) - 1, &m, &off), MSNP_MIME_ECONTROL);
    assert_int_equal(off, 10);
    static const char body_nul[] = "A: b\r\n\r\n\0\0\0\0\0\0\0\0\0\0\0\0"; /* after the blank line, same chunk */
    assert_int_equal(msnp_mime_parse(body_nul, sizeof(body_nul) - 1, &m, &off), MSNP_MIME_OK);
    assert_int_equal(m.count, 1);
    assert_int_equal(m.body.n, 12);
    for (size_t len = 1; len < 40; len++) { /* the LF at every place in and across chunks */
        char line[64];
        memset(line, 'v', sizeof line);
        memcpy(line, "N:", 2);
        line[len + 2] = '\n';
        line[len + 3] = '\n';
        assert_int_equal(msnp_mime_parse(line, len + 4, &m, &off), MSNP_MIME_OK);
        assert_int_equal(m.count, 1);
        assert_int_equal(m.h[0].value.n, len);
        assert_true(m.has_blank);
        line[len + 1] = '\0'; /* the byte right before the LF */
        assert_int_equal(msnp_mime_parse(line, len + 4, &m, &off), MSNP_MIME_ECONTROL);
        assert_int_equal(off, len + 1);
    }
}

/* The name is scanned for its colon first, the LF looked for after it:
 * names of every length across the sixteen-byte chunks, an empty value
 * in each line ending (its address the line's end), and a NUL or an LF in
 * the name. */
static void test_name_then_line_end(void **state) {
    (void)state;
    static const char *const endings[] = {"\r\n", "\n", ""};
    for (size_t len = 1; len < 40; len++)
        for (size_t e = 0; e < 3; e++) {
            char block[64];
            memset(block, 'n', len);
            block[len] = ':';
            size_t el = strlen(endings[e]);
            memcpy(block + len + 1, endings[e], el);
            size_t n = len + 1 + el;
            msnp_mime m;
            size_t off = 99;
            assert_int_equal(msnp_mime_parse(block, n, &m, &off), MSNP_MIME_OK);
            assert_int_equal(m.count, 1);
            assert_int_equal(m.h[0].name.n, len);
            assert_int_equal(m.h[0].value.n, 0);
            assert_ptr_equal(m.h[0].value.p, block + len + 1);
            for (size_t at = 0; at < len; at++) {
                block[at] = '\0';
                assert_int_equal(msnp_mime_parse(block, n, &m, &off), MSNP_MIME_ECONTROL);
                assert_int_equal(off, at);
                block[at] = '\n'; /* a line without a colon, or an empty one */
                if (at) {
                    assert_int_equal(msnp_mime_parse(block, n, &m, &off), MSNP_MIME_ENOCOLON);
                    assert_int_equal(off, 0);
                } else {
                    assert_int_equal(msnp_mime_parse(block, n, &m, &off), MSNP_MIME_OK);
                    assert_int_equal(m.count, 0);
                    assert_true(m.has_blank);
                    assert_int_equal(m.body.n, n - 1);
                }
                block[at] = 'n';
            }
        }
}

/* The last bytes of a block, fewer than sixteen after its last whole
 * chunk, are read as the block's last sixteen: a last line of every
 * length after a first line of every length, each of its bytes a NUL in
 * turn, and values with blanks around them. */
static void test_block_tail(void **state) {
    (void)state;
    for (size_t first = 0; first < 24; first++)
        for (size_t second = 0; second < 20; second++)
            for (int crlf = 0; crlf < 2; crlf++) {
                char blk[80];
                size_t n = 0;
                memcpy(blk, "X: ", 3);
                n = 3;
                memset(blk + n, 'v', first);
                n += first;
                memcpy(blk + n, "\r\n", 2);
                n += 2;
                size_t ls = n;
                memcpy(blk + n, "Nm:\t", 4);
                n += 4;
                memset(blk + n, 'w', second);
                n += second;
                if (crlf) {
                    memcpy(blk + n, " \r\n", 3);
                    n += 3;
                }
                msnp_mime m;
                size_t off = 99;
                assert_int_equal(msnp_mime_parse(blk, n, &m, &off), MSNP_MIME_OK);
                assert_int_equal(m.count, 2);
                assert_int_equal(m.h[0].value.n, first);
                assert_int_equal(m.h[1].name.n, 2);
                assert_int_equal(m.h[1].value.n, second);
                if (second) assert_ptr_equal(m.h[1].value.p, blk + ls + 4);
                assert_false(m.has_blank);
                for (size_t at = ls; at < ls + 4 + second; at++) {
                    char keep = blk[at];
                    blk[at] = '\0';
                    assert_int_equal(msnp_mime_parse(blk, n, &m, &off), MSNP_MIME_ECONTROL);
                    assert_int_equal(off, at);
                    blk[at] = keep;
                }
                blk[ls + 2] = ';'; /* no colon left: not a header line */
                assert_int_equal(msnp_mime_parse(blk, n, &m, &off), MSNP_MIME_ENOCOLON);
                assert_int_equal(off, ls);
            }
}

static void test_content_kinds(void **state) {
    (void)state;
    static const struct {
        const char *ct;
        msnp_content_kind k;
    } cases[] = {
        {"text/x-msmsgsinvite; charset=UTF-8", MSNP_CT_INVITE},
        {"text/x-msmsgsinitialemailnotification; charset=UTF-8", MSNP_CT_INITIAL_EMAIL},
        {"text/x-msmsgsemailnotification; charset=UTF-8", MSNP_CT_EMAIL},
        {"TEXT/PLAIN", MSNP_CT_TEXT_PLAIN},
        {"application/x-msnmsgrp2p", MSNP_CT_OTHER},
        /* every known type, and others of the same lengths */
        {"text/x-msmsgscontrol", MSNP_CT_CONTROL},
        {"Text/X-MsMsgsProfile; charset=UTF-8", MSNP_CT_PROFILE},
        {"text/x-msmsgsactivemailnotification", MSNP_CT_ACTIVE_EMAIL},
        {"text/plain \t; charset=UTF-8", MSNP_CT_TEXT_PLAIN},
        {"text/plaim", MSNP_CT_OTHER},
        {"text/x-msmsgscontroL", MSNP_CT_CONTROL},
        {"text/x-msmsgsc0ntrol", MSNP_CT_OTHER},
        {"text/x-msmsgsqrofile", MSNP_CT_OTHER},
        {"text/x-msmsgsinvitE", MSNP_CT_INVITE},
        {"text/x-msmsgsinvitf", MSNP_CT_OTHER},
        {"image/x-msmsgsemailnotification", MSNP_CT_OTHER},
        {"text/x-msmsgsactivemailnotificatio", MSNP_CT_OTHER},
        {"", MSNP_CT_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "Content-Type: %s\r\n\r\n", cases[i].ct);
        msnp_mime m;
        assert_int_equal(msnp_mime_parse(p, strlen(p), &m, NULL), MSNP_MIME_OK);
        assert_int_equal(msnp_content_kind_of(&m), cases[i].k);
    }
    msnp_mime m;
    assert_int_equal(msnp_mime_parse("A: b\r\n\r\n", 8, &m, NULL), MSNP_MIME_OK);
    assert_int_equal(msnp_content_kind_of(&m), MSNP_CT_NONE);
}

/* Header names are scanned sixteen bytes at a time: a colon, a blank or
 * a byte outside printable ASCII at any position of a 30-byte name ends
 * or spoils it exactly as it would one byte at a time. */
static void test_long_name_bytes(void **state) {
    (void)state;
    const unsigned char special[] = {0x01, 0x1f, ' ', '\t', ':', 0x7e, 0x7f, 0x80, 0xff};
    for (size_t pos = 0; pos < 30; pos++)
        for (size_t k = 0; k < sizeof special; k++) {
            unsigned char c = special[k];
            char blk[64];
            memset(blk, 'N', 30);
            blk[pos] = (char)c;
            memcpy(blk + 30, ": v\r\n\r\nbody", 11);
            msnp_mime m;
            msnp_mime_status st = msnp_mime_parse(blk, 41, &m, NULL);
            if (c == 0x7e || ((c == ' ' || c == '\t') && (pos == 0 || pos == 29))) {
                /* a name character, or a blank trimmed off either end */
                assert_int_equal(st, MSNP_MIME_OK);
                assert_int_equal(m.count, 1);
                assert_int_equal(m.h[0].name.n, c == 0x7e ? 30 : 29);
            } else if (c == ':' && pos > 0) {
                assert_int_equal(st, MSNP_MIME_OK);
                assert_int_equal(m.h[0].name.n, pos);
            } else if (st != MSNP_MIME_EBAD_NAME) {
                fail_msg("byte 0x%02x at %zu: status %d", c, pos, (int)st);
            }
        }
}

static void test_imformat_write(void **state) {
    (void)state;
    msnp_imformat f;
    assert_int_equal(msnp_imformat_parse(msnp_str_c("FN=Arial; EF=BUS; CO=ff; CS=86; PF=22; RL=1"), &f), 0);
    assert_int_equal(f.effects, MSNP_EF_BOLD | MSNP_EF_UNDERLINE | MSNP_EF_STRIKE);
    assert_int_equal(f.color_bgr, 0xff);
    assert_int_equal(msnp_imformat_rgb(&f), 0xff0000); /* BGR ff = red */
    assert_int_equal(f.charset, 0x86);
    assert_true(f.rtl);
    char out[128];
    long n = msnp_imformat_write(&f, out, sizeof(out));
    assert_true(n > 0);
    assert_string_equal(out, "FN=Arial; EF=BUS; CO=ff; CS=86; PF=22; RL=1");
    strcpy(f.font, "Comic Sans MS");
    msnp_imformat_write(&f, out, sizeof(out));
    assert_string_equal(out, "FN=Comic%20Sans%20MS; EF=BUS; CO=ff; CS=86; PF=22; RL=1");
    /* lenient: junk values leave has_* unset */
    assert_int_equal(msnp_imformat_parse(msnp_str_c("CO=zz; EF="), &f), 0);
    assert_false(f.has_color);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("nothing here"), &f), -1);
    assert_int_equal(msnp_imformat_write(&f, out, 5), -1);
}

/* Items: empty ones and ones without '=' are skipped, blanks and line
 * breaks around a key or a value are not part of it, and a value's own
 * '=' is the value's. */
static void test_imformat_items(void **state) {
    (void)state;
    msnp_imformat f;
    assert_int_equal(msnp_imformat_parse(msnp_str_c("; ;\r\n ;EF=B;;"), &f), 0);
    assert_true(f.has_effects);
    assert_int_equal(f.effects, MSNP_EF_BOLD);
    assert_int_equal(msnp_imformat_parse(msnp_str_c(" ; ;\t"), &f), -1);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("="), &f), 0);
    assert_false(f.has_font || f.has_effects || f.has_color || f.has_charset || f.has_pf);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("FN=a=b; CO = ff ;\r\n\tEF=\r\n I;CS=1;PF"), &f), 0);
    assert_string_equal(f.font, "a=b");
    assert_int_equal(f.color_bgr, 0xff);
    assert_int_equal(f.effects, MSNP_EF_ITALIC);
    assert_int_equal(f.charset, 1);
    assert_false(f.has_pf);
}

/* Keys in any case; keys that only look alike (other lengths, bytes that
 * are not the letters) are ignored. */
static void test_imformat_keys(void **state) {
    (void)state;
    msnp_imformat f;
    assert_int_equal(msnp_imformat_parse(msnp_str_c("fn=Arial; eF=i; Co=ff00; cs=2; pF=31; rL=1"), &f), 0);
    assert_true(f.has_font);
    assert_string_equal(f.font, "Arial");
    assert_int_equal(f.effects, MSNP_EF_ITALIC);
    assert_int_equal(f.color_bgr, 0xff00);
    assert_int_equal(f.charset, 2);
    assert_int_equal(f.pitch_family, 0x31);
    assert_true(f.rtl);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("FNX=a; F=b; \x06N=c; CO\x10=ff; E@=B; EF\x00=B"), &f), 0);
    assert_false(f.has_font);
    assert_false(f.has_color);
    assert_false(f.has_effects);
}

/* An item written as clients write it (two letters, '=', after at most
 * one space) is read in place; any other way of writing it reads the
 * same as before: more blanks, no blank, keys of other lengths, '=' and
 * ';' where the key should be, values of every length around the eight
 * bytes looked at before memchr. */
static void test_imformat_item_forms(void **state) {
    (void)state;
    msnp_imformat f;
    assert_int_equal(msnp_imformat_parse(msnp_str_c("FN=Arial;EF=B"), &f), 0);
    assert_string_equal(f.font, "Arial");
    assert_int_equal(f.effects, MSNP_EF_BOLD);
    assert_int_equal(msnp_imformat_parse(msnp_str_c(" FN=Arial \r\n; EF=I"), &f), 0);
    assert_string_equal(f.font, "Arial");
    assert_int_equal(f.effects, MSNP_EF_ITALIC);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("  EF=U;\tCO=ff; \r\n CS=1"), &f), 0);
    assert_int_equal(f.effects, MSNP_EF_UNDERLINE);
    assert_int_equal(f.color_bgr, 0xff);
    assert_true(f.has_charset);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("E=B; F;N=x; EF;=B; E==B"), &f), 0);
    assert_false(f.has_effects || f.has_font);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("EF==B"), &f), 0);
    assert_int_equal(f.effects, MSNP_EF_BOLD);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("EF"), &f), -1);
    assert_int_equal(msnp_imformat_parse(msnp_str_c(" EF"), &f), -1);
    assert_int_equal(msnp_imformat_parse(msnp_str_c("EF="), &f), 0);
    assert_true(f.has_effects);
    assert_int_equal(msnp_imformat_parse(msnp_str_c(" CO=ff0000"), &f), 0);
    assert_int_equal(f.color_bgr, 0xff0000);
    for (size_t len = 0; len < 24; len++) {
        char v[64];
        memcpy(v, "FN=", 3);
        memset(v + 3, 'a', len);
        snprintf(v + 3 + len, sizeof v - 3 - len, "; PF=1%s", len % 2 ? "" : ";");
        assert_int_equal(msnp_imformat_parse(msnp_str_c(v), &f), 0);
        assert_true(f.has_font);
        assert_int_equal(strlen(f.font), len);
        assert_int_equal(f.pitch_family, 1);
        snprintf(v, sizeof v, "PF=%.*s;CS=2", (int)len, "123456789012345678901234");
        assert_int_equal(msnp_imformat_parse(msnp_str_c(v), &f), 0);
        assert_int_equal(f.has_pf, len >= 1 && len <= 2);
        assert_int_equal(f.charset, 2);
    }
}

/* A font name that does not fit font[] or decodes to a NUL is refused
 * whole: no cut or partial font is kept, and the writer writes FN= only
 * for a font it has. */
static void test_imformat_refused_font(void **state) {
    (void)state;
    msnp_imformat f;
    char v[200], out[300];
    memcpy(v, "FN=", 3);
    memset(v + 3, 'A', 100);
    strcpy(v + 103, "; EF=B; CO=ff; CS=0; PF=22");
    assert_int_equal(msnp_imformat_parse(msnp_str_c(v), &f), 0);
    assert_false(f.has_font);
    assert_string_equal(f.font, "");
    assert_true(f.has_color);
    assert_true(msnp_imformat_write(&f, out, sizeof(out)) > 0);
    assert_string_equal(out, "EF=B; CO=ff; CS=0; PF=22");
    /* 63 bytes fit, 64 do not */
    memset(v + 3, 'A', 64);
    v[67] = '\0';
    assert_int_equal(msnp_imformat_parse(msnp_str_c(v), &f), 0);
    assert_false(f.has_font);
    assert_string_equal(f.font, "");
    v[66] = '\0';
    assert_int_equal(msnp_imformat_parse(msnp_str_c(v), &f), 0);
    assert_true(f.has_font);
    assert_int_equal(strlen(f.font), 63);
    /* a NUL once decoded */
    assert_int_equal(msnp_imformat_parse(msnp_str_c("FN=A%00B; EF=I"), &f), 0);
    assert_false(f.has_font);
    assert_string_equal(f.font, "");
    assert_true(msnp_imformat_write(&f, out, sizeof(out)) > 0);
    assert_string_equal(out, "EF=I; CO=0; CS=0; PF=0");
    /* a refused FN after a good one leaves the good one */
    assert_int_equal(msnp_imformat_parse(msnp_str_c("FN=Arial; FN=A%00B"), &f), 0);
    assert_true(f.has_font);
    assert_string_equal(f.font, "Arial");
    /* absent: no FN written */
    assert_int_equal(msnp_imformat_parse(msnp_str_c("EF=U"), &f), 0);
    assert_true(msnp_imformat_write(&f, out, sizeof(out)) > 0);
    assert_string_equal(out, "EF=U; CO=0; CS=0; PF=0");
}

/* The header folded between its items (CRLF and a tab or a space, or LF
 * alone), as the MIME parse keeps it: every item is read. */
static void test_imformat_folded(void **state) {
    (void)state;
    const char *blocks[] = {
        "MIME-Version: 1.0\r\nX-MMS-IM-Format: FN=Arial; EF=B;\r\n\tCO=ff0000; CS=0;\r\n PF=22\r\n\r\nhi",
        "MIME-Version: 1.0\nX-MMS-IM-Format: FN=Arial; EF=B;\n CO=ff0000; CS=0; PF=22\n\nhi",
    };
    for (size_t k = 0; k < 2; k++) {
        msnp_mime m;
        assert_int_equal(msnp_mime_parse(blocks[k], strlen(blocks[k]), &m, NULL), MSNP_MIME_OK);
        msnp_imformat f;
        assert_int_equal(msnp_imformat_parse(msnp_mime_value(&m, "X-MMS-IM-Format"), &f), 0);
        assert_string_equal(f.font, "Arial");
        assert_int_equal(f.effects, MSNP_EF_BOLD);
        assert_true(f.has_color);
        assert_int_equal(f.color_bgr, 0xff0000);
        assert_true(f.has_pf);
        assert_int_equal(f.pitch_family, 0x22);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_im_payload),
        cmocka_unit_test(test_case_duplicates_folding),
        cmocka_unit_test(test_bare_lf_and_no_blank_line),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_name_then_line_end),
        cmocka_unit_test(test_block_tail),
        cmocka_unit_test(test_content_kinds),
        cmocka_unit_test(test_imformat_write),
        cmocka_unit_test(test_imformat_keys),
        cmocka_unit_test(test_imformat_items),
        cmocka_unit_test(test_imformat_item_forms),
        cmocka_unit_test(test_imformat_refused_font),
        cmocka_unit_test(test_imformat_folded),
        cmocka_unit_test(test_long_name_bytes),
    };
    return cmocka_run_group_tests_name("msnp_mime", tests, NULL, NULL);
}
