import { describe, expect, it } from 'vitest';
import { ExactValueStager } from '../../src/core/batch/exact-value-stager.js';

const COLUMNS = [
  { name: 'id', staged: false },
  { name: 'amount', staged: true },
  { name: 'doc', staged: true },
  { name: 'note', staged: false },
];

const stage = (lines: string, columns = COLUMNS) => new ExactValueStager(columns).stage(Buffer.from(lines)).toString();

describe('ExactValueStager (Parquet: the values DuckDB would round are handed over as their text)', () => {
  it('turns the staged columns’ numbers and JSON into strings of their exact text, and leaves the rest byte for byte', () => {
    const records = [
      '{"id":1,"amount":12345678901234567890.123456789012345678,"doc":{"a":12345678901234567890.5,"s":"q\\"u}o,te\\\\"},"note":"x"}',
      '{"id":2,"amount":null,"doc":null,"note":"\\"amount\\":1"}',
      '{"id":3,"amount":-0.00000000000000000001,"doc":[1,"]",{"b":[]}],"note":null}',
      '{"id":4,"amount":1e-20,"doc":"just \\\\ a \\"string\\"","note":""}',
    ];
    const out = stage(records.map((r) => r + '\n').join('')).split('\n');
    expect(out.pop()).toBe('');
    expect(out).toHaveLength(4);
    const parsed = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed[0]).toEqual({
      id: 1,
      amount: '12345678901234567890.123456789012345678',
      doc: '{"a":12345678901234567890.5,"s":"q\\"u}o,te\\\\"}',
      note: 'x',
    });
    expect(parsed[1]).toEqual({ id: 2, amount: null, doc: null, note: '"amount":1' });
    expect(parsed[2]).toEqual({ id: 3, amount: '-0.00000000000000000001', doc: '[1,"]",{"b":[]}]', note: null });
    expect(parsed[3]).toEqual({ id: 4, amount: '1e-20', doc: '"just \\\\ a \\"string\\""', note: '' });
    // an unstaged column keeps its bytes: the line's id and note parts are the input's
    expect(out[1]).toBe('{"id":2,"amount":null,"doc":null,"note":"\\"amount\\":1"}');
  });

  it('finds a column by name when the records list the keys in another order, and escapes control bytes', () => {
    const out = stage('{"note":"n","doc":{"k":"\u00fc"},"amount":7}\n');
    expect(JSON.parse(out)).toEqual({ note: 'n', doc: '{"k":"ü"}', amount: '7' });
    const tab = new ExactValueStager([{ name: 'j', staged: true }]).stage(Buffer.from('{"j":{"a":\t1}}\n')).toString();
    expect(tab).toBe('{"j":"{\\"a\\":\\u00091}"}\n');
  });

  it('copies lines unchanged when no column is staged, and says so', () => {
    const plain = COLUMNS.map((c) => ({ ...c, staged: false }));
    expect(new ExactValueStager(plain).needed).toBe(false);
    const line = '{"id":1,"amount":0.1,"doc":{"a":1},"note":"x"}\n';
    expect(stage(line, plain)).toBe(line);
  });

  it('refuses what is not a record line of the stream', () => {
    expect(() => stage('{"id":1,"other":2}\n')).toThrow(/does not select: "other"/);
    expect(() => stage('{"id":1}')).toThrow(/not a record line/);
    expect(() => stage('{"doc":{"a":1\n')).toThrow(/ends inside a JSON value/);
  });

  it('grows its output for a batch of many staged values', () => {
    const line = '{"id":1,"amount":1,"doc":"\\"\\"\\"\\"","note":null}\n';
    const out = stage(line.repeat(1000)).split('\n');
    expect(out).toHaveLength(1001);
    expect(JSON.parse(out[999]!)).toEqual({ id: 1, amount: '1', doc: '"\\"\\"\\"\\""', note: null });
  });
});
