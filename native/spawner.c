/* sslserver-spawner: the one privileged helper left after start-up; starts only its configured
 * program as its configured identity, for the unprivileged network process (OpenSSH-style
 * privilege separation).
 *
 * Usage (started by sslserver as root, never by hand):
 *   sslserver-spawner UID GID GROUPS FILE ARGV0 [ARG...]
 * UID/GID -1: unchanged; GROUPS "-": unchanged, "": none, else "1,2,3". FILE without a slash is
 * searched in this process's PATH once per start (glibc execvp), never in the request's PATH.
 *
 * fd 3, requests (AF_UNIX SOCK_SEQPACKET, one record each, integers big-endian):
 *   'S' u32 id, then NUL-terminated NAME=value entries (the program's whole environment);
 *       SCM_RIGHTS: 1..16 fds, which become the program's fd 0, 1, 2... (nothing else is kept)
 *   'K' u32 pid u32 signal: signal one of our own running programs (others are ignored)
 * fd 4, replies (AF_UNIX SOCK_STREAM), 9 bytes each:
 *   'P' u32 id i32 pid (> 0) or -errno when the program could not start
 *   'X' u32 pid i32 raw wait status, once the program is reaped
 * EOF on fd 3 ends the spawner (running programs go on, as under the reference when it exits).
 * A request can neither name another program nor another identity, so a compromised network
 * process gains nothing here that the configured program does not already have.
 * It keeps only CAP_SETUID, CAP_SETGID and CAP_KILL (to signal a program run as another uid), and
 * the bounding set, for a program started as root. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQ_FD 3
#define REPLY_FD 4
/* Largest request record: an environment beyond this is refused (E2BIG). */
#define MAX_REQUEST_BYTES (256 * 1024)
#define MAX_ENV_ENTRIES 4096
#define MAX_FDS 16
#define MAX_GROUPS 64
/* Running programs tracked; one per connection, and -c is at most a few thousand. */
#define MAX_CHILDREN 65536

static uid_t uid = (uid_t)-1;
static gid_t gid = (gid_t)-1;
static int set_groups = 0;
static gid_t groups[MAX_GROUPS];
static size_t ngroups = 0;
static const char *file;
static char **prog_argv;
static pid_t children[MAX_CHILDREN];
static size_t nchildren = 0;
static sigset_t blocked;

static void die(const char *what) {
  fprintf(stderr, "sslserver-spawner: fatal: %s: %s\n", what, strerror(errno));
  _exit(111);
}

/* Keeps only what starting and stopping a program as -u/-g needs: CAP_SETUID and CAP_SETGID in
 * the permitted and effective sets (setgroups and setresgid need CAP_SETGID, setresuid
 * CAP_SETUID), and CAP_KILL: uid 0 may signal a process of another uid only with it (kill(2)),
 * so without it SIGTERM and SIGKILL to a -u program fail with EPERM and a program that ignores
 * its EOF outlives its session, holding a -c slot. kill_request() signals only our own children,
 * and CAP_SETUID could become any uid anyway, so this gives nothing new. Nothing inheritable.
 * The bounding set stays: a program started as root (no -u) gets root's usual capabilities
 * back at execve (capabilities(7), "Capabilities and execution of programs by root"), as under
 * the reference; one that setresuid()s away from 0 loses them all.
 * Raw capset(2) with _LINUX_CAPABILITY_VERSION_3 (two 32-bit words), no libcap. Then
 * non-dumpable: no ptrace or /proc/PID/mem of this root process. */
