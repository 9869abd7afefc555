# node-gyp build of the one native addon (see native/ and src/sys/native.ts, its only loader).
{
  "targets": [
    {
      "target_name": "sslserver_native",
      "sources": [
        "native/addon.c",
        "native/spawn.c",
        "native/reap.c",
        "native/socket.c",
        "native/privsep.c",
        "native/pipeio.c",
        "native/accept.c",
        "native/tls.cc"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "cflags_c": ["-std=gnu11"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "sslserver-spawner",
      "type": "executable",
      "sources": ["native/spawner.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
