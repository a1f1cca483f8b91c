/* msnkit/fiber.h - run a piece of handler code on its own stack so that
 * it can wait without holding up the event loop.
 *
 * msnd's PostgreSQL store (store_pg.c) sends a query and, when it runs on
 * a fiber, parks the fiber until the answer is there; the loop serves
 * every other connection meanwhile. msnc runs its line editor on one, so
 * that a key read in pieces (an escape sequence, a search) waits for its
 * next byte without stopping the network. The code stays plain and
 * sequential: a call simply returns later. Code that is not on a fiber
 * (the loop's own stack) gets the blocking behaviour.
 *
 * One thread only; fibers never run at the same time, they interleave at
 * the points where one waits. */
#ifndef MSNKIT_FIBER_H
#define MSNKIT_FIBER_H

#include <event2/event.h>

typedef struct fiber fiber;
typedef void (*fiber_fn)(void *arg);

/* Runs fn(arg) on a new fiber at once. When it finishes without waiting,
 * done(arg) has run too and 0 is returned; when it waits, 1 is returned and
 * done(arg) runs from the loop once fn has returned. -1: no fiber could be
 * made (fn did not run). */
int fiber_run(struct event_base *base, fiber_fn fn, void (*done)(void *arg), void *arg);

/* The running fiber, NULL on the loop's own stack. */
fiber *fiber_current(void);

/* From a fiber: wait until fd is ready for `what` (EV_READ and/or
 * EV_WRITE) or timeout_ms pass. Returns the events that happened
 * (EV_TIMEOUT on timeout), or 0 when not called from a fiber. */
short fiber_wait_fd(int fd, short what, long timeout_ms);

/* From a fiber: wait until fiber_wake(f) is called for it. */
void fiber_park(void);
/* From a fiber: let the callbacks that are ready in this loop pass run
 * first (the clients whose data came with this one's), then go on. */
void fiber_yield(void);
/* Resume a parked fiber from the loop (deferred to a fresh loop callback,
 * so the caller's stack is left first). */
void fiber_wake(fiber *f);

/* Fibers that have not finished (waiting). */
int fiber_count(void);

#endif
