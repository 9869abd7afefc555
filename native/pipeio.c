/* The program's stdin and stdout pipes without net.Socket: one uv_poll per fd on Node's own loop,
 * reads done here, writes as one writev from JS. Two net.Sockets per connection cost 125-150 us
 * of CPU (stream state, handle wraps, a shutdown(2) on a pipe) against a few us of syscalls.
 *
 * JS sees fds only: pipeOpen(fd) makes fd ours (non-blocking, a poll handle, not yet watching),
 * pipeWatch(fd, events) starts or stops watching, pipeWritev(fd, buffers) writes, pipeGrow(fd,
 * bytes) raises its capacity, pipeClose(fd) stops watching and closes. What happens on an fd
 * goes to the one callback given to pipeOnEvent: (fd, 2, n) n bytes read into the read buffer
 * (pipeReadBuffer: one per environment, reused by every read, so the bytes are valid only during
 * the call), (fd, 0) end of file, (fd, 1) writable again, (fd, -errno) an error. */
#include "sslserver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#define PIPE_READ 1
#define PIPE_WRITE 2
/* event codes of the callback (besides -errno) */
#define PIPE_EOF 0
#define PIPE_WRITABLE 1
#define PIPE_DATA 2
/* One read per wake-up, up to a grown pipe's capacity (pipeGrow): a pipe of the default size
 * (64 KiB) never has more to give. */
#define READ_BYTES (256 * 1024)
#define MAX_IOV 64

struct pipe_watch {
  uv_poll_t poll; /* first member: the handle pointer is the watch pointer */
  int fd;
  int events;     /* PIPE_READ / PIPE_WRITE now watched */
  struct pipe_io *io;
};

/* Per environment (main thread or a worker): watches by fd, the callback, the read buffer (a JS
 * Buffer held by a reference, so that a read reaches JS without a copy or an allocation). */
struct pipe_io {
  napi_env env;
  napi_ref callback;
  napi_async_context actx;
  struct pipe_watch **by_fd;
  int cap;
  napi_ref read_buffer;
  char *scratch; /* the read buffer's bytes */
};

static void on_closed(uv_handle_t *h) {
  free(h);
}

static struct pipe_watch *watch_of(struct pipe_io *io, int fd) {
  return fd >= 0 && fd < io->cap ? io->by_fd[fd] : NULL;
}

/* Stops watching fd and forgets it (the handle is freed once libuv is done with it); the fd
 * itself stays open. */
static void forget(struct pipe_io *io, struct pipe_watch *w) {
  io->by_fd[w->fd] = NULL;
  w->io = NULL;
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

/* (fd, event[, bytes]) to the callback. */
static void deliver(struct pipe_io *io, int fd, int32_t event, int32_t bytes) {
  napi_handle_scope scope;
  napi_value argv[3];
  if (napi_open_handle_scope(io->env, &scope) != napi_ok) return;
  napi_create_int32(io->env, fd, &argv[0]);
  napi_create_int32(io->env, event, &argv[1]);
  napi_create_int32(io->env, bytes, &argv[2]);
  invoke_callback(io->env, io->actx, io->callback, 3, argv);
  napi_close_handle_scope(io->env, scope);
}

static void on_ready(uv_poll_t *h, int status, int events) {
  struct pipe_watch *w = (struct pipe_watch *)h;
  struct pipe_io *io = w->io;
  int fd = w->fd;
  if (io == NULL) return;
  if (status < 0) {
    /* libuv stops the handle on POLLERR and says EBADF: for a pipe that is the reader gone */
    w->events = 0;
    deliver(io, fd, status == UV_EBADF ? -EPIPE : status, 0);
    return;
  }
  if ((events & UV_WRITABLE) && (w->events & PIPE_WRITE)) {
    deliver(io, fd, PIPE_WRITABLE, 0);
    /* the callback may have closed fd (and another fd of that number may exist by now) */
    if (watch_of(io, fd) != w) return;
  }
  if ((events & UV_READABLE) && (w->events & PIPE_READ)) {
    ssize_t n;
    do n = read(fd, io->scratch, READ_BYTES); while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n > 0) deliver(io, fd, PIPE_DATA, (int32_t)n);
    else deliver(io, fd, n == 0 ? PIPE_EOF : -errno, 0);
  }
}

