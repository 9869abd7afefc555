/* spawn(): vfork-style program start with an exact fd map, uid/gid/groups and chroot. */
#include "sslserver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Limits on what one request may carry; far above any real use, they bound allocation. */
#define MAX_FDS 1024
#define MAX_GROUPS 65536
/* glibc's execvp default when neither the new environment nor ours has PATH. */
#define DEFAULT_PATH "/bin:/usr/bin"

extern char **environ;

enum stage { STAGE_NONE, STAGE_CHROOT, STAGE_CHDIR, STAGE_SETGROUPS, STAGE_SETGID, STAGE_SETUID,
             STAGE_FCNTL, STAGE_DUP2, STAGE_CLOSE, STAGE_EXECVE };
static const char *const STAGE_SYSCALL[] = { "spawn", "chroot", "chdir", "setgroups", "setgid",
                                             "setuid", "fcntl", "dup2", "close", "execve" };

/* Everything the child needs, built by the parent before vfork(): the child allocates nothing. */
struct plan {
  char **candidates; /* full paths to try, in PATH order */
  char **argv;
  char **envp;
  int *fds;          /* fds[i] becomes fd i; -1 leaves fd i closed */
  int *tmp;          /* scratch for the first pass of the fd map */
  int nfds;
  int uid, gid;      /* -1: unchanged */
  int set_groups;
  gid_t *groups;
  int ngroups;
  char *root;        /* chroot directory or NULL */
  int close_limit;   /* RLIMIT_NOFILE, for the close loop when close_range is missing */
  struct sigaction dfl;
  sigset_t empty;
  int pinned;           /* the parent narrowed its CPU affinity for the vfork (pin_for_vfork) */
  cpu_set_t affinity;   /* its mask before that: the child takes it back before execve */
  /* Written by the child, read by the parent once vfork() returns (shared memory). */
  volatile int err;
  volatile int stage;
};

