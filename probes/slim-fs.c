/*
 * slim-fs: reads files of an image's layer directories for slim, inside a
 * helper container that never runs the app. Static, no dependencies.
 *
 *   slim-fs wait     keep the container alive for docker exec
 *   slim-fs serve    contents of files, on request: requests on stdin,
 *                    answers on stdout, in order, until stdin closes (one
 *                    exec serves a whole build, so a read costs no exec)
 *
 * Little-endian frames. Request: u8 'R', u64 limit (0: whole file),
 * u32 pathlen, path. Answer: u8 'F', i32 errno (0 when read), u64 length,
 * bytes. Exit 1 when a file shrank while it was read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char *buf;
static size_t used, cap;

static void reserve(size_t n) {
  if (used + n <= cap) return;
  while (used + n > cap) cap = cap ? cap * 2 : 1 << 20;
  buf = realloc(buf, cap);
  if (!buf) { perror("slim-fs: realloc"); exit(2); }
}

static void put(const void *data, size_t n) { reserve(n); memcpy(buf + used, data, n); used += n; }
static void put8(uint8_t v) { put(&v, 1); }
static void put32(uint32_t v) { put(&v, 4); } /* x86-64 and arm64 are little-endian */
static void put64(uint64_t v) { put(&v, 8); }

static void flush(void) {
  size_t off = 0;
  while (off < used) {
    ssize_t n = write(1, buf + off, used - off);
    if (n < 0) { if (errno == EINTR) continue; perror("slim-fs: write"); exit(2); }
    off += (size_t)n;
  }
  used = 0;
}

static int short_reads;

static void cat_one(const char *path, uint64_t limit) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = fd < 0 ? errno : EISDIR;
    if (fd >= 0) close(fd);
    put8('F');
    put32((uint32_t)err);
    put64(0);
    flush();
    return;
  }
  uint64_t length = (uint64_t)st.st_size;
  if (limit && limit < length) length = limit;
  put8('F');
  put32(0);
  put64(length);
  flush();
  static char chunk[1 << 20];
  uint64_t left = length;
  while (left > 0) {
    ssize_t n = read(fd, chunk, left < sizeof chunk ? left : sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      /* The file shrank under us: pad, so the frames stay in step; the reader checks sizes. */
      fprintf(stderr, "slim-fs: %s: short read\n", path);
      short_reads = 1;
      memset(chunk, 0, sizeof chunk);
      n = (ssize_t)(left < sizeof chunk ? left : sizeof chunk);
    }
    put(chunk, (size_t)n);
    flush();
    left -= (uint64_t)n;
  }
  close(fd);
}

static int read_all(void *dst, size_t n) {
  return fread(dst, 1, n, stdin) == n;
}

static int serve(void) {
  char path[PATH_MAX];
  for (;;) {
    uint8_t op;
    uint64_t limit;
    uint32_t len;
    if (!read_all(&op, 1)) break; /* stdin closed: done */
    if (op != 'R' || !read_all(&limit, 8) || !read_all(&len, 4) || len >= sizeof path || !read_all(path, len)) {
      fprintf(stderr, "slim-fs: malformed request\n");
      return 2;
    }
    path[len] = 0;
    cat_one(path, limit);
  }
  flush();
  return short_reads;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "wait") == 0) {
    for (;;) pause();
  }
  if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
  fprintf(stderr, "usage: slim-fs wait | serve\n");
  return 2;
}
