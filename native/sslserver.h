/* Shared declarations of the sslserver_native addon: error helpers and the per-file exports. */
#ifndef SSLSERVER_NATIVE_H
#define SSLSERVER_NATIVE_H

#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Throws an Error shaped like Node's errno errors: code = errno name, errno, syscall, path. */
void throw_errno(napi_env env, int err, const char *syscall, const char *path);
napi_value fd_pair(napi_env env, const int fds[2]);
/* socketpair(AF_UNIX, type | SOCK_CLOEXEC) -> [a, b], or throws. */
napi_value unix_pair(napi_env env, int type);
/* Throws a TypeError with code ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE. */
void throw_arg(napi_env env, const char *code, const char *message);

/* Argument readers: return 0 and throw on a wrong type. */
int get_int32(napi_env env, napi_value v, const char *what, int32_t *out);
int get_bool(napi_env env, napi_value v, const char *what, int *out);
/* A string (as UTF-8) or a Buffer (its bytes) as a malloc'd C string; a NUL inside is a TypeError. */
char *get_string(napi_env env, napi_value v, const char *what);
/* True when v is null or undefined. */
int is_nullish(napi_env env, napi_value v);
/* An fd argument: an int32 >= 0. */
int get_fd(napi_env env, napi_value v, int32_t *fd);
/* The call's first n arguments into argv (data: the function's data pointer, or NULL); throws
 * ERR_MISSING_ARGS with `missing` when fewer were passed. */
int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, void **data, const char *missing);
/* A call whose one argument is an fd; *data (when not NULL) gets the function's data pointer. */
int one_fd_arg(napi_env env, napi_callback_info info, int32_t *fd, void **data);

/* The addon's event callbacks (onExit, pipeOnEvent): one JS function per environment, kept in
 * *slot; set_callback checks argv[0] is a function and replaces the old one. */
int set_callback(napi_env env, size_t argc, const napi_value *argv, napi_ref *slot);
/* Calls the function in ref (if any) with make_callback, so that nextTicks and promise
 * reactions run before control returns to uv; an exception becomes an uncaught one. The
 * caller holds a handle scope. */
void invoke_callback(napi_env env, napi_async_context actx, napi_ref ref, size_t argc, const napi_value *argv);

/* Registered by reap.c: starts watching a freshly spawned child (pidfd + uv_poll). */
int reap_watch(napi_env env, pid_t pid, int pidfd);

/* Export tables of each file. */
napi_status spawn_init(napi_env env, napi_value exports);
napi_status reap_init(napi_env env, napi_value exports);
napi_status socket_init(napi_env env, napi_value exports);
napi_status privsep_init(napi_env env, napi_value exports);
napi_status tls_init(napi_env env, napi_value exports);
napi_status pipeio_init(napi_env env, napi_value exports);
napi_status accept_init(napi_env env, napi_value exports);

#define RETURN_IF(env, cond) do { if (cond) return NULL; } while (0)

#endif
