/* sslserver_native: module init, Node-shaped errno errors, and the small calls Node lacks (fds,
 * chroot, glibc's heap pad). */
#include "sslserver.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  /* Node's uv errors read "ENOENT: no such file or directory, open '/x'"; errnoText() in
   * src/errors.ts parses that shape, so keep it. */
  const char *name = strerrorname_np(err);
  char namebuf[16];
  if (name == NULL) {
    snprintf(namebuf, sizeof namebuf, "E%d", err);
    name = namebuf;
  }
  /* libuv's wording is lowercase ("no such file or directory"); glibc capitalises it. */
  char text[128];
  snprintf(text, sizeof text, "%s", strerror(err));
  if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z')) text[0] += 'a' - 'A';
  char msg[512];
  if (path != NULL) snprintf(msg, sizeof msg, "%s: %s, %s '%s'", name, text, syscall, path);
  else snprintf(msg, sizeof msg, "%s: %s, %s", name, text, syscall);
  napi_value jmsg, jcode, jerr, jsys, jerrno;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) != napi_ok) return;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jcode) != napi_ok) return;
  if (napi_create_error(env, jcode, jmsg, &jerr) != napi_ok) return;
  /* Node reports errno negated (libuv style). */
  napi_create_int32(env, -err, &jerrno);
  napi_set_named_property(env, jerr, "errno", jerrno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, jerr, "syscall", jsys);
  if (path != NULL) {
    napi_value jpath;
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &jpath);
    napi_set_named_property(env, jerr, "path", jpath);
  }
  napi_throw(env, jerr);
}

void throw_arg(napi_env env, const char *code, const char *message) {
  napi_throw_type_error(env, code, message);
}

int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  return t == napi_null || t == napi_undefined;
}

int get_int32(napi_env env, napi_value v, const char *what, int32_t *out) {
  napi_valuetype t;
  double d;
  char msg[128];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    snprintf(msg, sizeof msg, "%s must be a number", what);
    throw_arg(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  napi_get_value_double(env, v, &d);
  if (d != (double)(int32_t)d) {
    snprintf(msg, sizeof msg, "%s must be a 32-bit integer", what);
    throw_arg(env, "ERR_INVALID_ARG_VALUE", msg);
    return 0;
  }
  *out = (int32_t)d;
  return 1;
}

int get_bool(napi_env env, napi_value v, const char *what, int *out) {
  napi_valuetype t;
  bool b;
  char msg[128];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) {
    snprintf(msg, sizeof msg, "%s must be a boolean", what);
    throw_arg(env, "ERR_INVALID_ARG_TYPE", msg);
    return 0;
  }
  napi_get_value_bool(env, v, &b);
  *out = b;
  return 1;
}

char *get_string(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  size_t len;
  char msg[128];
  bool is_buf;
  if (napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf) {
    /* exact bytes (a name or value that is not UTF-8: src/env/env-bytes.ts) */
    void *data;
    napi_get_buffer_info(env, v, &data, &len);
    if (memchr(data, 0, len) != NULL) {
      snprintf(msg, sizeof msg, "%s must not contain NUL bytes", what);
      throw_arg(env, "ERR_INVALID_ARG_VALUE", msg);
      return NULL;
    }
    char *s = malloc(len + 1);
    if (s == NULL) {
      throw_errno(env, ENOMEM, "malloc", NULL);
      return NULL;
    }
    memcpy(s, data, len);
    s[len] = 0;
    return s;
  }
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    snprintf(msg, sizeof msg, "%s must be a string or a Buffer", what);
    throw_arg(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  char *s = malloc(len + 1);
  if (s == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) {
    /* A NUL inside would silently cut a path or argument short. */
    free(s);
    snprintf(msg, sizeof msg, "%s must not contain NUL bytes", what);
    throw_arg(env, "ERR_INVALID_ARG_VALUE", msg);
    return NULL;
  }
  return s;
}

/* [fds[0], fds[1]] as a JS array: the shape of pipe(), socketpair() and seqpacketPair(). */
napi_value fd_pair(napi_env env, const int fds[2]) {
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, fds[0], &a);
  napi_create_int32(env, fds[1], &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

/* pipe() -> [r, w], both close-on-exec: only the spawn fd map hands them to a child. Its
   capacity is the default; a pipe that carries a bulk transfer is grown later (pipeGrow). */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw_errno(env, errno, "pipe", NULL);
    return NULL;
  }
  return fd_pair(env, fds);
}

/* socketpair(AF_UNIX, type) -> [a, b], close-on-exec (see sslserver.h). */
napi_value unix_pair(napi_env env, int type) {
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
    throw_errno(env, errno, "socketpair", NULL);
    return NULL;
  }
  return fd_pair(env, fds);
}

