/* msnkit/visible.h - text from the network, written for a terminal.
 *
 * A chat line, a display name or an invitation field is whatever the
 * other side sent: escape sequences in it would be run by the reader's
 * terminal (retitle it, hide or rewrite what is shown, answer back). So
 * msnc and msnsniff's transcript show such text and never let the
 * terminal obey it. */
#ifndef MSNKIT_VISIBLE_H
#define MSNKIT_VISIBLE_H

#include <stdio.h>

/* s to fp as it reads: C0 and C1 control characters, DEL, bidirectional
 * overrides (U+202A-U+202E, U+2066-U+2069) and bytes that are not UTF-8
 * are written as visible escapes (^[, <U+009B>, \xFF); a tab stays a
 * tab; CR LF and LF end the line and the text goes on after indent (NULL:
 * shown as ^M^J, the text stays on one line). */
void msnkit_put_visible(FILE *fp, const char *s, const char *indent);

#endif