static void free_strv(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

/* Reads a JS array of strings or Buffers into a NULL-terminated malloc'd vector. */
static char **get_strv(napi_env env, napi_value arr, const char *what) {
  bool is_arr;
  uint32_t n;
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an array of strings or Buffers", what);
    throw_arg(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  napi_get_array_length(env, arr, &n);
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (v == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    napi_get_element(env, arr, i, &el);
    if ((v[i] = get_string(env, el, what)) == NULL) {
      free_strv(v);
      return NULL;
    }
  }
  return v;
}

/* Reads a JS array of int32 within [lo, hi]. */
static int *get_intv(napi_env env, napi_value arr, const char *what, int lo, int hi, uint32_t max,
                     int *count) {
  bool is_arr;
  uint32_t n;
  char msg[96];
  if (napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr) {
    snprintf(msg, sizeof msg, "%s must be an array of integers", what);
    throw_arg(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  napi_get_array_length(env, arr, &n);
  if (n > max) {
    snprintf(msg, sizeof msg, "%s has more than %u entries", what, max);
    throw_arg(env, "ERR_INVALID_ARG_VALUE", msg);
    return NULL;
  }
  int *v = malloc(((size_t)n + 1) * sizeof *v);
  if (v == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    int32_t x;
    napi_get_element(env, arr, i, &el);
    if (!get_int32(env, el, what, &x)) {
      free(v);
      return NULL;
    }
    if (x < lo || x > hi) {
      snprintf(msg, sizeof msg, "%s entry %d is out of range", what, x);
      throw_arg(env, "ERR_INVALID_ARG_VALUE", msg);
      free(v);
      return NULL;
    }
    v[i] = x;
  }
  *count = (int)n;
  return v;
}

/* execvp's search list: the file itself when it has a slash, else every PATH entry + "/" + file.
 * PATH comes from the new environment (as djb's pathexec), else ours, else DEFAULT_PATH. */
static char **path_candidates(const char *file, char **envp) {
  const char *path = NULL;
  if (strchr(file, '/') != NULL || file[0] == '\0') {
    char **v = calloc(2, sizeof *v);
    if (v != NULL && (v[0] = strdup(file)) == NULL) { free(v); v = NULL; }
    return v;
  }
  for (char **e = envp; *e != NULL; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  if (path == NULL) path = getenv("PATH");
  if (path == NULL) path = DEFAULT_PATH;
  size_t n = 1;
  for (const char *p = path; *p != '\0'; p++) n += *p == ':';
  char **v = calloc(n + 1, sizeof *v);
  if (v == NULL) return NULL;
  size_t flen = strlen(file), i = 0;
  for (const char *p = path;; ) {
    const char *colon = strchr(p, ':');
    size_t dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
    /* An empty entry means the current directory (execvp). */
    char *c = malloc(dlen + flen + 2);
    if (c == NULL) { free_strv(v); return NULL; }
    if (dlen == 0) memcpy(c, file, flen + 1);
    else {
      memcpy(c, p, dlen);
      c[dlen] = '/';
      memcpy(c + dlen + 1, file, flen + 1);
    }
    v[i++] = c;
    if (colon == NULL) break;
    p = colon + 1;
  }
  return v;
}

static void __attribute__((noreturn)) child_fail(struct plan *pl, int stage) {
  pl->err = errno;
  pl->stage = stage;
  _exit(127);
}

/* Runs in the vfork child, on the parent's memory: only raw system calls, no allocation, no
 * locks, no glibc set*id wrappers (those signal every thread of the parent process). */
static void __attribute__((noinline, noreturn)) child(struct plan *pl) {
  /* Handlers are copied, not shared (no CLONE_SIGHAND): reset ours before unblocking, so no
   * parent handler runs here, and so ignored signals (Node ignores SIGPIPE) are not inherited
   * across execve. */
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction old;
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL) sigaction(sig, &pl->dfl, NULL);
  }
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &pl->empty, NULL, _NSIG / 8);
  /* The CPU the parent pinned us to was only for getting here: the program runs anywhere. */
  if (pl->pinned) syscall(SYS_sched_setaffinity, 0, sizeof pl->affinity, &pl->affinity);

  if (pl->root != NULL) {
    if (syscall(SYS_chroot, pl->root) != 0) child_fail(pl, STAGE_CHROOT);
    if (syscall(SYS_chdir, "/") != 0) child_fail(pl, STAGE_CHDIR);
  }
  /* ucspi order (prot_gid then prot_uid): groups and gid while we may still change them. */
  if (pl->set_groups && syscall(SYS_setgroups, (size_t)pl->ngroups, pl->groups) != 0)
    child_fail(pl, STAGE_SETGROUPS);
  if (pl->gid != -1 && syscall(SYS_setresgid, pl->gid, pl->gid, pl->gid) != 0)
    child_fail(pl, STAGE_SETGID);
  if (pl->uid != -1 && syscall(SYS_setresuid, pl->uid, pl->uid, pl->uid) != 0)
    child_fail(pl, STAGE_SETUID);

  /* Two passes so no target overwrites a source still to be placed: move every source above
   * the highest target (close-on-exec), then dup3 into place (which clears close-on-exec). */
  for (int i = 0; i < pl->nfds; i++) {
    pl->tmp[i] = -1;
    if (pl->fds[i] >= 0) {
      long r = syscall(SYS_fcntl, pl->fds[i], F_DUPFD_CLOEXEC, pl->nfds);
      if (r < 0) child_fail(pl, STAGE_FCNTL);
      pl->tmp[i] = (int)r;
    }
  }
  for (int i = 0; i < pl->nfds; i++) {
    if (pl->tmp[i] >= 0) {
      if (syscall(SYS_dup3, pl->tmp[i], i, 0) < 0) child_fail(pl, STAGE_DUP2);
    } else {
      syscall(SYS_close, i);
    }
  }
  /* Nothing outside the map survives, CLOEXEC or not. */
  if (syscall(SYS_close_range, (unsigned)pl->nfds, ~0U, 0) != 0) {
    if (errno != ENOSYS) child_fail(pl, STAGE_CLOSE);
    for (int fd = pl->nfds; fd < pl->close_limit; fd++) syscall(SYS_close, fd);
  }

  /* execvp's loop: keep going past missing files; report EACCES if any entry had it. */
  int saw_eacces = 0;
  for (char **c = pl->candidates; *c != NULL; c++) {
    syscall(SYS_execve, *c, pl->argv, pl->envp);
    if (errno == EACCES) saw_eacces = 1;
    else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG && errno != ELOOP) break;
  }
  if (saw_eacces && (errno == ENOENT || errno == ENOTDIR)) errno = EACCES;
  child_fail(pl, STAGE_EXECVE);
}

static void plan_free(struct plan *pl) {
  free_strv(pl->candidates);
  free_strv(pl->argv);
  free_strv(pl->envp);
  free(pl->fds);
  free(pl->tmp);
  free(pl->groups);
  free(pl->root);
}

/* vfork() suspends this thread (Node's event loop) until the child has exec'd. On a busy
 * machine the kernel may start the child on another CPU, behind whatever runs there, while this
 * CPU idles or runs something else: measured on 2 cores each running a busy loop, the loop stayed blocked 1.5-1.8 ms
 * per spawn (mean) instead of 0.7-0.9 ms with this. Narrowing our affinity to the CPU we are on
 * makes the child inherit that single CPU, so it runs where we just went to sleep; the child and
 * we (after vfork returns) restore the old mask. Best effort: any failure just skips it. */
static void pin_for_vfork(struct plan *pl) {
  cpu_set_t one;
  int cpu;
  if (sched_getaffinity(0, sizeof pl->affinity, &pl->affinity) != 0 || CPU_COUNT(&pl->affinity) < 2) return;
  if ((cpu = sched_getcpu()) < 0 || cpu >= CPU_SETSIZE) return;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pl->pinned = sched_setaffinity(0, sizeof one, &one) == 0;
}

static void reap_now(pid_t pid) {
  while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) { }
}

