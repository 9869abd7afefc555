/* Reaping without libuv's child list and without waitpid(-1): one pidfd per child, watched
 * by a uv_poll on Node's own loop; the wait happens on the JS thread, so a pid cannot be
 * reused before JS has seen its exit (kill() from JS stays safe). */
#include "sslserver.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

struct watch {
  uv_poll_t poll;     /* first member: the handle pointer is the watch pointer */
  pid_t pid;
  int pidfd;
  struct reaper *reaper;
  struct watch *prev, *next;
};

/* Per-environment state (main thread or a worker). */
struct reaper {
  napi_env env;
  napi_ref callback;  /* JS (pid, rawWaitStatus) => void */
  napi_async_context actx;
  struct watch *head;
};

static struct reaper *get_reaper(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static void unlink_watch(struct watch *w) {
  if (w->prev != NULL) w->prev->next = w->next;
  else if (w->reaper != NULL) w->reaper->head = w->next;
  if (w->next != NULL) w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

static void on_closed(uv_handle_t *h) {
  struct watch *w = (struct watch *)h;
  if (w->pidfd >= 0) close(w->pidfd);
  free(w);
}

static void deliver(struct reaper *r, pid_t pid, int status) {
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_value argv[2];
  if (r->callback == NULL) return;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_create_int32(env, pid, &argv[0]);
  napi_create_int32(env, status, &argv[1]);
  /* make_callback, not call_function: promise reactions must run before we return to uv. */
  invoke_callback(env, r->actx, r->callback, 2, argv);
  napi_close_handle_scope(env, scope);
}

static void on_ready(uv_poll_t *h, int status, int events) {
  struct watch *w = (struct watch *)h;
  int st = 0;
  pid_t r;
  /* A pidfd polls readable once the process has exited; WNOHANG keeps a spurious wake-up
   * from blocking the loop. */
  do r = waitpid(w->pid, &st, WNOHANG | __WALL); while (r < 0 && errno == EINTR);
  if (r == 0) return;
  /* ECHILD: someone else reaped it (a waitpid(-1) elsewhere); -1 tells JS the status is lost. */
  if (r < 0) st = -1;
  struct reaper *rp = w->reaper;
  pid_t pid = w->pid;
  uv_poll_stop(h);
  unlink_watch(w);
  uv_close((uv_handle_t *)h, on_closed);
  if (rp != NULL) deliver(rp, pid, st);
}

int reap_watch(napi_env env, pid_t pid, int pidfd) {
  struct reaper *rp = get_reaper(env);
  uv_loop_t *loop;
  if (rp == NULL || rp->callback == NULL) {
    throw_arg(env, "ERR_INVALID_STATE", "onExit(callback) must be called before spawn");
    return 0;
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw_errno(env, EINVAL, "napi_get_uv_event_loop", NULL);
    return 0;
  }
  struct watch *w = calloc(1, sizeof *w);
  if (w == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    return 0;
  }
  w->pid = pid;
  w->pidfd = pidfd;
  w->reaper = rp;
  /* uv errors are negated errno values on Unix. */
  int e = uv_poll_init(loop, &w->poll, pidfd);
  if (e != 0) {
    free(w);
    throw_errno(env, -e, "uv_poll_init", NULL);
    return 0;
  }
  e = uv_poll_start(&w->poll, UV_READABLE, on_ready);
  if (e != 0) {
    /* the handle is on the loop's list now: only uv_close may free it; the pidfd stays the
     * caller's to close */
    w->pidfd = -1;
    w->reaper = NULL;
    uv_close((uv_handle_t *)&w->poll, on_closed);
    throw_errno(env, -e, "uv_poll_start", NULL);
    return 0;
  }
  w->next = rp->head;
  if (rp->head != NULL) rp->head->prev = w;
  rp->head = w;
  return 1;
}

/* onExit(callback): where (pid, rawWaitStatus) of every spawned child goes. */
static napi_value js_on_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct reaper *rp = get_reaper(env);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  set_callback(env, argc, argv, &rp->callback);
  return NULL;
}

/* setChildRef(pid, ref) -> whether pid is watched. An unref'd child does not keep Node alive. */
static napi_value js_set_child_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int32_t pid;
  int ref;
  struct reaper *rp = get_reaper(env);
  if (!get_args(env, info, 2, argv, NULL, "setChildRef needs pid and ref")) return NULL;
  if (!get_int32(env, argv[0], "pid", &pid) || !get_bool(env, argv[1], "ref", &ref)) return NULL;
  struct watch *w = rp->head;
  while (w != NULL && w->pid != pid) w = w->next;
  if (w != NULL) {
    if (ref) uv_ref((uv_handle_t *)&w->poll);
    else uv_unref((uv_handle_t *)&w->poll);
  }
  napi_get_boolean(env, w != NULL, &result);
  return result;
}

/* Environment teardown (process exit, worker end): stop watching; children are not killed. */
static void cleanup(void *arg) {
  struct reaper *rp = arg;
  while (rp->head != NULL) {
    struct watch *w = rp->head;
    unlink_watch(w);
    w->reaper = NULL;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_closed);
  }
  if (rp->callback != NULL) napi_delete_reference(rp->env, rp->callback);
  rp->callback = NULL;
  if (rp->actx != NULL) napi_async_destroy(rp->env, rp->actx);
  rp->actx = NULL;
}

static void finalize_reaper(napi_env env, void *data, void *hint) {
  free(data);
}

napi_status reap_init(napi_env env, napi_value exports) {
  struct reaper *rp = calloc(1, sizeof *rp);
  napi_value name;
  napi_status s;
  if (rp == NULL) return napi_generic_failure;
  rp->env = env;
  if ((s = napi_create_string_utf8(env, "sslserver:child", NAPI_AUTO_LENGTH, &name)) != napi_ok
      || (s = napi_async_init(env, NULL, name, &rp->actx)) != napi_ok
      || (s = napi_set_instance_data(env, rp, finalize_reaper, NULL)) != napi_ok) {
    free(rp);
    return s;
  }
  if ((s = napi_add_env_cleanup_hook(env, cleanup, rp)) != napi_ok) return s;
  napi_property_descriptor props[] = {
    { "onExit", NULL, js_on_exit, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setChildRef", NULL, js_set_child_ref, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, 2, props);
}
