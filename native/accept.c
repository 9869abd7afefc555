/* The listening socket's accept loop without net.Server: one uv_poll on the listening fd on Node's
 * own loop, accept4(2) here, and one call to JS per connection with its fd and both addresses. A
 * net.Server gives each connection a TCP handle and a net.Socket (about 29 us of the loop per
 * connection, cpu-prof, RSA c16) that the TLS socket, which opens the fd itself, never uses.
 *
 * acceptOpen(fd) makes a listening fd ours (a poll handle, not yet watching), acceptWatch(fd, on)
 * starts or stops accepting (stopped, connections wait in the kernel backlog), acceptClose(fd)
 * stops and closes it. What a listener accepts goes to the one callback given to acceptOnEvent:
 * (listenFd, fd, remoteAddress, remotePort, localAddress, localPort) per connection, its fd
 * non-blocking and close-on-exec, the addresses as Node's net.Socket spells them; or
 * (listenFd, -errno) when accept fails for a reason other than a connection reset before it was
 * taken. Out of fds (EMFILE, ENFILE, ENOBUFS, ENOMEM) the wake-up ends there: the callback can free
 * an fd or stop watching; nothing is accepted and closed to make room (libuv's trick resets
 * whoever connects next). */
#include "sslserver.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* Connections taken per wake-up before the loop gets a turn (the poll is level-triggered: the
 * rest come next iteration). */
#define ACCEPT_BATCH 64

struct acceptor {
  uv_poll_t poll; /* first member: the handle pointer is the acceptor pointer */
  int fd;
  int watching;
  struct accept_io *io; /* NULL once closed */
  struct acceptor *next;
};

/* Per environment (main thread or a worker): its listeners and the callback. */
struct accept_io {
  napi_env env;
  napi_ref callback;
  napi_async_context actx;
  struct acceptor *list;
};

static void on_closed(uv_handle_t *h) {
  free(h);
}

static struct acceptor *find(struct accept_io *io, int fd) {
  for (struct acceptor *a = io->list; a != NULL; a = a->next)
    if (a->fd == fd) return a;
  return NULL;
}

static void forget(struct accept_io *io, struct acceptor *a) {
  for (struct acceptor **p = &io->list; *p != NULL; p = &(*p)->next)
    if (*p == a) {
      *p = a->next;
      break;
    }
  a->io = NULL;
  uv_close((uv_handle_t *)&a->poll, on_closed);
}

/* An address as Node's net.Socket reports it (uv_inet_ntop; a link-local IPv6 address with its
 * scope as %interface) and its port; 0 when the family is neither. */
static int address_text(const struct sockaddr_storage *ss, char *text, size_t size, int *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    *port = ntohs(a->sin_port);
    return uv_inet_ntop(AF_INET, &a->sin_addr, text, size) == 0;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    *port = ntohs(a->sin6_port);
    if (uv_inet_ntop(AF_INET6, &a->sin6_addr, text, size) != 0) return 0;
    if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr) && a->sin6_scope_id > 0) {
      size_t len = strlen(text);
      size_t room = size - len - 1;
      if (room < UV_IF_NAMESIZE) return 0;
      text[len] = '%';
      if (uv_if_indextoiid(a->sin6_scope_id, text + len + 1, &room) != 0) text[len] = '\0';
    }
    return 1;
  }
  return 0;
}

/* One accepted connection (fd >= 0, with its addresses) or an error (fd = -errno) to JS. */
static void deliver(struct accept_io *io, int listen_fd, int fd, const char *remote, int remote_port, const char *local, int local_port) {
  napi_handle_scope scope;
  napi_value argv[6];
  size_t argc = fd < 0 ? 2 : 6;
  if (napi_open_handle_scope(io->env, &scope) != napi_ok) return;
  napi_create_int32(io->env, listen_fd, &argv[0]);
  napi_create_int32(io->env, fd, &argv[1]);
  if (fd >= 0) {
    napi_create_string_latin1(io->env, remote, NAPI_AUTO_LENGTH, &argv[2]);
    napi_create_int32(io->env, remote_port, &argv[3]);
    napi_create_string_latin1(io->env, local, NAPI_AUTO_LENGTH, &argv[4]);
    napi_create_int32(io->env, local_port, &argv[5]);
  }
  invoke_callback(io->env, io->actx, io->callback, argc, argv);
  napi_close_handle_scope(io->env, scope);
}