/* spawn(file, argv[], envp[], fds[], uid, gid, groups[] | null, chroot | null) -> pid
 * file, argv and envp: strings (UTF-8) or Buffers (exact bytes). */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value a[8];
  struct plan pl;
  char *file = NULL;
  napi_value result = NULL;
  memset(&pl, 0, sizeof pl);
  if (!get_args(env, info, 8, a, NULL, "spawn needs file, argv, envp, fds, uid, gid, groups, chroot")) return NULL;
  int32_t uid, gid;
  if ((file = get_string(env, a[0], "file")) == NULL) goto out;
  if ((pl.argv = get_strv(env, a[1], "argv")) == NULL) goto out;
  if ((pl.envp = get_strv(env, a[2], "envp")) == NULL) goto out;
  if ((pl.fds = get_intv(env, a[3], "fds", -1, INT_MAX, MAX_FDS, &pl.nfds)) == NULL) goto out;
  if (!get_int32(env, a[4], "uid", &uid) || !get_int32(env, a[5], "gid", &gid)) goto out;
  if (uid < -1 || gid < -1) {
    throw_arg(env, "ERR_INVALID_ARG_VALUE", "uid and gid must be -1 (unchanged) or >= 0");
    goto out;
  }
  pl.uid = uid;
  pl.gid = gid;
  if (!is_nullish(env, a[6])) {
    int *g = get_intv(env, a[6], "groups", 0, INT_MAX, MAX_GROUPS, &pl.ngroups);
    if (g == NULL) goto out;
    pl.groups = malloc(((size_t)pl.ngroups + 1) * sizeof *pl.groups);
    if (pl.groups == NULL) { free(g); throw_errno(env, ENOMEM, "malloc", NULL); goto out; }
    for (int i = 0; i < pl.ngroups; i++) pl.groups[i] = (gid_t)g[i];
    free(g);
    pl.set_groups = 1;
  }
  if (!is_nullish(env, a[7]) && (pl.root = get_string(env, a[7], "chroot")) == NULL) goto out;
  if ((pl.candidates = path_candidates(file, pl.envp)) == NULL
      || (pl.tmp = malloc(((size_t)pl.nfds + 1) * sizeof *pl.tmp)) == NULL) {
    throw_errno(env, ENOMEM, "malloc", NULL);
    goto out;
  }
  long lim = sysconf(_SC_OPEN_MAX);
  pl.close_limit = lim > 0 && lim < INT_MAX ? (int)lim : 1024;
  pl.dfl.sa_handler = SIG_DFL;
  sigemptyset(&pl.dfl.sa_mask);
  sigemptyset(&pl.empty);

  /* All signals blocked across vfork: a handler must not run in the child on our memory. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pin_for_vfork(&pl);
  pid_t pid = vfork();
  if (pid == 0) child(&pl);
  int vfork_errno = errno;
  if (pl.pinned) sched_setaffinity(0, sizeof pl.affinity, &pl.affinity);
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  if (pid < 0) {
    throw_errno(env, vfork_errno, "vfork", NULL);
    goto out;
  }
  if (pl.err != 0) {
    /* The child has already called _exit(127); collect it here so it never reaches JS. */
    reap_now(pid);
    throw_errno(env, pl.err, STAGE_SYSCALL[pl.stage],
                pl.stage == STAGE_EXECVE ? file : pl.stage == STAGE_CHROOT ? pl.root : NULL);
    goto out;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    reap_now(pid);
    throw_errno(env, e, "pidfd_open", NULL);
    goto out;
  }
  if (!reap_watch(env, pid, pidfd)) {
    kill(pid, SIGKILL);
    reap_now(pid);
    close(pidfd);
    goto out;
  }
  napi_create_int32(env, pid, &result);
out:
  free(file);
  plan_free(&pl);
  return result;
}

napi_status spawn_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, 1, props);
}
