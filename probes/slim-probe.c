/*
 * slim-probe: the container's entrypoint during a trace run.
 *
 *   slim-probe [--fanotify FILE] [--drop CAP]... [--user USER] [--set-home]
 *              [--started FILE] [--exec] -- COMMAND [ARG...]
 *
 * Runs COMMAND (the image's entrypoint and cmd) as USER in its own process
 * group, forwards signals to that group and reaps orphans as PID 1 should.
 * With --fanotify it first marks the root mount and records every open
 * (files and directories), exec-open and close-after-write as "KIND PATH" lines,
 * written after every batch so that a killed run still leaves its record.
 * Before COMMAND starts, each --drop capability (SYS_ADMIN, SYS_PTRACE: the
 * tracer's own) leaves the bounding, permitted, effective and inheritable sets
 * and the ambient set is cleared, so the app has exactly the capabilities a
 * plain `docker run` gives it; then --started FILE is created (before USER,
 * which cannot write there), which tells the caller that the tracer worked and
 * an exit status from then on is the app's; it holds the reason instead when
 * the app cannot be started as USER.
 * --exec replaces the probe with COMMAND instead of supervising it (the tracee
 * side under strace, and command probes).
 * Exit status: COMMAND's; 125 when the probe itself cannot work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/fanotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROBE_FAILED 125

static void die(const char *what) {
    fprintf(stderr, "slim-probe: %s: %s\n", what, strerror(errno));
    exit(PROBE_FAILED);
}

/*
 * --started FILE: empty once the app starts; when the app cannot be started
 * (no such USER), it holds the reason. No file at all: the tracer failed.
 */
static const char *start_mark;

static void cannot_start(const char *format, ...) {
    char message[512];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "slim-probe: %s\n", message);
    int fd = start_mark ? open(start_mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd >= 0) {
        if (write(fd, message, strlen(message)) < 0) {}
        close(fd);
    }
    exit(PROBE_FAILED);
}

/* ---- a set of seen "KIND PATH" records, so each is written once ---- */
static char **seen;
static size_t seen_cap, seen_len;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int remember(const char *record) {
    if (seen_len * 2 >= seen_cap) {
        size_t cap = seen_cap ? seen_cap * 2 : 4096;
        char **grown = calloc(cap, sizeof *grown);
        if (!grown) die("calloc");
        for (size_t i = 0; i < seen_cap; i++) {
            if (!seen[i]) continue;
            size_t j = fnv1a(seen[i]) & (cap - 1);
            while (grown[j]) j = (j + 1) & (cap - 1);
            grown[j] = seen[i];
        }
        free(seen);
        seen = grown;
        seen_cap = cap;
    }
    size_t i = fnv1a(record) & (seen_cap - 1);
    for (; seen[i]; i = (i + 1) & (seen_cap - 1))
        if (strcmp(seen[i], record) == 0) return 0;
    seen[i] = strdup(record);
    seen_len++;
    return 1;
}

/* ---- the record file ---- */
static int out_fd = -1;
static char out_buf[1 << 16];
static size_t out_len;

static void flush_out(void) {
    size_t done = 0;
    while (done < out_len) {
        ssize_t n = write(out_fd, out_buf + done, out_len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("writing the trace record");
        done += (size_t)n;
    }
    out_len = 0;
}

static void emit(const char *text) {
    size_t n = strlen(text);
    if (out_len + n > sizeof out_buf) flush_out();
    memcpy(out_buf + out_len, text, n);
    out_len += n;
}

/* Writes "KIND PATH\n", escaping bytes that would break the line format. */
static void record(char kind, const char *path) {
    char line[PATH_MAX * 4 + 8];
    size_t n = 0;
    line[n++] = kind;
    line[n++] = ' ';
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') n += (size_t)sprintf(line + n, "\\x%02x", *p);
        else line[n++] = (char)*p;
    }
    line[n++] = '\n';
    line[n] = 0;
    if (remember(line)) emit(line);
}

