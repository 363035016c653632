// Human-readable output: the CLI's tables and the logger's terminal lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, formatResolution, formatAudit, formatInventory } from '../../src/cli/format.ts';
import { createLogger, formatHumanLine } from '../../src/logger.ts';

test('formatTable pads every column but the last, without trailing blanks', () => {
  const out = formatTable(
    ['BATCH', 'STATE', 'TOPICS'],
    [
      ['wave-1', 'target', 'orders,payments'],
      ['w2', 'source', '-'],
    ],
  );
  assert.equal(out, ['BATCH   STATE   TOPICS', 'wave-1  target  orders,payments', 'w2      source  -'].join('\n'));
  assert.equal(formatTable(['A', 'B'], []), 'A  B');
});

test('formatResolution names the rule', () => {
  assert.equal(
    formatResolution({ topic: 'misc', cluster: 'source', batch: null, rule: { kind: 'default', value: 'source' }, state: 'source', version: 3 }),
    'misc → source  (state source, the default route, table version 3)',
  );
  assert.equal(
    formatResolution({ topic: 'billing.eu', cluster: 'target', batch: 'wave-1', rule: { kind: 'prefix', value: 'billing.' }, state: 'target', version: 4 }),
    'billing.eu → target  (state target, prefix rule "billing.", batch wave-1, table version 4)',
  );
});

test('formatAudit shows why a refused operation was refused, and paging', () => {
  const out = formatAudit({
    total: 5,
    entries: [
      {
        seq: 5,
        who: 'ops',
        when: '2026-01-01T00:00:00.000Z',
        action: 'flip',
        target: { kind: 'batch', name: 'wave-1' },
        reason: 'go',
        changes: [],
        outcome: 'refused',
        version: 2,
        details: { refusals: ['orders: 6 partitions on source, 3 on target'] },
      },
    ],
  });
  assert.match(out, /refused +2 +go — orders: 6 partitions on source, 3 on target$/m);
  assert.match(out, /^\(last 1 of 5 entries\)$/m);
});

test('formatInventory: one row per topic and producer', () => {
  const out = formatInventory([
    {
      topic: 'orders',
      producers: [
        {
          clientId: 'billing-svc',
          software: { name: 'apache-kafka-java', version: '3.9.0' },
          principal: null,
          remoteAddresses: ['10.0.0.7'],
          producerIds: ['4001'],
          idempotent: true,
          transactional: false,
          compressions: ['zstd'],
          clusters: ['source', 'target'],
          records: 10,
          bytes: 1000,
          recordsPerSec: 2.5,
          bytesPerSec: 250,
          firstSeen: '2026-01-01T00:00:00.000Z',
          lastSeen: '2026-01-01T00:01:00.000Z',
        },
      ],
      schemaIds: [],
      nonSchemaSamples: 0,
    },
  ]);
  assert.match(out, /^TOPIC +CLIENT-ID +SOFTWARE +PRODUCER/);
  assert.match(out, /^orders +billing-svc +apache-kafka-java 3\.9\.0 +idempotent +zstd +source,target +2\.5 +2026-01-01T00:01:00\.000Z +10\.0\.0\.7$/m);
  assert.equal(formatInventory([]), 'no producers seen yet');
});

test('logger: terminal lines are `time LEVEL msg k=v`, secrets redacted', () => {
  const lines: string[] = [];
  const log = createLogger({ pretty: true, level: 'info', destination: { write: (line: string) => void lines.push(line) } });
  log.info({ batch: 'wave-1', reason: 'two words', token: 'secret-token-value', headers: { authorization: 'Bearer x' } }, 'flip done');
  log.debug('not shown at info');
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} INFO  flip done batch=wave-1 reason="two words" token=\[redacted\] headers=\{"authorization":"\[redacted\]"\}\n$/);
  assert.ok(!lines[0].includes('secret-token-value'));

  const line = formatHumanLine(JSON.stringify({ level: 50, time: '2026-01-01T12:34:56.789Z', msg: 'failed', err: { stack: 'Error: x\n    at y' } }));
  assert.equal(line, '12:34:56.789 ERROR failed\n    Error: x\n        at y\n');
  assert.equal(formatHumanLine('not json\n'), 'not json\n');
});

test('logger: JSON lines by default when not a terminal, tokens in config redacted', () => {
  const lines: string[] = [];
  const log = createLogger({ pretty: false, destination: { write: (line: string) => void lines.push(line) } });
  log.info({ config: { admin: { tokens: [{ name: 'ops', token: 'secret-token-value' }] }, clusters: { source: { sasl: { password: 'pw-secret' } } } } }, 'loaded');
  const record = JSON.parse(lines[0]) as { msg: string; config: { admin: { tokens: { token: string }[] } } };
  assert.equal(record.msg, 'loaded');
  assert.equal(record.config.admin.tokens[0].token, '[redacted]');
  assert.ok(!lines[0].includes('pw-secret'));
});
