/* The sanitizer build still finds leaks, and only leaks: this program loses
 * one block (33 bytes) and keeps another (10 bytes) reachable only through
 * a pointer in the middle of a large zero-initialised global, in the .bss
 * pages cmake/sanitizer_prefault.c maps to the zero page before main. If
 * that mapping ever lost what the program writes there, or hid those pages
 * from LeakSanitizer's scan, the kept block would be reported too (the
 * test's FAIL_REGULAR_EXPRESSION); if leak checking were off, nothing would
 * be (its PASS_REGULAR_EXPRESSION). */
#include <stdio.h>
#include <stdlib.h>

static void *kept[8192]; /* 64 KiB of .bss: whole pages */

/* Not inlined, and the pointer is dropped on return: no copy of the lost
 * block's address stays in main's frame for the scan to find. */
__attribute__((noinline)) static void lose(void) {
    volatile char *lost = malloc(33);
    if (lost) lost[0] = 1;
}

/* lose()'s frame, dead but not overwritten, lies where the exit handlers'
 * frames (LeakSanitizer's among them) will be, above the stack pointer the
 * scan starts from: a stale copy of the pointer there would keep the block
 * "reachable". Overwrite that stretch of stack. */
__attribute__((noinline)) static void wipe_stack(void) {
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = 0;
}

int main(void) {
    kept[4096] = malloc(10);
    lose();
    wipe_stack();
    printf("kept %p\n", kept[4096]);
    return 0;
}