/* pipeOnEvent(callback): where (fd, Buffer | number) of every watched fd goes. */
static napi_value js_on_event(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct pipe_io *io;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&io) != napi_ok) return NULL;
  set_callback(env, argc, argv, &io->callback);
  return NULL;
}

/* pipeReadBuffer() -> the Buffer every read of this environment lands in. */
static napi_value js_read_buffer(napi_env env, napi_callback_info info) {
  struct pipe_io *io;
  napi_value buf;
  if (napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&io) != napi_ok) return NULL;
  if (napi_get_reference_value(env, io->read_buffer, &buf) != napi_ok) return NULL;
  return buf;
}

/* pipeOpen(fd): O_NONBLOCK and a poll handle for fd (watching nothing yet). */
static napi_value js_open(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct pipe_io *io;
  uv_loop_t *loop;
  if (!one_fd_arg(env, info, &fd, (void **)&io)) return NULL;
  if (watch_of(io, fd) != NULL) {
    throw_arg(env, "ERR_INVALID_STATE", "fd is already open here");
    return NULL;
  }
  if (fd >= io->cap) {
    int cap = io->cap == 0 ? 1024 : io->cap;
    while (cap <= fd) cap *= 2;
    struct pipe_watch **grown = realloc(io->by_fd, (size_t)cap * sizeof *grown);
    if (grown == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL);
      return NULL;
    }
    for (int i = io->cap; i < cap; i++) grown[i] = NULL;
    io->by_fd = grown;
    io->cap = cap;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw_errno(env, EINVAL, "napi_get_uv_event_loop", NULL);
    return NULL;
  }
  struct pipe_watch *w = calloc(1, sizeof *w);
  if (w == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  /* uv_poll_init makes fd non-blocking */
  int e = uv_poll_init(loop, &w->poll, fd);
  if (e != 0) {
    free(w);
    throw_errno(env, -e, "uv_poll_init", NULL);
    return NULL;
  }
  w->fd = fd;
  w->io = io;
  io->by_fd[fd] = w;
  return NULL;
}

/* pipeWatch(fd, events): watch for PIPE_READ | PIPE_WRITE, or nothing (0). */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, events;
  struct pipe_io *io;
  if (!get_args(env, info, 2, argv, (void **)&io, "pipeWatch needs fd and events")) return NULL;
  if (!get_fd(env, argv[0], &fd) || !get_int32(env, argv[1], "events", &events)) return NULL;
  struct pipe_watch *w = watch_of(io, fd);
  if (w == NULL) {
    throw_arg(env, "ERR_INVALID_STATE", "fd is not open here (pipeOpen)");
    return NULL;
  }
  events &= PIPE_READ | PIPE_WRITE;
  if (events == w->events) return NULL;
  int e = 0;
  if (events == 0) uv_poll_stop(&w->poll);
  else e = uv_poll_start(&w->poll, ((events & PIPE_READ) ? UV_READABLE : 0) | ((events & PIPE_WRITE) ? UV_WRITABLE : 0), on_ready);
  if (e != 0) {
    throw_errno(env, -e, "uv_poll_start", NULL);
    return NULL;
  }
  w->events = events;
  return NULL;
}

/* pipeWritev(fd, buffers) -> bytes written (0 when the pipe is full), or -errno (EPIPE...). */
static napi_value js_writev(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int32_t fd;
  uint32_t count;
  bool is_array;
  struct iovec iov[MAX_IOV];
  if (!get_args(env, info, 2, argv, NULL, "pipeWritev needs fd and buffers") || !get_fd(env, argv[0], &fd)) return NULL;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    throw_arg(env, "ERR_INVALID_ARG_TYPE", "buffers must be an array");
    return NULL;
  }
  napi_get_array_length(env, argv[1], &count);
  if (count > MAX_IOV) count = MAX_IOV;
  for (uint32_t i = 0; i < count; i++) {
    napi_value b;
    bool is_buffer = false;
    napi_get_element(env, argv[1], i, &b);
    if (napi_is_buffer(env, b, &is_buffer) != napi_ok || !is_buffer) {
      throw_arg(env, "ERR_INVALID_ARG_TYPE", "buffers must hold Buffers");
      return NULL;
    }
    napi_get_buffer_info(env, b, &iov[i].iov_base, &iov[i].iov_len);
  }
  ssize_t n;
  do n = writev(fd, iov, (int)count); while (n < 0 && errno == EINTR);
  if (n < 0) n = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  napi_create_int64(env, n, &result);
  return result;
}