static void keep_only_program_caps(void) {
  struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  data[0].permitted = (1U << CAP_SETUID) | (1U << CAP_SETGID) | (1U << CAP_KILL);
  data[0].effective = data[0].permitted;
  if (syscall(SYS_capset, &head, data) != 0) die("capset");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("prctl");
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void reply(char op, uint32_t a, int32_t b) {
  unsigned char m[9];
  m[0] = (unsigned char)op;
  put32(m + 1, a);
  put32(m + 5, (uint32_t)b);
  size_t off = 0;
  while (off < sizeof m) {
    ssize_t w = write(REPLY_FD, m + off, sizeof m - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(0); /* the network process is gone */
    off += (size_t)w;
  }
}

static long parse_id(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || v < -1 || v > 4294967294L) {
    fprintf(stderr, "sslserver-spawner: fatal: bad id: %s\n", s);
    _exit(100);
  }
  return v;
}

/* Marks every fd from `low` up close-on-exec (close_range, else one by one). */
static int syscall_close_range_cloexec(int low) {
#ifdef CLOSE_RANGE_CLOEXEC
  if (close_range((unsigned)low, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = low; fd < max; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
  }
  return 0;
}

/* Set by a vfork child that could not exec, read by us once vfork() returns (shared memory). */
static volatile int child_errno;

/* In the vfork child, on our memory and stack: fd map, identity, exec; only system calls and
 * execvpe (its PATH search uses the stack, never malloc). Failure: errno into child_errno. */
static void child(int *fds, int nfds, char **envp) {
  int tmp[MAX_FDS];
  sigset_t none;
  sigemptyset(&none);
  /* the child has its own copy of the dispositions (no CLONE_SIGHAND) and no handler exists */
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* move the received fds above the target range first, so dup2 never clobbers one */
  for (int i = 0; i < nfds; i++) {
    tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, nfds);
    if (tmp[i] < 0) goto fail;
  }
  for (int i = 0; i < nfds; i++)
    if (dup2(tmp[i], i) < 0) goto fail;
  /* everything else is close-on-exec (the fd table is the child's own copy) */
  if (syscall_close_range_cloexec(nfds) != 0) goto fail;
  /* the program gets the normal policy back (see run_as_batch) */
  {
    struct sched_param normal = { .sched_priority = 0 };
    (void)sched_setscheduler(0, SCHED_OTHER, &normal);
  }
  /* raw calls: glibc's set*id wrappers may signal other threads, and this is a vfork child */
  if (set_groups && syscall(SYS_setgroups, ngroups, groups) != 0) goto fail;
  if (gid != (gid_t)-1 && syscall(SYS_setresgid, gid, gid, gid) != 0) goto fail;
  if (uid != (uid_t)-1 && syscall(SYS_setresuid, uid, uid, uid) != 0) goto fail;
  execvpe(file, prog_argv, envp);
fail:
  child_errno = errno != 0 ? errno : EINVAL;
  _exit(127);
}

static void close_all(int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

static void spawn_request(uint32_t id, char *env, size_t envlen, int *fds, int nfds) {
  char *envp[MAX_ENV_ENTRIES + 1];
  size_t n = 0;
  size_t off = 0;
  if (nfds < 1 || (envlen > 0 && env[envlen - 1] != '\0')) {
    reply('P', id, -EINVAL);
    return;
  }
  while (off < envlen) {
    if (n >= MAX_ENV_ENTRIES) {
      reply('P', id, -E2BIG);
      return;
    }
    envp[n++] = env + off;
    off += strlen(env + off) + 1;
  }
  envp[n] = NULL;
  if (nchildren >= MAX_CHILDREN) {
    reply('P', id, -EAGAIN);
    return;
  }
  /* vfork: no copy of our page tables and no copy-on-write faults on either side (fork cost
   * ~400 us per program here, most of the spawner's CPU); we sleep until the child has exec'd
   * or failed, as we waited on an errno pipe before. */
  child_errno = 0;
  pid_t pid = vfork();
  if (pid == 0) child(fds, nfds, envp);
  if (pid < 0) {
    reply('P', id, -errno);
    return;
  }
  if (child_errno != 0) {
    /* it never ran: reap it here, it is not a program to report */
    int err = child_errno;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    reply('P', id, -err);
    return;
  }
  children[nchildren++] = pid;
  reply('P', id, pid);
}

static void kill_request(uint32_t pid, uint32_t sig) {
  if (sig == 0 || sig > 64) return;
  for (size_t i = 0; i < nchildren; i++)
    if (children[i] == (pid_t)pid) {
      kill((pid_t)pid, (int)sig);
      return;
    }
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (size_t i = 0; i < nchildren; i++)
      if (children[i] == pid) {
        children[i] = children[--nchildren];
        reply('X', (uint32_t)pid, status);
        break;
      }
  }
}

/* Reads one request record; returns 0 at EOF. */
static int serve_one(unsigned char *buf) {
  union {
    char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = { .iov_base = buf, .iov_len = MAX_REQUEST_BYTES };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
  ssize_t r = recvmsg(REQ_FD, &msg, MSG_CMSG_CLOEXEC);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN) return 1;
    die("recvmsg");
  }
  if (r == 0) return 0;
  int fds[MAX_FDS];
  int nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (nfds < MAX_FDS) fds[nfds++] = fd;
      else close(fd);
    }
  }
  if (r < 5) {
    close_all(fds, nfds);
    return 1;
  }
  uint32_t a = get32(buf + 1);
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    if (buf[0] == 'S') reply('P', a, -E2BIG);
  } else if (buf[0] == 'S') {
    spawn_request(a, (char *)buf + 5, (size_t)r - 5, fds, nfds);
  } else if (buf[0] == 'K' && r == 9) {
    kill_request(a, get32(buf + 5));
  }
  close_all(fds, nfds);
  return 1;
}

/* SCHED_BATCH: a request wakes us without preempting the network process's event loop that
 * sent it (CFS does not preempt on a batch task's wake-up); we run when it yields or on another
 * core. Programs are set back to SCHED_OTHER before exec. Best effort. */
static void run_as_batch(void) {
  struct sched_param batch = { .sched_priority = 0 };
  (void)sched_setscheduler(0, SCHED_BATCH, &batch);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: sslserver-spawner UID GID GROUPS FILE ARGV0 [ARG...]\n");
    return 100;
  }
  uid = (uid_t)parse_id(argv[1]);
  gid = (gid_t)parse_id(argv[2]);
  if (strcmp(argv[3], "-") != 0) {
    set_groups = 1;
    char *p = argv[3];
    while (*p != '\0') {
      char *comma = strchr(p, ',');
      if (comma != NULL) *comma = '\0';
      if (ngroups >= MAX_GROUPS) {
        fprintf(stderr, "sslserver-spawner: fatal: too many groups\n");
        return 100;
      }
      groups[ngroups++] = (gid_t)parse_id(p);
      if (comma == NULL) break;
      p = comma + 1;
    }
  }
  file = argv[4];
  prog_argv = argv + 5;
  keep_only_program_caps();
  run_as_batch();
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &blocked, NULL) != 0) die("sigprocmask");
  int sfd = signalfd(-1, &blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  unsigned char *buf = malloc(MAX_REQUEST_BYTES);
  if (buf == NULL) die("malloc");
  for (;;) {
    struct pollfd p[2] = { { .fd = REQ_FD, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (p[1].revents != 0) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {}
      reap();
    }
    if (p[0].revents != 0 && !serve_one(buf)) return 0;
  }
}
