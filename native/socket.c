/* listenTcp(), setIpOptionsNone() and setNoDelay(): socket options Node's net module cannot set
 * (or sets only through a net.Socket). */
#include "sslserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads opts[key]; returns 0 (absent) when undefined or null. */
static int opt(napi_env env, napi_value obj, const char *key, napi_value *out) {
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, out) != napi_ok) return 0;
  return !is_nullish(env, *out);
}

static int opt_bool(napi_env env, napi_value obj, const char *key, int dflt, int *out) {
  napi_value v;
  *out = dflt;
  return opt(env, obj, key, &v) ? get_bool(env, v, key, out) : 1;
}

static int opt_int(napi_env env, napi_value obj, const char *key, int dflt, int lo, int hi, int *out) {
  napi_value v;
  int32_t x;
  *out = dflt;
  if (!opt(env, obj, key, &v)) return 1;
  if (!get_int32(env, v, key, &x)) return 0;
  if (x < lo || x > hi) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s is out of range: %d", key, x);
    throw_arg(env, "ERR_INVALID_ARG_VALUE", msg);
    return 0;
  }
  *out = x;
  return 1;
}

static int set_int_opt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

/* listenTcp({ address, port, family, v6only, backlog, reuseAddr, reusePort, device, scopeId })
 * -> { fd, address, port }. The fd is non-blocking and close-on-exec, for net.Server.listen({ fd }). */
static napi_value js_listen_tcp(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value o, v;
  napi_valuetype t;
  char *address = NULL, *device = NULL;
  int port, family, v6only, backlog, reuse_addr, reuse_port, scope_id, fd = -1;
  napi_value result = NULL;
  if (napi_get_cb_info(env, info, &argc, &o, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_typeof(env, o, &t) != napi_ok || t != napi_object) {
    throw_arg(env, "ERR_INVALID_ARG_TYPE", "options must be an object");
    return NULL;
  }
  if (!opt(env, o, "address", &v)) {
    throw_arg(env, "ERR_INVALID_ARG_TYPE", "address must be a string");
    return NULL;
  }
  if ((address = get_string(env, v, "address")) == NULL) return NULL;
  if (!opt_int(env, o, "port", 0, 0, 65535, &port)
      || !opt_int(env, o, "family", strchr(address, ':') != NULL ? 6 : 4, 4, 6, &family)
      || !opt_bool(env, o, "v6only", 0, &v6only)
      || !opt_int(env, o, "backlog", 511, 0, 65535, &backlog)
      || !opt_bool(env, o, "reuseAddr", 1, &reuse_addr)
      || !opt_bool(env, o, "reusePort", 0, &reuse_port)
      || !opt_int(env, o, "scopeId", 0, 0, 0x7fffffff, &scope_id))
    goto out;
  if (family != 4 && family != 6) {
    throw_arg(env, "ERR_INVALID_ARG_VALUE", "family must be 4 or 6");
    goto out;
  }
  if (opt(env, o, "device", &v) && (device = get_string(env, v, "device")) == NULL) goto out;

  struct sockaddr_storage ss;
  socklen_t sslen;
  memset(&ss, 0, sizeof ss);
  if (family == 4) {
    struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &sa->sin_addr) != 1) {
      throw_arg(env, "ERR_INVALID_ARG_VALUE", "address is not an IPv4 address");
      goto out;
    }
    sslen = sizeof *sa;
  } else {
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons((uint16_t)port);
    sa->sin6_scope_id = (uint32_t)scope_id;
    if (inet_pton(AF_INET6, address, &sa->sin6_addr) != 1) {
      throw_arg(env, "ERR_INVALID_ARG_VALUE", "address is not an IPv6 address");
      goto out;
    }
    /* A link-local address needs a scope; the bound device gives it (ucspi-tcp6's -I). */
    if (scope_id == 0 && device != NULL && IN6_IS_ADDR_LINKLOCAL(&sa->sin6_addr))
      sa->sin6_scope_id = if_nametoindex(device);
    sslen = sizeof *sa;
  }

  fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { throw_errno(env, errno, "socket", NULL); goto out; }
  if (reuse_addr && set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) {
    throw_errno(env, errno, "setsockopt", NULL);
    goto fail;
  }
  if (reuse_port && set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) {
    throw_errno(env, errno, "setsockopt", NULL);
    goto fail;
  }
  if (device != NULL && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) != 0) {
    throw_errno(env, errno, "setsockopt", device);
    goto fail;
  }
  if (family == 6 && set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only) != 0) {
    throw_errno(env, errno, "setsockopt", NULL);
    goto fail;
  }
  if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) { throw_errno(env, errno, "bind", NULL); goto fail; }
  if (listen(fd, backlog) != 0) { throw_errno(env, errno, "listen", NULL); goto fail; }
  sslen = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
    throw_errno(env, errno, "getsockname", NULL);
    goto fail;
  }
  char text[INET6_ADDRSTRLEN];
  int bound_port;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text);
    bound_port = ntohs(sa->sin_port);
  } else {
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
    bound_port = ntohs(sa->sin6_port);
  }
  napi_value jfd, jaddr, jport;
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &jfd);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &jaddr);
  napi_create_int32(env, bound_port, &jport);
  napi_set_named_property(env, result, "fd", jfd);
  napi_set_named_property(env, result, "address", jaddr);
  napi_set_named_property(env, result, "port", jport);
  goto out;
fail:
  close(fd);
out:
  free(address);
  free(device);
  return result;
}

/* setIpOptionsNone(fd): drop IP options (source routes) a client sent, as tcpserver -O; IPv6
 * sockets have no IP_OPTIONS and are left alone. */
static napi_value js_set_ip_options_none(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (!get_args(env, info, 1, argv, NULL, "fd is required")) return NULL;
  if (!get_int32(env, argv[0], "fd", &fd)) return NULL;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    throw_errno(env, errno, "getsockname", NULL);
    return NULL;
  }
  if (ss.ss_family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_OPTIONS, NULL, 0) != 0)
    throw_errno(env, errno, "setsockopt", NULL);
  return NULL;
}

/* setNoDelay(fd, on): TCP_NODELAY on a connection we hold by fd (an accepted one before its TLS
 * socket opens it). */
static napi_value js_set_no_delay(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  int on;
  if (!get_args(env, info, 2, argv, NULL, "setNoDelay needs fd and on")) return NULL;
  if (!get_fd(env, argv[0], &fd) || !get_bool(env, argv[1], "on", &on)) return NULL;
  if (set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, on) != 0) throw_errno(env, errno, "setsockopt", NULL);
  return NULL;
}

napi_status socket_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "listenTcp", NULL, js_listen_tcp, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setIpOptionsNone", NULL, js_set_ip_options_none, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setNoDelay", NULL, js_set_no_delay, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
