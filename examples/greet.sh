#!/bin/sh
# Demo program for sslserver: greets the client with what the environment says about it,
# then echoes each line back in upper case until the client closes.
echo "Hello ${SSLREMOTEIP}:${SSLREMOTEPORT}, this is ${SSLLOCALHOST:-sslserver} on ${SSLLOCALIP}:${SSLLOCALPORT}."
[ -n "$SSL_PROTOCOL" ] && echo "Your connection: ${SSL_PROTOCOL} ${SSL_CIPHER}; rule says: ${GREETING:-nothing}."
echo "Type lines; they come back in upper case. Close with Ctrl-D."
exec sed -u 's/.*/\U&/'