/* socketpair() -> [a, b]: AF_UNIX stream, close-on-exec (the UCSPI-TLS control socket). */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  return unix_pair(env, SOCK_STREAM);
}

int get_fd(napi_env env, napi_value v, int32_t *fd) {
  if (!get_int32(env, v, "fd", fd)) return 0;
  if (*fd < 0) {
    throw_arg(env, "ERR_INVALID_ARG_VALUE", "fd must be >= 0");
    return 0;
  }
  return 1;
}

int set_callback(napi_env env, size_t argc, const napi_value *argv, napi_ref *slot) {
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    throw_arg(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return 0;
  }
  if (*slot != NULL) napi_delete_reference(env, *slot);
  *slot = NULL;
  return napi_create_reference(env, argv[0], 1, slot) == napi_ok;
}

void invoke_callback(napi_env env, napi_async_context actx, napi_ref ref, size_t argc, const napi_value *argv) {
  napi_value cb, recv, result;
  if (ref == NULL || napi_get_reference_value(env, ref, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv); /* make_callback needs an object receiver */
  if (napi_make_callback(env, actx, recv, cb, argc, argv, &result) == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, void **data, const char *missing) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, data) != napi_ok) return 0;
  if (argc < n) {
    throw_arg(env, "ERR_MISSING_ARGS", missing);
    return 0;
  }
  return 1;
}

int one_fd_arg(napi_env env, napi_callback_info info, int32_t *fd, void **data) {
  napi_value argv[1];
  return get_args(env, info, 1, argv, data, "fd is required") && get_fd(env, argv[0], fd);
}

/* close(fd); EINTR counts as closed (Linux always releases the fd). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!one_fd_arg(env, info, &fd, NULL)) return NULL;
  if (close(fd) != 0 && errno != EINTR) throw_errno(env, errno, "close", NULL);
  return NULL;
}

/* dup(fd) -> new fd, close-on-exec. */
static napi_value js_dup(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!one_fd_arg(env, info, &fd, NULL)) return NULL;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (nfd < 0) {
    throw_errno(env, errno, "dup", NULL);
    return NULL;
  }
  napi_value r;
  napi_create_int32(env, nfd, &r);
  return r;
}

/* chroot(path) then chdir("/") for this whole process (the key helper's jail). */
static napi_value js_chroot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NULL, "path is required")) return NULL;
  char *path = get_string(env, argv[0], "path");
  if (path == NULL) return NULL;
  if (chroot(path) != 0) throw_errno(env, errno, "chroot", path);
  else if (chdir("/") != 0) throw_errno(env, errno, "chdir", "/");
  free(path);
  return NULL;
}

/* heapTopPad(bytes) -> whether glibc took it: mallopt(M_TOP_PAD), the free space the heap keeps
 * at its top when it shrinks and asks for in addition when it grows. */
static napi_value js_heap_top_pad(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int32_t bytes;
  if (!get_args(env, info, 1, argv, NULL, "bytes is required")) return NULL;
  if (!get_int32(env, argv[0], "bytes", &bytes)) return NULL;
  if (bytes < 0) {
    throw_arg(env, "ERR_OUT_OF_RANGE", "bytes must not be negative");
    return NULL;
  }
#ifdef __GLIBC__
  napi_get_boolean(env, mallopt(M_TOP_PAD, bytes) == 1, &r);
#else
  napi_get_boolean(env, false, &r);
#endif
  return r;
}

/* heapTrim() -> whether glibc gave pages back: malloc_trim(0), the main heap's free top and the
 * free pages inside every arena returned to the kernel (a thread arena's free top is not: glibc
 * trims that only when freeing into it). */
static napi_value js_heap_trim(napi_env env, napi_callback_info info) {
  napi_value r;
  (void)info;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) == 1, &r);
#else
  napi_get_boolean(env, false, &r);
#endif
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL },
    { "socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dup", NULL, js_dup, NULL, NULL, NULL, napi_enumerable, NULL },
    { "chroot", NULL, js_chroot, NULL, NULL, NULL, napi_enumerable, NULL },
    { "heapTopPad", NULL, js_heap_top_pad, NULL, NULL, NULL, napi_enumerable, NULL },
    { "heapTrim", NULL, js_heap_trim, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (spawn_init(env, exports) != napi_ok) return NULL;
  if (reap_init(env, exports) != napi_ok) return NULL;
  if (socket_init(env, exports) != napi_ok) return NULL;
  if (privsep_init(env, exports) != napi_ok) return NULL;
  if (tls_init(env, exports) != napi_ok) return NULL;
  if (pipeio_init(env, exports) != napi_ok) return NULL;
  if (accept_init(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
