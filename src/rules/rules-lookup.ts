// Finds the rule that applies to one peer: the first key of the lookup order present in the cdb.
import { cdbReaderFor } from './cdb-read';
import { parseRuleData } from './rule-data';
import type { RuleData } from './rule-data';
import { encodeRuleKey, ruleKeys } from './rule-keys';

/** The matching rule and the key it was found under. */
export interface RuleMatch extends RuleData {
  /** The cdb key that matched (`''` for the default rule), as from {@link ruleKeys}. */
  key: string;
}

/** A matching record as the cdb holds it, and the key it was found under. */
export interface RuleRecord {
  key: string;
  data: Uint8Array;
}

/**
 * First matching record of the cdb at `path` for this peer. The file is reopened when it was
 * replaced (cdbReaderFor checks it by stat on every call), so tcprules can swap it live.
 * @param path the rules cdb
 * @param ip the peer address as text (IPv4 dotted, IPv6 any form)
 * @param host the peer's name, if known
 * @param info the IDENT answer, if known
 * @returns the rule, or undefined when no key matches (not even the default `""`)
 * @throws {SysError} when the file is missing or unreadable
 * @throws {CdbFormatError} when the file is not a cdb
 * @example lookupRules('/etc/tcp.smtp.cdb', '127.0.0.1')?.deny
 */
export function lookupRules(path: string, ip: string, host?: string, info?: string): RuleMatch | undefined {
  const found = findRuleRecord(path, ip, host, info);
  return found === undefined ? undefined : { key: found.key, ...parseRuleData(found.data) };
}

/**
 * The record {@link lookupRules} parses, as the cdb holds it: for tcprulescheck, which shows
 * the instructions byte for byte as the C one does.
 * @returns the key and the record's data, or undefined when no key matches
 * @throws as lookupRules
 */
export function findRuleRecord(path: string, ip: string, host?: string, info?: string): RuleRecord | undefined {
  const reader = cdbReaderFor(path);
  for (const key of ruleKeys(ip, host, info)) {
    const data = reader.find(encodeRuleKey(key));
    if (data !== undefined) return { key, data };
  }
  return undefined;
}
