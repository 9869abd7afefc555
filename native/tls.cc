/* TLS 1.3 ticket renewal on resumption, on the SSL_CTX of a Node SecureContext.
 *
 * OpenSSL has a TLS 1.3 server send a new ticket after a resumed handshake only when the
 * ticket's decryption asked for renewal; Node's ticket key callback never asks, so a Node server
 * resumes a client and sends it no new ticket. Clients use a TLS 1.3 ticket once (RFC 8446 C.4;
 * OpenSSL's client does not offer a resumed session again), so against plain Node every other
 * connection is a full handshake. This callback asks for a new ticket after every TLS 1.3
 * resumption and leaves TLS 1.2 and every failure as OpenSSL's default would.
 *
 * The SSL_CTX comes from SecureContext's `_external` (node's crypto_context.cc CtxGetter), a
 * plain v8::External: N-API's napi_get_value_external reads only its own wrapped externals, so
 * this one file is C++ and reads the External through V8. The OpenSSL symbols are the node
 * binary's own (it exports them for addons). */
extern "C" {
#include "sslserver.h"
}

#include <openssl/ssl.h>
#include <v8.h>

#include <cstring>

static SSL_TICKET_RETURN renew_on_resume(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
                                         size_t keyname_length, SSL_TICKET_STATUS status, void *arg) {
  switch (status) {
    case SSL_TICKET_SUCCESS:
      return SSL_version(s) >= TLS1_3_VERSION ? SSL_TICKET_RETURN_USE_RENEW : SSL_TICKET_RETURN_USE;
    case SSL_TICKET_SUCCESS_RENEW:
      return SSL_TICKET_RETURN_USE_RENEW;
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
      return SSL_TICKET_RETURN_IGNORE_RENEW;
    default:
      return SSL_TICKET_RETURN_ABORT;
  }
}

/* renewTicketsOnResume(context._external) -> true when the callback was set. */
static napi_value js_renew_tickets(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  // A napi_value is a v8::Local<v8::Value> (node's js_native_api_v8.h V8LocalValueFromJsValue).
  static_assert(sizeof(napi_value) == sizeof(v8::Local<v8::Value>), "napi_value is a v8::Local");
  v8::Local<v8::Value> value;
  if (argc >= 1) std::memcpy(static_cast<void *>(&value), &argv[0], sizeof value);
  if (argc < 1 || value.IsEmpty() || !value->IsExternal()) {
    throw_arg(env, "ERR_INVALID_ARG_TYPE", "context must be a SecureContext's _external");
    return NULL;
  }
  void *ctx = value.As<v8::External>()->Value();
  if (ctx == NULL) {
    throw_arg(env, "ERR_INVALID_ARG_VALUE", "context is empty");
    return NULL;
  }
  int ok = SSL_CTX_set_session_ticket_cb(static_cast<SSL_CTX *>(ctx), NULL, renew_on_resume, NULL);
  napi_value r;
  napi_get_boolean(env, ok == 1, &r);
  return r;
}

extern "C" napi_status tls_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "renewTicketsOnResume", NULL, js_renew_tickets, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
