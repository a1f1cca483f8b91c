/* nftset.h - elements of nftables sets added and deleted over netlink
 * (libnftnl builds the messages, libmnl carries them).
 *
 * Elements are queued with nftset_add()/nftset_del() and sent as one
 * netlink batch (one transaction) by nftset_commit(), which returns only
 * when the kernel has acknowledged every message: an element is in the
 * kernel when commit returns 0. Keys are `addr . inet_proto . inet_service`
 * concatenations, the type of the msngate sets. */
#ifndef GATE_NFTSET_H
#define GATE_NFTSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct nftset nftset;

typedef struct nftset_key {
    uint8_t family;   /* 4 or 6 */
    uint8_t proto;    /* 6 TCP, 17 UDP */
    uint16_t port;    /* host order */
    uint8_t addr[16]; /* 4 or 16 bytes used */
} nftset_key;

/* family: NFPROTO_* of the table (inet = 1). */
nftset *nftset_open(uint16_t nfproto, const char *table, char *err, size_t errcap);
void nftset_close(nftset *s);

/* Queue one element change; the set name is copied. -1 when the batch is full. */
int nftset_add(nftset *s, const char *set, const nftset_key *k, uint64_t timeout_ms);
int nftset_del(nftset *s, const char *set, const nftset_key *k);
/* Delete and add again in the same transaction: an element that is
 * already there gets the new timeout (re-adding alone keeps the old one).
 * If it was gone (timed out), it is simply added. */
int nftset_replace(nftset *s, const char *set, const nftset_key *k, uint64_t timeout_ms);
size_t nftset_pending(const nftset *s);

/* Send the queued changes as one transaction and wait for every ACK.
 * Returns the number of messages the kernel refused (0 = all applied);
 * deleting an element that is already gone (timed out) is not an error.
 * *first_errno gets the first refusal's errno (ENOENT: set missing).
 * -1 on a socket error (err says which). */
int nftset_commit(nftset *s, int *first_errno, char *err, size_t errcap);

/* Text of a key, "10.0.0.1 . tcp . 6891" (for logs). */
void nftset_key_str(const nftset_key *k, char *out, size_t cap);

#endif
