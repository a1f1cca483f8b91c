/* msnp-selfcheck: print the codec version and run its known-answer checks. */
#include <stdio.h>

#include "msnp/msnp.h"

int main(void) {
    char report[1024];
    int rc = msnp_self_check(report, sizeof(report));
    printf("libmsnp %s\n%s", msnp_version_string(), report);
    return rc == 0 ? 0 : 1;
}
