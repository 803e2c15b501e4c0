/* A glibc text service: converts encodings with iconv and formats numbers and
 * dates with the locale the environment names. Only / is free of both, so a
 * trace of / alone never loads a gconv module or a locale. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <iconv.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wctype.h>

static void reply(int fd, int status, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.0 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, status == 200 ? "OK" : status == 404 ? "Not Found" : "Error", strlen(body));
    if (write(fd, head, n) < 0 || write(fd, body, strlen(body)) < 0) perror("write");
}

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

/* "café €" in the named encoding, as hex bytes. */
static void convert(const char *to, char *body, size_t size) {
    iconv_t cd = iconv_open(to, "UTF-8");
    if (cd == (iconv_t)-1) { snprintf(body, size, "iconv_open(%s) failed\n", to); return; }
    char in[] = "caf\xc3\xa9 \xe2\x82\xac", out[64];
    char *ip = in, *op = out;
    size_t il = strlen(in), ol = sizeof out;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) { snprintf(body, size, "iconv to %s failed\n", to); iconv_close(cd); return; }
    iconv_close(cd);
    size_t n = 0;
    n += (size_t)snprintf(body + n, size - n, "%s:", to);
    for (char *p = out; p < op && n < size - 4; p++) n += (size_t)snprintf(body + n, size - n, " %02x", (unsigned char)*p);
    snprintf(body + n, size - n, "\n");
}

static void route(int fd, const char *path, const char *query) {
    char arg[64], body[512];
    if (strcmp(path, "/") == 0) {
        reply(fd, 200, "Text sample\n");
    } else if (strcmp(path, "/convert") == 0 && param(query, "to", arg, sizeof arg)) {
        convert(arg, body, sizeof body);
        reply(fd, strstr(body, "failed") ? 500 : 200, body);
    } else if (strcmp(path, "/number") == 0) {
        /* The environment's locale (LANG): grouping and decimal point. */
        if (!setlocale(LC_ALL, "")) { reply(fd, 500, "setlocale from the environment failed\n"); return; }
        snprintf(body, sizeof body, "%'.2f in %s\n", 1234567.891, setlocale(LC_NUMERIC, NULL));
        setlocale(LC_ALL, "C");
        reply(fd, 200, body);
    } else if (strcmp(path, "/date") == 0) {
        if (!setlocale(LC_ALL, "")) { reply(fd, 500, "setlocale from the environment failed\n"); return; }
        struct tm tm = {.tm_year = 126, .tm_mon = 2, .tm_mday = 14};
        mktime(&tm);
        char day[128];
        strftime(day, sizeof day, "%A %d %B %Y", &tm);
        snprintf(body, sizeof body, "%s\n", day);
        setlocale(LC_ALL, "C");
        reply(fd, 200, body);
    } else if (strcmp(path, "/upper") == 0) {
        /* C.UTF-8: wide characters without the environment's locale. */
        if (!setlocale(LC_CTYPE, "C.UTF-8")) { reply(fd, 500, "setlocale C.UTF-8 failed\n"); return; }
        wchar_t w[8];
        mbstowcs(w, "\xc3\xa9t\xc3\xa9", 8);
        char out[16];
        for (int i = 0; w[i]; i++) w[i] = (wchar_t)towupper((wint_t)w[i]);
        wcstombs(out, w, sizeof out);
        snprintf(body, sizeof body, "%s (%s)\n", out, nl_langinfo(CODESET));
        setlocale(LC_ALL, "C");
        reply(fd, 200, body);
    } else {
        reply(fd, 404, "not found\n");
    }
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    int s = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 16) < 0) { perror("listen"); return 1; }
    printf("text service on :%d\n", port);
    fflush(stdout);
    for (;;) {
        int fd = accept(s, NULL, NULL);
        if (fd < 0) continue;
        char req[2048] = {0};
        ssize_t n = read(fd, req, sizeof req - 1);
        if (n > 0) {
            char method[8], target[1024];
            if (sscanf(req, "%7s %1023s", method, target) == 2) {
                char *query = strchr(target, '?');
                if (query) *query++ = 0;
                route(fd, target, query ? query : "");
            }
        }
        close(fd);
    }
}