static int drain_events(int fan) {
    char buf[1 << 16] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
    int events = 0;
    for (;;) {
        ssize_t len = read(fan, buf, sizeof buf);
        if (len < 0 && errno == EINTR) continue;
        if (len < 0 && errno == EAGAIN) break;
        if (len < 0) die("reading fanotify events");
        if (len == 0) break;
        struct fanotify_event_metadata *ev = (struct fanotify_event_metadata *)buf;
        for (; FAN_EVENT_OK(ev, len); ev = FAN_EVENT_NEXT(ev, len)) {
            events++;
            if (ev->mask & FAN_Q_OVERFLOW) {
                emit("! overflow\n");
                continue;
            }
            if (ev->fd < 0) continue;
            char link[64], path[PATH_MAX];
            snprintf(link, sizeof link, "/proc/self/fd/%d", ev->fd);
            ssize_t n = readlink(link, path, sizeof path - 1);
            close(ev->fd);
            if (n <= 0 || ev->pid == getpid()) continue;
            path[n] = 0;
            /* Files deleted before we looked were made at run time, not taken from the image. */
            if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0) continue;
            char kind = (ev->mask & FAN_OPEN_EXEC) ? 'X' : (ev->mask & FAN_CLOSE_WRITE) ? 'W' : 'O';
            record(kind, path);
        }
    }
    flush_out();
    return events;
}

/* ---- USER resolution from the image's own /etc/passwd and /etc/group ---- */
struct ids { uid_t uid; gid_t gid; const char *name; const char *home; gid_t groups[64]; int ngroups; };

static char *field(char *line, int index) {
    char *p = line;
    for (int i = 0; i < index && p; i++) p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
    if (!p) return NULL;
    size_t n = strcspn(p, ":\n");
    char *copy = strndup(p, n);
    return copy;
}