/* pipeGrow(fd, bytes) -> the pipe's capacity now, at least bytes when the kernel allows (it
 * rounds up to pages; a pipe is never shrunk), or -errno (EPERM: an unprivileged user past
 * pipe-user-pages-soft, whose pipe keeps the size it has). */
static napi_value js_grow(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int32_t fd, bytes;
  if (!get_args(env, info, 2, argv, NULL, "pipeGrow needs fd and bytes")) return NULL;
  if (!get_fd(env, argv[0], &fd) || !get_int32(env, argv[1], "bytes", &bytes)) return NULL;
  int n = fcntl(fd, F_GETPIPE_SZ);
  if (n >= 0 && n < bytes) n = fcntl(fd, F_SETPIPE_SZ, bytes);
  napi_create_int32(env, n < 0 ? -errno : n, &result);
  return result;
}

/* pipeClose(fd): stops watching (when open here) and closes fd. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct pipe_io *io;
  if (!one_fd_arg(env, info, &fd, (void **)&io)) return NULL;
  struct pipe_watch *w = watch_of(io, fd);
  /* uv_close stops the poll (and drops its pending events) before the fd number can be reused */
  if (w != NULL) forget(io, w);
  if (close(fd) != 0 && errno != EINTR) throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* Environment teardown: stop every watch; the fds are left to the process's end. */
static void cleanup(void *arg) {
  struct pipe_io *io = arg;
  for (int fd = 0; fd < io->cap; fd++)
    if (io->by_fd[fd] != NULL) forget(io, io->by_fd[fd]);
  if (io->callback != NULL) napi_delete_reference(io->env, io->callback);
  if (io->actx != NULL) napi_async_destroy(io->env, io->actx);
  if (io->read_buffer != NULL) napi_delete_reference(io->env, io->read_buffer);
  free(io->by_fd);
  free(io);
}

napi_status pipeio_init(napi_env env, napi_value exports) {
  struct pipe_io *io = calloc(1, sizeof *io);
  napi_value name, buf;
  if (io == NULL) return napi_generic_failure;
  io->env = env;
  if (napi_create_buffer(env, READ_BYTES, (void **)&io->scratch, &buf) != napi_ok
      || napi_create_reference(env, buf, 1, &io->read_buffer) != napi_ok
      || napi_create_string_utf8(env, "sslserver:pipe", NAPI_AUTO_LENGTH, &name) != napi_ok
      || napi_async_init(env, NULL, name, &io->actx) != napi_ok) {
    if (io->read_buffer != NULL) napi_delete_reference(env, io->read_buffer);
    free(io);
    return napi_generic_failure;
  }
  napi_status s;
  if ((s = napi_add_env_cleanup_hook(env, cleanup, io)) != napi_ok) return s;
  napi_property_descriptor props[] = {
    { "pipeOnEvent", NULL, js_on_event, NULL, NULL, NULL, napi_enumerable, io },
    { "pipeReadBuffer", NULL, js_read_buffer, NULL, NULL, NULL, napi_enumerable, io },
    { "pipeOpen", NULL, js_open, NULL, NULL, NULL, napi_enumerable, io },
    { "pipeWatch", NULL, js_watch, NULL, NULL, NULL, napi_enumerable, io },
    { "pipeWritev", NULL, js_writev, NULL, NULL, NULL, napi_enumerable, io },
    { "pipeGrow", NULL, js_grow, NULL, NULL, NULL, napi_enumerable, io },
    { "pipeClose", NULL, js_close, NULL, NULL, NULL, napi_enumerable, io },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
