/* filemap.h - a capture file mapped into memory and read front to back.
 *
 * Reading a large capture with read(2) copies every byte out of the page
 * cache once more; mapped, the records are parsed where the page cache
 * holds them. The page tables are filled a window ahead of the reader in
 * one call (a fault per 64 KiB otherwise) and pages behind it are
 * unmapped again, so the process keeps a few windows of the file mapped,
 * not the whole file.
 *
 * A mapped file that another process shortens makes the next access past
 * its new end a SIGBUS. A handler, installed with the first map, turns
 * that into zeros over the rest of the mapping and a flag the reader
 * checks (sn_filemap_shrunk), so a capture cut short under the analyzer
 * ends with an error naming the offset, not a crash. (The rest of the
 * page the file now ends in reads as zeros without a fault; records read
 * from there are zeros too.) Faults at other addresses go to the handler
 * that was there before. */
#ifndef SN_FILEMAP_H
#define SN_FILEMAP_H

#include <signal.h>
#include <stddef.h>

typedef struct sn_filemap {
    const unsigned char *p; /* the file, len bytes */
    size_t len;
    size_t ready; /* page tables are filled up to here */
    size_t next;  /* sn_filemap_at does work from here on */
    size_t dropped;
    int populate;                  /* MADV_POPULATE_READ works here */
    volatile sig_atomic_t *shrunk; /* set when the file got shorter */
    int guard;                     /* the handler's slot */
} sn_filemap;

/* Maps the regular file fd (whole, as long as it is now). 0, or -1 when
 * it cannot be mapped (not a regular file, empty, no address space, or
 * too many mapped at once): read it instead. */
int sn_filemap_open(sn_filemap *m, int fd);
void sn_filemap_close(sn_filemap *m);

int sn_filemap_step_(sn_filemap *m, size_t pos);
/* The reader is at pos (nothing before it is used again): fills the
 * window ahead when due and unmaps what is behind. 0, or -1 when the
 * file was found shorter than mapped (no byte at or after the cut is
 * valid then). */
static inline int sn_filemap_at(sn_filemap *m, size_t pos) {
    if (pos < m->next && !*m->shrunk) return 0;
    return sn_filemap_step_(m, pos);
}
static inline int sn_filemap_shrunk(const sn_filemap *m) { return *m->shrunk != 0; }

#endif
