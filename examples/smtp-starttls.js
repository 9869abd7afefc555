#!/usr/bin/env node
// A small SMTP receiver offering STARTTLS through UCSPI-TLS: run it under `sslserver -n`.
//
//   SMTP_SPOOL=/tmp/mail.mbox sslserver -n -v 127.0.0.1 2525 examples/smtp-starttls.js
//   swaks --server 127.0.0.1:2525 --tls --to you@example.test
//
// It speaks plaintext on fd 0/1 (the client socket) until STARTTLS; then it writes `Y` on
// $SSLCTLFD, reads the TLS variables sslserver sends back (NAME=value\0...\0\0), and talks
// through $SSLREADFD / $SSLWRITEFD. Anything the client sent after STARTTLS in plaintext is
// thrown away (RFC 3207 §4.2; the CVE-2011-0411 class of bugs is keeping it).
//
// Environment: SMTP_SPOOL  file the accepted messages are appended to (mbox; default: discard)
//              SMTP_LOG    file every command is logged to as `plain CMD` / `tls CMD` (default: stderr)
//              SMTP_NAME   the name in the greeting (default: $SSLLOCALHOST or localhost)
// Without $SSLCTLFD (not under sslserver -n) STARTTLS is not offered.
'use strict';
const fs = require('node:fs');

const MAX_LINE_BYTES = 1000; // RFC 5321 §4.5.3.1.6, CRLF included
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
const MAX_TLS_ENV_BYTES = 256 * 1024;
const NAME = process.env.SMTP_NAME || process.env.SSLLOCALHOST || 'localhost';
const ctlFd = fdFromEnv('SSLCTLFD');
const tlsReadFd = fdFromEnv('SSLREADFD');
const tlsWriteFd = fdFromEnv('SSLWRITEFD');

let inFd = 0;
let outFd = 1;
let side = 'plain';
let buffered = Buffer.alloc(0);
let tlsEnv = null;
let helo = null;
let from = null;
let rcpts = [];

