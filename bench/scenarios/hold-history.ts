// Does the flip hold grow with history? (issue #11 item 8). Runs N moves (flip/rollback of one batch of 3 topics ×
// 4 partitions: 12 ledger entries per move) through the real control plane and state store on disk (fsync on),
// in-process, and reports the barrier's hold at the first moves and at the last ones. The journal store appends
// O(change) per commit; `--baseline-moves` also runs the pre-journal behaviour (the whole state rewritten, fsynced
// and renamed on every commit) for comparison.
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { createControlPlane } from '../../routing/control-plane.ts';
import { FileStateStore } from '../../routing/file-state-store.ts';
import { encodeState, type PersistedState, type SnapshotStateStore } from '../../routing/state-store.ts';
import { parseOptions } from '../lib/args.ts';
import { round, median } from '../lib/stats.ts';
import { table, writeResults } from '../lib/report.ts';
import { COLORS, renderChart } from '../lib/svg-chart.ts';
import type { Scenario } from './scenario.ts';

const options = {
  moves: { default: 1000, help: 'moves through the journal store' },
  window: { default: 10, help: 'moves per median: the first N, and the last N' },
  'baseline-moves': { default: 200, help: 'moves through the whole-file rewrite (the pre-journal store); 0 skips it' },
  dir: { default: '', help: 'directory for the state files (default: a fresh temp dir, removed afterwards)' },
} as const;

/** The pre-journal FileStateStore, for the baseline: temp file + fsync + rename + fsync dir, all of it, every time. */
function rewriteStore(path: string): SnapshotStateStore {
  return {
    load: async () => null,
    save: async (state: PersistedState) => {
      const temp = `${path}.tmp`;
      const file = await open(temp, 'w');
      await file.writeFile(encodeState(state));
      await file.sync();
      await file.close();
      await rename(temp, path);
      const dir = await open(join(path, '..'), 'r');
      await dir.sync();
      await dir.close();
    },
  };
}

interface Run {
  readonly store: string;
  readonly holdsMs: number[];
  readonly fileBytes: number;
}

async function run(store: 'journal' | 'rewrite', path: string, moves: number): Promise<Run> {
  const cp = await createControlPlane({
    rules: { default: 'source', batches: { wave: { topics: ['orders', 'payments', 'billing'] } } },
    store: store === 'journal' ? new FileStateStore(path) : rewriteStore(path),
    hooks: { partitionsOf: () => [0, 1, 2, 3] },
  });
  const holdsMs: number[] = [];
  for (let move = 1; move <= moves; move++) {
    const options = { who: 'bench', reason: `move ${move}` };
    const result = move % 2 === 1 ? await cp.flipBatch('wave', options) : await cp.rollbackBatch('wave', options);
    holdsMs.push(result.timings?.holdMs ?? Number.NaN);
    if (move % 100 === 0) process.stderr.write(`[hold-history] ${store}: ${move}/${moves} moves, hold ${round(holdsMs.at(-1) ?? 0, 2)} ms\n`);
  }
  await cp.close();
  return { store, holdsMs, fileBytes: statSync(path).size };
}

export const holdHistoryScenario: Scenario = {
  name: 'hold-history',
  summary: 'flip hold at move 10 vs move 1,000 with a growing ledger (in-process, real store on disk)',
  options,
  async run(argv) {
    const opts = parseOptions(options, argv);
    const startedAt = new Date();
    const dir = opts.dir === '' ? mkdtempSync(join(tmpdir(), 'kmp-hold-history-')) : opts.dir;
    try {
      const runs: Run[] = [await run('journal', join(dir, 'journal.json'), opts.moves)];
      if (opts['baseline-moves'] > 0) runs.push(await run('rewrite', join(dir, 'rewrite.json'), opts['baseline-moves']));
      const w = opts.window;
      const rows = runs.map((r) => {
        const first = median(r.holdsMs.slice(0, w));
        const last = median(r.holdsMs.slice(-w));
        return { store: r.store, moves: r.holdsMs.length, firstMedianMs: round(first, 2), lastMedianMs: round(last, 2), fileBytes: r.fileBytes };
      });
      const markdown = [
        `# hold-history ${startedAt.toISOString()}`,
        '',
        `Median barrier hold of moves 1–${w} and of the last ${w} moves; 12 ledger entries per move; fsync on.`,
        '',
        table(
          ['store', 'moves', `hold median, moves 1–${w} (ms)`, `hold median, last ${w} (ms)`, 'state file (bytes)'],
          rows.map((r) => [r.store, String(r.moves), String(r.firstMedianMs), String(r.lastMedianMs), String(r.fileBytes)]),
          ['l', 'r', 'r', 'r', 'r'],
        ),
      ].join('\n');
      const svg = renderChart({
        title: 'Flip hold vs number of earlier moves',
        panels: [
          {
            kind: 'lines',
            title: 'hold per move',
            xLabel: 'move',
            yLabel: 'hold (ms)',
            series: runs.map((r, i) => ({ name: r.store, color: i === 0 ? COLORS.green : COLORS.red, points: r.holdsMs.map((h, m) => [m + 1, h] as [number, number]) })),
          },
        ],
        columns: 1,
      });
      const files = writeResults('hold-history', startedAt, { json: { scenario: 'hold-history', options: opts, results: rows, holdsMs: Object.fromEntries(runs.map((r) => [r.store, r.holdsMs])) }, markdown, svg });
      process.stdout.write(`${markdown}\n\nresults: ${files.markdown}\n`);
    } finally {
      if (opts.dir === '') rmSync(dir, { recursive: true, force: true });
    }
  },
};