static int out_of_resources(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void on_ready(uv_poll_t *h, int status, int events) {
  struct acceptor *a = (struct acceptor *)h;
  if (status < 0) {
    /* the poll itself failed (libuv's status is -errno) and libuv has stopped it: note that, so
     * that a later acceptWatch(fd, true) starts it again instead of taking it for running; say
     * so; accepting is up to the handler. (Linux's tcp_poll reports no error on a listening
     * socket, so this is for completeness.) */
    a->watching = 0;
    if (a->io != NULL) deliver(a->io, a->fd, status, NULL, 0, NULL, 0);
    return;
  }
  for (int i = 0; i < ACCEPT_BATCH && a->io != NULL && a->watching; i++) {
    struct sockaddr_storage peer, self;
    socklen_t peer_len = sizeof peer, self_len = sizeof self;
    char remote[INET6_ADDRSTRLEN + UV_IF_NAMESIZE + 1], local[INET6_ADDRSTRLEN + UV_IF_NAMESIZE + 1];
    int remote_port = 0, local_port = 0;
    int fd = accept4(a->fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      /* reset before it was taken, or a signal: the next one */
      if (err == EINTR || err == ECONNABORTED) continue;
      deliver(a->io, a->fd, -err, NULL, 0, NULL, 0);
      if (out_of_resources(err)) return;
      continue;
    }
    if (getsockname(fd, (struct sockaddr *)&self, &self_len) != 0
        || !address_text(&peer, remote, sizeof remote, &remote_port)
        || !address_text(&self, local, sizeof local, &local_port)) {
      /* not TCP over IPv4/IPv6, or gone already: nobody to serve */
      close(fd);
      continue;
    }
    deliver(a->io, a->fd, fd, remote, remote_port, local, local_port);
  }
}

/* acceptOnEvent(callback): where every listener's connections (and accept errors) go. */
static napi_value js_on_event(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct accept_io *io;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&io) != napi_ok) return NULL;
  set_callback(env, argc, argv, &io->callback);
  return NULL;
}

/* acceptOpen(fd): a poll handle for a listening fd (not accepting yet). */
static napi_value js_open(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct accept_io *io;
  uv_loop_t *loop;
  if (!one_fd_arg(env, info, &fd, (void **)&io)) return NULL;
  if (find(io, fd) != NULL) {
    throw_arg(env, "ERR_INVALID_STATE", "fd is already open here");
    return NULL;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw_errno(env, EINVAL, "napi_get_uv_event_loop", NULL);
    return NULL;
  }
  struct acceptor *a = calloc(1, sizeof *a);
  if (a == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  int e = uv_poll_init(loop, &a->poll, fd);
  if (e != 0) {
    free(a);
    throw_errno(env, -e, "uv_poll_init", NULL);
    return NULL;
  }
  a->fd = fd;
  a->io = io;
  a->next = io->list;
  io->list = a;
  return NULL;
}

/* acceptWatch(fd, on): accept (on) or leave connections in the backlog. */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  int on;
  struct accept_io *io;
  if (!get_args(env, info, 2, argv, (void **)&io, "acceptWatch needs fd and on")) return NULL;
  if (!get_fd(env, argv[0], &fd) || !get_bool(env, argv[1], "on", &on)) return NULL;
  struct acceptor *a = find(io, fd);
  if (a == NULL) {
    throw_arg(env, "ERR_INVALID_STATE", "fd is not open here (acceptOpen)");
    return NULL;
  }
  if (on == a->watching) return NULL;
  int e = on ? uv_poll_start(&a->poll, UV_READABLE, on_ready) : uv_poll_stop(&a->poll);
  if (e != 0) {
    throw_errno(env, -e, "uv_poll_start", NULL);
    return NULL;
  }
  a->watching = on;
  return NULL;
}

/* acceptClose(fd): stops accepting (when open here) and closes the listening fd. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct accept_io *io;
  if (!one_fd_arg(env, info, &fd, (void **)&io)) return NULL;
  struct acceptor *a = find(io, fd);
  /* uv_close stops the poll before the fd number can be reused */
  if (a != NULL) forget(io, a);
  if (close(fd) != 0 && errno != EINTR) throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* Environment teardown: stop every listener; the fds are left to the process's end. */
static void cleanup(void *arg) {
  struct accept_io *io = arg;
  while (io->list != NULL) forget(io, io->list);
  if (io->callback != NULL) napi_delete_reference(io->env, io->callback);
  if (io->actx != NULL) napi_async_destroy(io->env, io->actx);
  free(io);
}

napi_status accept_init(napi_env env, napi_value exports) {
  struct accept_io *io = calloc(1, sizeof *io);
  napi_value name;
  if (io == NULL) return napi_generic_failure;
  io->env = env;
  if (napi_create_string_utf8(env, "sslserver:accept", NAPI_AUTO_LENGTH, &name) != napi_ok
      || napi_async_init(env, NULL, name, &io->actx) != napi_ok) {
    free(io);
    return napi_generic_failure;
  }
  napi_status s;
  if ((s = napi_add_env_cleanup_hook(env, cleanup, io)) != napi_ok) return s;
  napi_property_descriptor props[] = {
    { "acceptOnEvent", NULL, js_on_event, NULL, NULL, NULL, napi_enumerable, io },
    { "acceptOpen", NULL, js_open, NULL, NULL, NULL, napi_enumerable, io },
    { "acceptWatch", NULL, js_watch, NULL, NULL, NULL, napi_enumerable, io },
    { "acceptClose", NULL, js_close, NULL, NULL, NULL, napi_enumerable, io },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
