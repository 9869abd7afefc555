// Tests for IPv4/IPv6 parsing and the expanded uppercase IPv6 form of rule keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandIPv6, formatIPv6, parseIPv4, parseIPv6 } from './ip-address';

test('parseIPv4() reads dotted quads and rejects everything else', () => {
  const cases: Array<[string, number[] | undefined]> = [
    ['127.0.0.1', [127, 0, 0, 1]],
    ['0.0.0.0', [0, 0, 0, 0]],
    ['255.255.255.255', [255, 255, 255, 255]],
    ['010.001.000.009', [10, 1, 0, 9]],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['1.2.3.', undefined],
    ['1..3.4', undefined],
    ['1.2.3.4 ', undefined],
    ['0x1.2.3.4', undefined],
    ['1111.2.3.4', undefined],
    ['', undefined],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseIPv4(text), expected, text);
});

test('expandIPv6() expands every valid form to 8 uppercase groups', () => {
  const cases: Array<[string, string | undefined]> = [
    ['::1', '0000:0000:0000:0000:0000:0000:0000:0001'],
    ['::', '0000:0000:0000:0000:0000:0000:0000:0000'],
    ['fe80::1', 'FE80:0000:0000:0000:0000:0000:0000:0001'],
    ['2001:DB8::a:b', '2001:0DB8:0000:0000:0000:0000:000A:000B'],
    ['1:2:3:4:5:6:7:8', '0001:0002:0003:0004:0005:0006:0007:0008'],
    ['1:2:3:4:5:6:7::', '0001:0002:0003:0004:0005:0006:0007:0000'],
    ['::2:3:4:5:6:7:8', '0000:0002:0003:0004:0005:0006:0007:0008'],
    ['::ffff:1.2.3.4', '0000:0000:0000:0000:0000:FFFF:0102:0304'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '0000:0000:0000:0000:0000:0000:0000:0001'],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7', undefined],
    ['1::2::3', undefined],
    [':::', undefined],
    [':1::', undefined],
    ['12345::', undefined],
    ['g::1', undefined],
    ['fe80::1%eth0', undefined],
    ['1.2.3.4::', undefined],
    ['::1.2.3', undefined],
    ['1.2.3.4', undefined],
    ['', undefined],
  ];
  for (const [text, expected] of cases) assert.equal(expandIPv6(text), expected, text);
});

test('formatIPv6() compresses the longest zero run, lowercase', () => {
  const cases: Array<[string, string]> = [
    ['::1', '::1'],
    ['::', '::'],
    ['fe80::', 'fe80::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ];
  for (const [text, expected] of cases) {
    const bytes = parseIPv6(text);
    assert.ok(bytes, text);
    assert.equal(formatIPv6(bytes), expected, text);
  }
});
