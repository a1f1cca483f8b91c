/* mkcapture - write the reference scenario capture (see scenario.h).
 *
 * usage: mkcapture [--mss N] [--reorder] [--dup] [--overlap] [--drop N]
 *                  [--vlan ID[,ID]] [--ipv6] [--ext6] [--pcapng] [--frag MTU] [--frag6 MTU]
 *                  [--snaplen N] [--link ether|raw|sll|sll2|null] OUT.pcap */
#include <stdio.h>

#include "scenario.h"

int main(int argc, char **argv) {
    sn_scenario_opts o;
    int i = sn_scenario_parse_args(argc, argv, &o);
    if (i < 0 || i != argc - 1) {
        fprintf(stderr, "usage: mkcapture [options] OUT.pcap (see mkcapture.c)\n");
        return 2;
    }
    if (sn_scenario_write(argv[i], &o) != 0) {
        perror(argv[i]);
        return 1;
    }
    return 0;
}
