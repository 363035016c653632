import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../routing/errors.ts';
import { compileRules, routesConfigSchema } from '../../routing/rules.ts';

describe('routing rules: precedence', () => {
  const rules = compileRules({
    default: 'source',
    batches: {
      'wave-1': { topics: ['orders', 'billing.invoices.archive'], prefixes: ['billing.'] },
      'wave-2': { prefixes: ['billing.invoices.'], patterns: ['^logs\\..*', '^billing\\..*'] },
      'wave-3': { patterns: ['^logs\\.app\\..*', 'metrics$'] },
    },
  });

  it('exact beats every prefix and pattern', () => {
    assert.deepEqual(rules.match('billing.invoices.archive'), { batch: 'wave-1', rule: { kind: 'exact', value: 'billing.invoices.archive' } });
    assert.deepEqual(rules.match('orders'), { batch: 'wave-1', rule: { kind: 'exact', value: 'orders' } });
  });

  it('the longest prefix wins, whatever the batch order', () => {
    assert.deepEqual(rules.match('billing.invoices.2024'), { batch: 'wave-2', rule: { kind: 'prefix', value: 'billing.invoices.' } });
    assert.deepEqual(rules.match('billing.payments'), { batch: 'wave-1', rule: { kind: 'prefix', value: 'billing.' } });
  });

  it('a prefix beats a pattern that also matches', () => {
    // ^billing\..* (wave-2) matches too, but prefixes come first.
    assert.equal(rules.match('billing.x').rule.kind, 'prefix');
  });

  it('the first matching pattern in declaration order wins (batch order, then list order)', () => {
    // Both ^logs\..* (wave-2) and ^logs\.app\..* (wave-3) match; wave-2 is declared first.
    assert.deepEqual(rules.match('logs.app.web'), { batch: 'wave-2', rule: { kind: 'pattern', value: '^logs\\..*' } });
    assert.deepEqual(rules.match('cpu-metrics'), { batch: 'wave-3', rule: { kind: 'pattern', value: 'metrics$' } });
  });

  it('falls back to the default', () => {
    assert.deepEqual(rules.match('unrelated'), { batch: null, rule: { kind: 'default', value: 'source' } });
    assert.equal(compileRules({ default: 'target' }).match('x').rule.value, 'target');
  });

  it('patterns are not anchored unless written so', () => {
    assert.equal(rules.match('xx-metrics').batch, 'wave-3');
    assert.equal(rules.match('metrics-x').batch, null);
  });

  it('caches matches (same object on repeat) and keeps answers stable', () => {
    const a = rules.match('logs.cache.test');
    assert.equal(rules.match('logs.cache.test'), a);
  });

  it('keeps the batches in declaration order', () => {
    assert.deepEqual(
      rules.batches.map((b) => b.name),
      ['wave-1', 'wave-2', 'wave-3'],
    );
  });
});

describe('routing rules: validation', () => {
  function invalid(input: unknown): string {
    try {
      compileRules(input);
    } catch (error) {
      assert.ok(error instanceof ValidationError, `expected ValidationError, got ${String(error)}`);
      assert.equal(error.status, 400);
      return error.message;
    }
    assert.fail('expected the rules to be rejected');
  }

  it('rejects a topic listed in two batches, naming the topic, both batches and the path', () => {
    const message = invalid({ batches: { a: { topics: ['orders'] }, b: { topics: ['x', 'orders'] } } });
    assert.match(message, /routes\.batches\.b\.topics\.1/);
    assert.match(message, /"orders" is listed in two batches, "a" and "b"/);
  });

  it('rejects an invalid regex, naming it and its path', () => {
    const message = invalid({ batches: { w: { patterns: ['^ok$', '^(logs'] } } });
    assert.match(message, /routes\.batches\.w\.patterns\.1/);
    assert.match(message, /pattern "\^\(logs" is not a valid regular expression/);
  });

  it('rejects the same prefix in two batches and the same pattern twice', () => {
    assert.match(invalid({ batches: { a: { prefixes: ['x.'] }, b: { prefixes: ['x.'] } } }), /prefix "x\." is declared in "a" and again in "b"/);
    assert.match(invalid({ batches: { a: { patterns: ['^x'] }, b: { patterns: ['^x'] } } }), /second one would never match/);
  });

  it('rejects bad names, unknown keys and a bad default', () => {
    assert.match(invalid({ batches: { '1st': { topics: ['a'] } } }), /batch names start with a letter/);
    assert.match(invalid({ batches: { a: { topics: ['bad topic'] } } }), /routes\.batches\.a\.topics\.0: must be a Kafka topic name/);
    assert.match(invalid({ batches: { a: { topic: ['x'] } } }), /routes\.batches\.a/);
    assert.match(invalid({ default: 'elsewhere' }), /routes\.default/);
  });

  it('accepts an empty config (everything on the default)', () => {
    const rules = compileRules({});
    assert.equal(rules.default, 'source');
    assert.deepEqual(rules.batches, []);
  });

  it('exports the schema so the config loader can embed it', () => {
    const parsed = routesConfigSchema.safeParse({ batches: { a: { topics: ['t'] }, b: { topics: ['t'] } } });
    assert.equal(parsed.success, false);
  });
});
