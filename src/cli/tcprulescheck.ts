#!/usr/bin/env node
// tcprulescheck: shows which rule of a cdb applies to the connection described by TCPREMOTE* variables.
import { writeSync } from 'node:fs';
import { inheritedArgs, inheritedEnv } from '../env/env-bytes';
import { CdbFormatError, EXIT_PERMANENT, EXIT_TEMPORARY, errnoText } from '../errors';
import { DENY, SET_VARIABLE } from '../rules/rule-data';
import { describeRuleKey, encodeRuleKey } from '../rules/rule-keys';
import { findRuleRecord, type RuleRecord } from '../rules/rules-lookup';
import { die, writeErr } from './die';

const PROG = 'tcprulescheck';
/** Debian's tcprulescheck (djb 0.88 + IPv6 patch) uses this when TCPREMOTEIP is unset. */
const DEFAULT_REMOTE_IP = '0.0.0.0';

/**
 * The report, worded exactly as djb's tcprulescheck prints it: each NUL-terminated instruction
 * in order, `+` ones as their bytes (with or without `=`, which the server would ignore), up to
 * a `D`; bytes after the last NUL and unknown instructions are passed over, as there.
 */
function formatReport(match: RuleRecord | undefined): Buffer {
  if (match === undefined) return Buffer.from('default:\nallow connection\n');
  const parts: Buffer[] = [Buffer.from('rule '), encodeRuleKey(describeRuleKey(match.key)), Buffer.from(':\n')];
  const data = Buffer.from(match.data.buffer, match.data.byteOffset, match.data.byteLength);
  let pos = 0;
  let nul: number;
  while ((nul = data.indexOf(0, pos)) >= 0) {
    if (data[pos] === DENY) {
      parts.push(Buffer.from('deny connection\n'));
      return Buffer.concat(parts);
    }
    if (data[pos] === SET_VARIABLE) parts.push(Buffer.from('set environment variable '), data.subarray(pos + 1, nul), Buffer.from('\n'));
    pos = nul + 1;
  }
  parts.push(Buffer.from('allow connection\n'));
  return Buffer.concat(parts);
}

function main(argv: readonly string[]): void {
  const path = argv[0];
  if (path === undefined) {
    writeErr(`${PROG}: usage: tcprulescheck rules.cdb\n`);
    process.exit(EXIT_PERMANENT);
  }
  // the variables' bytes, as the C tcprulescheck compares them (Node's process.env mends non-UTF-8)
  const env: Partial<Record<string, string>> = Object.fromEntries(inheritedEnv());
  // TCP6REMOTEIP: what fehcom's servers set for IPv6 peers; an extension, Debian's reads only TCPREMOTEIP
  const ip = env.TCPREMOTEIP ?? env.TCP6REMOTEIP ?? DEFAULT_REMOTE_IP;
  let match: RuleRecord | undefined;
  try {
    match = findRuleRecord(path, ip, env.TCPREMOTEHOST, env.TCPREMOTEINFO);
  } catch (err) {
    // as Debian's: a file that is not a cdb reads as EPROTO, "protocol error"
    const reason = err instanceof CdbFormatError ? 'protocol error' : errnoText(err);
    die(PROG, EXIT_TEMPORARY, 'unable to read ', path, ': ', reason);
  }
  const report = formatReport(match);
  let done = 0;
  try {
    while (done < report.length) done += writeSync(1, report, done);
  } catch (err) {
    die(PROG, EXIT_TEMPORARY, 'unable to write output: ', errnoText(err));
  }
  process.exit(0);
}

main(inheritedArgs());