function fdFromEnv(name) {
  const v = process.env[name];
  return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

function log(text) {
  const line = `${side} ${text}\n`;
  if (process.env.SMTP_LOG) fs.appendFileSync(process.env.SMTP_LOG, line);
  else process.stderr.write(`smtp-starttls[${process.pid}]: ${line}`);
}

function reply(text) {
  const b = Buffer.from(`${text}\r\n`);
  for (let off = 0; off < b.length; ) off += fs.writeSync(outFd, b, off);
}

// One line (without CRLF) from the current side; null at EOF. Blocking reads: this is one
// process per connection.
function readLine() {
  for (;;) {
    const nl = buffered.indexOf(0x0a);
    if (nl >= 0) {
      const line = buffered.subarray(0, nl).toString('latin1').replace(/\r$/, '');
      buffered = buffered.subarray(nl + 1);
      if (nl + 1 > MAX_LINE_BYTES) return { tooLong: true };
      return { line };
    }
    if (buffered.length > MAX_LINE_BYTES) {
      buffered = Buffer.alloc(0);
      return { tooLong: true };
    }
    const chunk = Buffer.alloc(4096);
    let n;
    try {
      n = fs.readSync(inFd, chunk, 0, chunk.length, null);
    } catch (err) {
      if (err.code === 'EAGAIN') continue; // not expected: sslserver hands over blocking fds
      return null;
    }
    if (n === 0) return null;
    buffered = Buffer.concat([buffered, chunk.subarray(0, n)]);
  }
}

function startTls() {
  // RFC 3207 §4.2: forget whatever the client pipelined in plaintext after STARTTLS
  if (buffered.length > 0) log(`discarded ${buffered.length} plaintext byte(s) after STARTTLS`);
  buffered = Buffer.alloc(0);
  fs.writeSync(ctlFd, 'Y');
  // the answer: NAME=value\0 ... \0 and one more \0, sent after the handshake
  let block = Buffer.alloc(0);
  const chunk = Buffer.alloc(8192);
  while (!(block.length >= 2 && block[block.length - 1] === 0 && block[block.length - 2] === 0) && !(block.length === 1 && block[0] === 0)) {
    const n = fs.readSync(ctlFd, chunk, 0, chunk.length, null);
    if (n === 0) process.exit(111); // handshake failed: sslserver dropped the session
    block = Buffer.concat([block, chunk.subarray(0, n)]);
    if (block.length > MAX_TLS_ENV_BYTES) process.exit(111);
  }
  tlsEnv = {};
  for (const entry of block.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) tlsEnv[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  inFd = tlsReadFd;
  outFd = tlsWriteFd;
  side = 'tls';
  log(`env ${tlsEnv.SSL_PROTOCOL}:${tlsEnv.SSL_CIPHER} client=${tlsEnv.SSL_CLIENT_S_DN || '-'} verify=${tlsEnv.SSL_CLIENT_VERIFY || '-'}`);
  // RFC 3207 §4.2: the session starts over
  helo = null;
  from = null;
  rcpts = [];
}

function receiveData() {
  reply('354 3.0.0 End data with <CR><LF>.<CR><LF>');
  const lines = [];
  let size = 0;
  for (;;) {
    const r = readLine();
    if (r === null) process.exit(0);
    let line = r.tooLong ? '' : r.line;
    if (line === '.') break;
    if (line.startsWith('.')) line = line.slice(1); // RFC 5321 §4.5.2
    size += line.length + 1;
    if (size <= MAX_MESSAGE_BYTES) lines.push(line);
  }
  if (size > MAX_MESSAGE_BYTES) return reply('552 5.3.4 Message too big');
  const via = tlsEnv === null ? 'ESMTP' : `ESMTPS (${tlsEnv.SSL_PROTOCOL}:${tlsEnv.SSL_CIPHER})`;
  const received = `Received: from ${helo} ([${process.env.SSLREMOTEIP || 'unknown'}]) by ${NAME} with ${via}; ${new Date().toUTCString()}`;
  const mbox = lines.map((l) => (/^>*From /.test(l) ? `>${l}` : l));
  const text = `From ${from || 'MAILER-DAEMON'} ${new Date().toUTCString()}\nReturn-Path: <${from}>\nDelivered-To: ${rcpts.join(', ')}\n${received}\n${mbox.join('\n')}\n\n`;
  if (process.env.SMTP_SPOOL) fs.appendFileSync(process.env.SMTP_SPOOL, text);
  log(`queued ${lines.length} line(s) from <${from}>`);
  from = null;
  rcpts = [];
  reply('250 2.0.0 Ok: queued');
}

reply(`220 ${NAME} ESMTP smtp-starttls`);
for (;;) {
  const r = readLine();
  if (r === null) break;
  if (r.tooLong) {
    reply('500 5.5.2 Line too long');
    continue;
  }
  const line = r.line;
  const verb = line.split(' ', 1)[0].toUpperCase();
  const arg = line.slice(verb.length).trim();
  log(line);
  if (verb === 'EHLO' || verb === 'HELO') {
    if (arg === '') {
      reply('501 5.5.4 Syntax: EHLO hostname');
      continue;
    }
    helo = arg;
    from = null;
    rcpts = [];
    if (verb === 'HELO') reply(`250 ${NAME}`);
    else if (side === 'plain' && ctlFd !== undefined) reply(`250-${NAME}\r\n250-8BITMIME\r\n250 STARTTLS`);
    else reply(`250-${NAME}\r\n250 8BITMIME`);
  } else if (verb === 'STARTTLS') {
    if (side === 'tls' || ctlFd === undefined) reply('503 5.5.1 TLS not available');
    else if (arg !== '') reply('501 5.5.4 Syntax: STARTTLS');
    else {
      reply('220 2.0.0 Ready to start TLS');
      startTls();
    }
  } else if (verb === 'MAIL') {
    const m = /^FROM:\s*<([^<>]*)>/i.exec(arg);
    if (helo === null) reply('503 5.5.1 Send EHLO first');
    else if (from !== null) reply('503 5.5.1 Nested MAIL command');
    else if (m === null) reply('501 5.5.4 Syntax: MAIL FROM:<address>');
    else {
      from = m[1];
      reply('250 2.1.0 Ok');
    }
  } else if (verb === 'RCPT') {
    const m = /^TO:\s*<([^<>]+)>/i.exec(arg);
    if (from === null) reply('503 5.5.1 Need MAIL command');
    else if (m === null) reply('501 5.5.4 Syntax: RCPT TO:<address>');
    else {
      rcpts.push(m[1]);
      reply('250 2.1.5 Ok');
    }
  } else if (verb === 'DATA') {
    if (rcpts.length === 0) reply('503 5.5.1 Need RCPT command');
    else receiveData();
  } else if (verb === 'RSET') {
    from = null;
    rcpts = [];
    reply('250 2.0.0 Ok');
  } else if (verb === 'NOOP') {
    reply('250 2.0.0 Ok');
  } else if (verb === 'QUIT') {
    reply(`221 2.0.0 ${NAME} closing connection`);
    break;
  } else {
    reply('500 5.5.2 Command not recognized');
  }
}
process.exit(0);
