/* Linked into every program of the sanitizer build (MSNKIT_SANITIZE=ON) and
 * into nothing else: before main, maps the zero-filled part (.bss) of every
 * module loaded at start-up to the kernel's shared zero page, one madvise
 * call per module, so that LeakSanitizer's scan of the globals at exit does
 * not take a page fault for each page it reads.
 *
 * Why: GCC's two sanitizer runtimes carry about 11 MB of .bss between them
 * (each has its own stack depot), which a program touches little of and
 * LeakSanitizer reads whole when the program exits: about 3 300 page faults
 * a process, 25-30 ms of the 70 ms `msnsniff --version` took on the virtual
 * machines the suite runs on, where a fault costs about 10 us. The sanitizer
 * suite starts some 2 500 such processes (docs/CONTRIBUTING-TEAM.md has the
 * measurements). MADV_POPULATE_READ fills in those pages' table entries in
 * the kernel without a fault each: no memory is used, what the pages hold
 * does not change (zeros), and the first write to one faults once, as it
 * would have without this. Kernels before 5.14 refuse the advice (EINVAL);
 * the scan then faults as before. */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14; older headers lack the name */
#endif

static int populate_bss(struct dl_phdr_info *info, size_t size, void *page_size) {
    uintptr_t page = (uintptr_t)page_size;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz <= ph->p_filesz) continue;
        /* Whole pages past the file's bytes: anonymous memory. The page
         * holding the end of .data is file-backed, and already written
         * by the loader's relocations more often than not. */
        uintptr_t start = (uintptr_t)info->dlpi_addr + ph->p_vaddr + ph->p_filesz;
        uintptr_t end = (uintptr_t)info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        start = (start + page - 1) & ~(page - 1);
        end &= ~(page - 1);
        if (end > start) (void)madvise((void *)start, end - start, MADV_POPULATE_READ);
    }
    return 0;
}

__attribute__((constructor)) static void msnkit_sanitizer_prefault(void) {
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) dl_iterate_phdr(populate_bss, (void *)(uintptr_t)page);
}
