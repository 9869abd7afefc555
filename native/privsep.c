/* Privilege separation calls Node lacks: SCM_RIGHTS send, a SEQPACKET pair, bounding set, dumpable. */
#include "sslserver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

/* Most fds one request may carry (the program's fd map: 0, 1, 2 and the -n fds). */
#define MAX_SEND_FDS 16

/* seqpacketPair() -> [a, b]: AF_UNIX SOCK_SEQPACKET, close-on-exec; a is non-blocking (ours). */
static napi_value js_seqpacket_pair(napi_env env, napi_callback_info info) {
  return unix_pair(env, SOCK_SEQPACKET);
}

/* sendFds(fd, data, fds): one sendmsg with the fds as SCM_RIGHTS; never blocks (EAGAIN). */
static napi_value js_send_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, NULL, "fd, data and fds are required")) return NULL;
  int32_t sock;
  if (!get_int32(env, argv[0], "fd", &sock)) return NULL;
  void *data;
  size_t len;
  bool isbuf = false;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf) {
    throw_arg(env, "ERR_INVALID_ARG_TYPE", "data must be a Buffer");
    return NULL;
  }
  napi_get_buffer_info(env, argv[1], &data, &len);
  bool isarr = false;
  napi_is_array(env, argv[2], &isarr);
  uint32_t n = 0;
  if (isarr) napi_get_array_length(env, argv[2], &n);
  if (!isarr || n > MAX_SEND_FDS) {
    throw_arg(env, "ERR_INVALID_ARG_VALUE", "fds must be an array of at most 16 fds");
    return NULL;
  }
  int fds[MAX_SEND_FDS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int32_t fd;
    napi_get_element(env, argv[2], i, &v);
    if (!get_int32(env, v, "fds[i]", &fd)) return NULL;
    fds[i] = fd;
  }
  struct iovec iov = { .iov_base = data, .iov_len = len };
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_SEND_FDS)];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (n > 0) {
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
  }
  ssize_t r;
  do r = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    throw_errno(env, errno, "sendmsg", NULL);
    return NULL;
  }
  return NULL;
}

/* dropPrivilegeLimits(): empties the capability bounding set (needs CAP_SETPCAP, so before
 * setuid) and makes the process non-dumpable, so that no process of the same uid can ptrace it
 * or read /proc/PID/mem. */
static napi_value js_drop_privilege_limits(napi_env env, napi_callback_info info) {
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break; /* past CAP_LAST_CAP */
      throw_errno(env, errno, "prctl", NULL);
      return NULL;
    }
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    throw_errno(env, errno, "prctl", NULL);
    return NULL;
  }
  return NULL;
}

/* setNonDumpable(): prctl(PR_SET_DUMPABLE, 0) alone (no privilege needed). */
static napi_value js_set_non_dumpable(napi_env env, napi_callback_info info) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    throw_errno(env, errno, "prctl", NULL);
    return NULL;
  }
  return NULL;
}

napi_status privsep_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "seqpacketPair", NULL, js_seqpacket_pair, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sendFds", NULL, js_send_fds, NULL, NULL, NULL, napi_enumerable, NULL },
    { "dropPrivilegeLimits", NULL, js_drop_privilege_limits, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setNonDumpable", NULL, js_set_non_dumpable, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, 4, props);
}