static int numeric(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

static void resolve_user(const char *spec, struct ids *ids) {
    char *user = strdup(spec), *group = strchr(user, ':');
    if (group) *group++ = 0;
    ids->uid = 0; ids->gid = 0; ids->name = NULL; ids->home = NULL; ids->ngroups = 0;
    int found = 0;
    char line[4096];
    FILE *f = fopen("/etc/passwd", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *name = field(line, 0), *uid = field(line, 2), *gid = field(line, 3), *home = field(line, 5);
        if (name && uid && gid && (strcmp(name, user) == 0 || (numeric(user) && strcmp(uid, user) == 0))) {
            ids->uid = (uid_t)atol(uid); ids->gid = (gid_t)atol(gid); ids->name = name; ids->home = home;
            found = 1;
            break;
        }
    }
    if (f) fclose(f);
    if (!found) {
        if (!numeric(user)) cannot_start("unable to find user %s: no matching entries in passwd file", user);
        ids->uid = (uid_t)atol(user);
    }
    f = fopen("/etc/group", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *name = field(line, 0), *gid = field(line, 2), *members = field(line, 3);
        if (!name || !gid) continue;
        if (group && (strcmp(name, group) == 0 || (numeric(group) && strcmp(gid, group) == 0))) { ids->gid = (gid_t)atol(gid); group = NULL; }
        if (ids->name && members && ids->ngroups < 64) {
            for (char *m = strtok(members, ","); m; m = strtok(NULL, ","))
                if (strcmp(m, ids->name) == 0) ids->groups[ids->ngroups++] = (gid_t)atol(gid);
        }
    }
    if (f) fclose(f);
    if (group) {
        if (!numeric(group)) cannot_start("unable to find group %s: no matching entries in group file", group);
        ids->gid = (gid_t)atol(group);
    }
    ids->groups[ids->ngroups++] = ids->gid;
}

/* ---- capabilities: the tracer's own never reach the app ---- */
static const struct { const char *name; int cap; } DROPPABLE[] = {{"SYS_ADMIN", CAP_SYS_ADMIN}, {"SYS_PTRACE", CAP_SYS_PTRACE}};

static uint64_t capability_bit(const char *name) {
    for (size_t i = 0; i < sizeof DROPPABLE / sizeof DROPPABLE[0]; i++)
        if (strcmp(DROPPABLE[i].name, name) == 0) return 1ULL << DROPPABLE[i].cap;
    fprintf(stderr, "slim-probe: --drop takes SYS_ADMIN or SYS_PTRACE, not %s\n", name);
    exit(PROBE_FAILED);
}

static void drop_capabilities(uint64_t mask) {
    if (!mask) return;
    for (int cap = 0; cap < 64; cap++)
        if ((mask >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("dropping a capability from the bounding set");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("clearing the ambient capabilities");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0) die("capget");
    for (int i = 0; i < 2; i++) {
        uint32_t bits = (uint32_t)(mask >> (32 * i));
        data[i].effective &= ~bits;
        data[i].permitted &= ~bits;
        data[i].inheritable &= ~bits;
    }
    if (syscall(SYS_capset, &header, data) < 0) die("capset");
}

/* Drops the tracer's capabilities, becomes USER, marks the start and runs COMMAND; never returns. */
static void become_app(char **command, uint64_t drop, const char *user, const struct ids *ids, int set_home) {
    drop_capabilities(drop);
    if (start_mark) {
        int fd = open(start_mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) die("creating the start mark");
        close(fd);
    }
    if (user) {
        if (set_home && ids->home) setenv("HOME", ids->home, 1);
        if (setgroups((size_t)ids->ngroups, ids->groups) < 0 || setgid(ids->gid) < 0 || setuid(ids->uid) < 0)
            cannot_start("switching to the user %s: %s", user, strerror(errno));
    }
    execvp(command[0], command);
    fprintf(stderr, "slim-probe: cannot run %s: %s\n", command[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

int main(int argc, char **argv) {
    const char *trace_file = NULL, *user = NULL;
    int set_home = 0, replace = 0, i = 1;
    uint64_t drop = 0;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--version") == 0) { puts("slim-probe 1"); return 0; }
        if (strcmp(argv[i], "--fanotify") == 0 && i + 1 < argc) trace_file = argv[++i];
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) user = argv[++i];
        else if (strcmp(argv[i], "--set-home") == 0) set_home = 1;
        else if (strcmp(argv[i], "--drop") == 0 && i + 1 < argc) drop |= capability_bit(argv[++i]);
        else if (strcmp(argv[i], "--started") == 0 && i + 1 < argc) start_mark = argv[++i];
        else if (strcmp(argv[i], "--exec") == 0) replace = 1;
        else { fprintf(stderr, "slim-probe: unknown option %s\n", argv[i]); return PROBE_FAILED; }
    }
    if (i + 1 >= argc) { fprintf(stderr, "usage: slim-probe [--fanotify FILE] [--drop CAP]... [--user USER] [--set-home] [--started FILE] [--exec] -- COMMAND [ARG...]\n"); return PROBE_FAILED; }
    char **command = argv + i + 1;

    int fan = -1;
    if (trace_file) {
        out_fd = open(trace_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0) die("opening the trace record");
        emit("slim-trace 1 fanotify\n");
        flush_out();
        fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
        if (fan < 0) die(errno == EPERM ? "fanotify_init (the container lacks CAP_SYS_ADMIN)" : "fanotify_init");
        if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN | FAN_OPEN_EXEC | FAN_CLOSE_WRITE | FAN_ONDIR, AT_FDCWD, "/") < 0)
            die("fanotify_mark on /");
    }

    struct ids ids = {0};
    if (user) resolve_user(user, &ids);
    if (replace) become_app(command, drop, user, &ids, set_home);

    sigset_t forwarded, previous;
    sigfillset(&forwarded);
    sigdelset(&forwarded, SIGSEGV);
    sigdelset(&forwarded, SIGBUS);
    sigdelset(&forwarded, SIGFPE);
    sigdelset(&forwarded, SIGILL);
    sigprocmask(SIG_BLOCK, &forwarded, &previous);
    int sfd = signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) die("signalfd");

    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, &previous, NULL);
        become_app(command, drop, user, &ids, set_home);
    }
    setpgid(child, child);

    int status = 0;
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = fan, .events = POLLIN}};
    for (;;) {
        int n = poll(fds, fan >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("poll");
        if (fan >= 0 && (fds[1].revents & POLLIN)) drain_events(fan);
        struct signalfd_siginfo si;
        int child_done = 0;
        while (read(sfd, &si, sizeof si) == sizeof si) {
            if (si.ssi_signo != SIGCHLD) {
                kill(-child, (int)si.ssi_signo);
                continue;
            }
            pid_t pid;
            int st;
            while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
                if (pid == child) { status = st; child_done = 1; }
        }
        if (child_done) break;
    }
    if (fan >= 0) {
        /* Events of the last moments may still be queued. */
        while (drain_events(fan) > 0) {}
        char footer[64];
        snprintf(footer, sizeof footer, "# exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        emit(footer);
        flush_out();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
