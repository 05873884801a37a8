import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError, opt, parseOptions } from './options.ts';

const table = {
  port: { flag: 'port', env: 'T_PORT', description: 'port', schema: opt.port(), default: '8080' },
  range: { flag: 'range', env: 'T_RANGE', description: 'range', schema: opt.portRange(), default: '20000-20999' },
  url: {
    flag: 'url',
    env: 'T_URL',
    description: 'url',
    schema: opt.url(),
    default: (v: Record<string, unknown>) => `http://127.0.0.1:${v.port}`,
  },
};

test('flags beat env, env beats defaults, derived defaults see earlier values', () => {
  const v = parseOptions(table, ['--port', '9000'], { T_PORT: '7000', T_RANGE: '21000-21009' });
  assert.equal(v.port, 9000);
  assert.deepEqual(v.range, [21000, 21009]);
  assert.equal(v.url, 'http://127.0.0.1:9000');
});

test('every problem is reported at once', () => {
  assert.throws(
    () => parseOptions(table, ['--port=http', '--nope', 'x', '--range', '5-1'], { T_URL: 'not a url' }),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /--port \/ T_PORT/);
      assert.match(text, /unknown option --nope/);
      assert.match(text, /unexpected argument "x"/);
      assert.match(text, /--range \/ T_RANGE: must be a range/);
      assert.match(text, /--url \/ T_URL: must be a URL/);
      assert.equal(err.problems.length, 5);
      return true;
    },
  );
});

test('a flag without a value is a problem, not a crash', () => {
  assert.throws(() => parseOptions(table, ['--port'], {}), /--port needs a value/);
});

test('a check across options reports its problems with those of single options, seeing what did parse', () => {
  const check = (v: Partial<Record<string, unknown>>) => (v.port === 9000 && v.range === undefined ? ['port 9000 needs a range'] : []);
  assert.throws(
    () => parseOptions(table, ['--port', '9000', '--range', '5-1'], {}, check),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      assert.equal(err.problems.length, 2);
      assert.match(err.problems[0]!, /--range/);
      assert.equal(err.problems[1], 'port 9000 needs a range');
      return true;
    },
  );
  assert.equal(parseOptions(table, ['--port', '9000'], {}, check).port, 9000);
});
