// The key helper process: enters SSL_CHROOT, becomes the SSL identity, and loads TLS material on request over fd 3.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { exactArg } from '../env/env-bytes';
import * as native from '../sys/native';
import { loadTlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import { encodeFrame, FrameReader } from './frame';
import { posixIdCalls } from './privileges';
import { KEY_REQUEST_MAX_BYTES, type KeyReply, type KeyRequest, materialToWire } from './key-wire';

// Started by KeyHelper.start (src/priv/key-client.ts) as root with the channel as fd 3 and
// its orders in the environment; no argument or request can change the root or identity.
const CHANNEL_FD = 3;

function main(): void {
  const chroot = process.env.SSLSERVER_KEY_CHROOT;
  const uid = Number(process.env.SSLSERVER_KEY_UID);
  const gid = Number(process.env.SSLSERVER_KEY_GID);
  const channel = new net.Socket({ fd: CHANNEL_FD, readable: true, writable: true });
  const send = (reply: KeyReply): void => {
    channel.write(encodeFrame(reply));
  };
  try {
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) throw new Error('no identity given');
    // every module is loaded above: nothing is read from the disk after the chroot but key files
    native.dropPrivilegeLimits();
    if (chroot !== undefined && chroot !== '') {
      try {
        native.chroot(chroot);
      } catch (err) {
        throw new Error(`unable to chroot to: ${chroot}`, { cause: err });
      }
    }
    // only its own group: the admin grants key access through SSL_GROUP or file ownership
    const { setgroups, setgid, setuid } = posixIdCalls();
    setgroups([gid]);
    setgid(gid);
    setuid(uid);
    // setuid reset it from /proc/sys/fs/suid_dumpable; keep it off whatever that says
    native.setNonDumpable();
  } catch (err) {
    send({ kind: 'ready', ok: false, message: (err as Error).message });
    channel.end(() => process.exit(111));
    return;
  }
  send({ kind: 'ready', ok: true });

  let password: Buffer | undefined;
  const reader = new FrameReader(KEY_REQUEST_MAX_BYTES);
  channel.on('data', (chunk: Buffer) => {
    let requests: unknown[];
    try {
      requests = reader.push(chunk);
    } catch {
      // a peer that breaks the protocol gets nothing more
      channel.destroy();
      process.exit(0);
    }
    for (const req of requests as KeyRequest[]) {
      if (req.kind === 'password') {
        password = Buffer.from(req.password, 'base64');
        continue;
      }
      try {
        const material = loadTlsMaterial(req.settings as TlsSettings, (p) => readFileSync(exactArg(p)), password);
        send({ kind: 'material', ok: true, material: materialToWire(material) });
      } catch (err) {
        send({ kind: 'material', ok: false, message: (err as Error).message });
      }
    }
  });
  // the server is gone: nothing left to serve
  channel.on('end', () => process.exit(0));
  channel.on('error', () => process.exit(0));
}

main();
