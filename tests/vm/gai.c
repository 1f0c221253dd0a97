// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gai NAME COUNT: calls the C library's getaddrinfo(NAME) COUNT times, one
 * call after the other, and prints what each gave: the number of results,
 * or the error's name. The caller that dns.yaml's uprobes on libc.so.6
 * see in the VM test test-library.sh (its comm is "gai"). Exits 0 whatever
 * the lookups gave (2 on a usage error): the test judges the output.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
        struct addrinfo hints, *res, *ai;
        long count, i;
        int ret, n;
        char *end;

        if (argc != 3) {
                fprintf(stderr, "usage: gai NAME COUNT\n");
                return 2;
        }
        count = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || count < 0) {
                fprintf(stderr, "gai: COUNT '%s' is not a number\n", argv[2]);
                return 2;
        }
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        for (i = 0; i < count; i++) {
                res = NULL;
                ret = getaddrinfo(argv[1], NULL, &hints, &res);
                if (ret != 0) {
                        printf("%s: %d %s\n", argv[1], ret, gai_strerror(ret));
                        continue;
                }
                n = 0;
                for (ai = res; ai; ai = ai->ai_next)
                        n++;
                printf("%s: 0 %d result(s)\n", argv[1], n);
                freeaddrinfo(res);
        }
        return 0;
}
