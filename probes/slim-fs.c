/*
 * slim-fs: reads files of an image's layer directories for slim, inside a
 * helper container that never runs the app. Static, no dependencies.
 *
 *   slim-fs wait     keep the container alive for docker exec
 *   slim-fs serve    contents of files, on request: requests on stdin,
 *                    answers on stdout, in order, until stdin closes (one
 *                    exec serves a whole build, so a read costs no exec)
 *
 * Little-endian frames. Request: u8 'R', u64 offset, u64 limit (0: to the
 * end of the file), u32 pathlen, path. Answer: u8 'F', i32 errno (0 when read), u64 length,
 * bytes, u8 complete (0 when the file shrank while it was read). Answers
 * are buffered until the helper would wait for the next request.
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

#define CHUNK (1 << 20)

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

static void cat_one(const char *path, uint64_t offset, uint64_t limit) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = fd < 0 ? errno : EISDIR;
    if (fd >= 0) close(fd);
    put8('F');
    put32((uint32_t)err);
    put64(0);
    put8(0);
    return;
  }
  uint64_t size = (uint64_t)st.st_size;
  uint64_t length = offset < size ? size - offset : 0;
  if (limit && limit < length) length = limit;
  if (length && lseek(fd, (off_t)offset, SEEK_SET) < 0) length = 0;
  put8('F');
  put32(0);
  put64(length);
  uint8_t complete = 1;
  for (uint64_t left = length; left > 0;) {
    size_t want = left < CHUNK ? (size_t)left : CHUNK;
    reserve(want);
    ssize_t n = read(fd, buf + used, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      /* The file shrank under us: pad so the frames stay in step, and say so. */
      fprintf(stderr, "slim-fs: %s: short read\n", path);
      complete = 0;
      memset(buf + used, 0, want);
      n = (ssize_t)want;
    }
    used += (size_t)n;
    left -= (uint64_t)n;
    if (used >= CHUNK) flush();
  }
  put8(complete);
  close(fd);
}

static unsigned char in[1 << 16];
static size_t in_pos, in_len;

/* Reads request bytes; answers what is buffered before it waits for more. */
static int read_in(void *dst, size_t n) {
  unsigned char *out = dst;
  while (n > 0) {
    if (in_pos == in_len) {
      flush();
      ssize_t got = read(0, in, sizeof in);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return 0;
      in_pos = 0;
      in_len = (size_t)got;
    }
    size_t take = n < in_len - in_pos ? n : in_len - in_pos;
    memcpy(out, in + in_pos, take);
    in_pos += take;
    out += take;
    n -= take;
  }
  return 1;
}

static int serve(void) {
  char path[PATH_MAX];
  for (;;) {
    uint8_t op;
    uint64_t offset, limit;
    uint32_t len;
    if (!read_in(&op, 1)) break; /* stdin closed: done */
    if (op != 'R' || !read_in(&offset, 8) || !read_in(&limit, 8) || !read_in(&len, 4) || len >= sizeof path || !read_in(path, len)) {
      fprintf(stderr, "slim-fs: malformed request\n");
      return 2;
    }
    path[len] = 0;
    cat_one(path, offset, limit);
  }
  flush();
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "wait") == 0) {
    for (;;) pause();
  }
  if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
  fprintf(stderr, "usage: slim-fs wait | serve\n");
  return 2;
}
