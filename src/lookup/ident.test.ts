// IDENT client: reply parsing table, and queryIdent against a real server on 127.0.6.3:113.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_IDENT_USERID_BYTES, parseIdentReply, queryIdent } from './ident';
import { startIdentServer, type IdentBehaviour, type TestIdentServer } from '../../test/fixtures/ident-server';

describe('parseIdentReply()', () => {
  const ok: Array<[string, string]> = [
    ['6193, 23 : USERID : UNIX : stjohns\r', 'stjohns'],
    ['6193,23:USERID:UNIX:stjohns', 'stjohns'],
    ['  6193 ,  23 : userid : OTHER , UTF-8 :   spaced name  \r', 'spacedname'],
    ['6193, 23 : USERID : UNIX : j o\te\rx', 'joex'],
    ['6193, 23 : USERID : UNIX : a:b%c\x01\xe9', 'a?b?c??'],
  ];
  for (const [line, want] of ok) it(`${JSON.stringify(line)} -> ${want}`, () => assert.equal(parseIdentReply(Buffer.from(line, 'latin1'), 6193, 23), want));

  const bad: Array<[string, string]> = [
    ['an ERROR reply', '6193, 23 : ERROR : NO-USER\r'],
    ['other ports', '6194, 23 : USERID : UNIX : joe'],
    ['ports swapped', '23, 6193 : USERID : UNIX : joe'],
    ['an empty user-id', '6193, 23 : USERID : UNIX :   '],
    ['no fields', 'hello'],
    ['an unknown reply type', '6193, 23 : WHO : UNIX : joe'],
    ['a user-id over budget', `6193, 23 : USERID : UNIX : ${'j'.repeat(MAX_IDENT_USERID_BYTES + 1)}`],
    ['a huge port', '99999999999999999999, 23 : USERID : UNIX : joe'],
  ];
  for (const [what, line] of bad) it(`throws ProtocolError on ${what}`, () => assert.throws(() => parseIdentReply(Buffer.from(line, 'latin1'), 6193, 23), { name: 'ProtocolError' }));
});

describe('queryIdent()', () => {
  const PEER = '127.0.6.3';
  let server: TestIdentServer;
  let behaviour: IdentBehaviour = '';
  before(async () => {
    server = await startIdentServer(PEER, ([r, l]) => (behaviour === '' ? `${r} , ${l} : USERID : UNIX : joe\r\n` : behaviour));
  });
  after(() => server.close());
  const ask = (timeoutMs = 5000, signal?: AbortSignal): Promise<string | undefined> =>
    queryIdent({ remoteIp: PEER, remotePort: 40001, localIp: '127.0.0.1', localPort: 443, timeoutMs, ...(signal === undefined ? {} : { signal }) });

  it('sends "peerport , ourport" from our local address and returns the user', async () => {
    behaviour = '';
    assert.equal(await ask(), 'joe');
    assert.deepEqual(server.queries.at(-1), { line: '40001 , 443', from: '127.0.0.1' });
  });

  const hostile: Array<[string, IdentBehaviour]> = [
    ['10 MB without a newline', 'flood'],
    ['a reply without a newline before EOF', { noNewline: '40001 , 443 : USERID : UNIX : joe' }],
    ['an ERROR reply', '40001 , 443 : ERROR : HIDDEN-USER\r\n'],
  ];
  for (const [what, b] of hostile) {
    it(`gives undefined for ${what}`, async () => {
      behaviour = b;
      assert.equal(await ask(), undefined);
    });
  }

  it('gives undefined when the server never answers, at the deadline', async () => {
    behaviour = 'silent';
    assert.equal(await ask(200), undefined);
  });

  it('stops waiting when the connection is gone (abort)', async () => {
    behaviour = 'silent';
    const gone = new AbortController();
    const p = ask(60_000, gone.signal);
    setTimeout(() => gone.abort(), 50);
    assert.equal(await p, undefined);
  });

  it('gives undefined when nothing listens on port 113', async () => {
    assert.equal(await queryIdent({ remoteIp: '127.0.6.4', remotePort: 1, localIp: '127.0.0.1', localPort: 2, timeoutMs: 5000 }), undefined);
  });
});
