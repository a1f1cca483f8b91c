/* Runs a fuzz target over files (corpus entries and crash reproducers)
 * without libFuzzer, so every normal and sanitizer test run replays them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 2;
        }
        uint8_t *buf = malloc(1 << 20);
        if (!buf) {
            fclose(f);
            return 2;
        }
        size_t len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        /* the input in a block of its own size, as libFuzzer hands it
         * over: a read past its end is then caught by AddressSanitizer,
         * not lost in the rest of the read buffer */
        uint8_t *input = malloc(len ? len : 1);
        if (!input) {
            free(buf);
            return 2;
        }
        for (size_t k = 0; k < len; k++) input[k] = buf[k];
        free(buf);
        LLVMFuzzerTestOneInput(input, len);
        free(input);
        n++;
    }
    printf("replayed %d inputs\n", n);
    return n > 0 ? 0 : 1;
}
