/* Hello world grown up: a tiny HTTP server whose routes exercise the parts of
 * glibc that minimal images break: NSS host and user lookups, and zoneinfo. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void reply(int fd, int status, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : "Not Found", strlen(body));
    if (write(fd, head, n) < 0 || write(fd, body, strlen(body)) < 0) perror("write");
}

/* Copies the value of query parameter `key` from `query` into `out`. */
static int param(const char *query, const char *key, char *out, size_t size) {
    size_t klen = strlen(key);
    for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = strcspn(p + klen + 1, "& ");
            if (n >= size) n = size - 1;
            memcpy(out, p + klen + 1, n);
            out[n] = 0;
            return 1;
        }
    }
    return 0;
}

static void route(int fd, const char *path, const char *query) {
    char arg[128], body[512];
    if (strcmp(path, "/") == 0) {
        reply(fd, 200, "Hello, world!\n");
    } else if (strcmp(path, "/resolve") == 0 && param(query, "name", arg, sizeof arg)) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
        int rc = getaddrinfo(arg, NULL, &hints, &res);
        if (rc != 0) {
            snprintf(body, sizeof body, "resolve %s failed: %s\n", arg, gai_strerror(rc));
        } else {
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
            snprintf(body, sizeof body, "%s resolves to %s\n", arg, ip);
            freeaddrinfo(res);
        }
        reply(fd, 200, body);
    } else if (strcmp(path, "/user") == 0 && param(query, "name", arg, sizeof arg)) {
        struct passwd *pw = getpwnam(arg);
        struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
        if (pw) snprintf(body, sizeof body, "user %s uid=%u home=%s group=%s\n", arg, (unsigned)pw->pw_uid, pw->pw_dir, gr ? gr->gr_name : "?");
        else snprintf(body, sizeof body, "user %s unknown\n", arg);
        reply(fd, 200, body);
    } else if (strcmp(path, "/time") == 0 && param(query, "tz", arg, sizeof arg)) {
        /* A fixed instant, 2026-07-01 12:00 UTC, shown in the named zone. */
        time_t instant = 1782907200;
        setenv("TZ", arg, 1);
        tzset();
        struct tm local;
        localtime_r(&instant, &local);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", &local);
        snprintf(body, sizeof body, "2026-07-01 12:00 UTC in %s is %s\n", arg, when);
        reply(fd, 200, body);
    } else {
        reply(fd, 404, "not found\n");
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    signal(SIGPIPE, SIG_IGN);
    int srv = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(srv, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(srv, 64) < 0) {
        perror("listen");
        return 1;
    }
    printf("hello listening on %d\n", port);
    fflush(stdout);
    for (;;) {
        int fd = accept(srv, NULL, NULL);
        if (fd < 0) continue;
        char req[2048] = {0};
        ssize_t n = read(fd, req, sizeof req - 1);
        char method[8], target[1024];
        if (n > 0 && sscanf(req, "%7s %1023s", method, target) == 2) {
            char *query = strchr(target, '?');
            if (query) *query++ = 0;
            route(fd, target, query ? query : "");
        }
        close(fd);
    }
}
