// A rule record's data: NUL-terminated instructions, `D` (deny) and `+NAME=VALUE` (set a variable).
import { textFromBytes } from '../env/env-bytes';

/** What one rule says: deny the connection, or allow it with these variables. */
export interface RuleData {
  deny: boolean;
  env: Array<[name: string, value: string]>;
}

const NUL = 0x00;
/** The instruction bytes of a record: `D` denies, `+` sets a variable (tcprulescheck reads them too). */
export const DENY = 0x44; // 'D'
export const SET_VARIABLE = 0x2b; // '+'

/**
 * Reads a record's instructions. Tolerant like djb's tcpserver: unknown instructions, `+`
 * entries without `=`, and trailing bytes without a NUL are ignored (tcprulescheck shows a `+`
 * entry without `=` as it is, and reads the record itself).
 * Reading stops at `D`, as tcprulescheck does (tcpserver reads on, but a denied connection
 * never gets the variables). Every read stays inside `data`.
 * @param data the record data from the cdb
 * @returns deny flag and variables in record order; names and values are UTF-8 with every
 *   other byte kept ({@link textFromBytes}), so the program gets the bytes of the rules file
 * @example parseRuleData(Buffer.from('+A=x\0')) // { deny: false, env: [['A', 'x']] }
 */
export function parseRuleData(data: Uint8Array): RuleData {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const result: RuleData = { deny: false, env: [] };
  let pos = 0;
  while (pos < bytes.length) {
    const end = bytes.indexOf(NUL, pos);
    if (end < 0) break; // as djb: an instruction counts only once its NUL is there
    const op = bytes[pos];
    if (op === DENY) {
      result.deny = true;
      break;
    }
    if (op === SET_VARIABLE) {
      const text = textFromBytes(bytes, pos + 1, end);
      const eq = text.indexOf('=');
      // as tcpserver's found(): an entry without '=' sets nothing
      if (eq >= 0) result.env.push([text.slice(0, eq), text.slice(eq + 1)]);
    }
    pos = end + 1;
  }
  return result;
}

/**
 * Encodes a rule's instructions as tcprules writes them: `D\0` first for deny, then
 * `+NAME=VALUE\0` per variable.
 * @param rule deny flag and variables; strings are taken as bytes (latin1), as the compiler
 *   reads rules files byte for byte
 * @returns the record data
 */
export function formatRuleData(rule: RuleData): Buffer {
  let text = rule.deny ? 'D\0' : '';
  for (const [name, value] of rule.env) text += `+${name}=${value}\0`;
  return Buffer.from(text, 'latin1');
}
