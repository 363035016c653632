// Writes one run's results as three files that share a stem, bench/results/<scenario>-<YYYY-MM-DD-HHMM>:
// .json (raw numbers + environment, for later comparison), .md (the summary table) and .svg (the chart).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RESULTS_DIR = path.resolve(import.meta.dirname, '..', 'results');

function pad(n: number): string {
  return n.toString().padStart(2, '0');
}

/** Local time, minute resolution: `2025-11-24-2210`. */
export function stamp(date = new Date()): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}-${pad(date.getHours())}${pad(date.getMinutes())}`;
}

export interface WrittenResults {
  json: string;
  markdown: string;
  svg: string;
}

export function writeResults(scenario: string, startedAt: Date, files: { json: unknown; markdown: string; svg: string }, dir = RESULTS_DIR): WrittenResults {
  fs.mkdirSync(dir, { recursive: true });
  let stem = path.join(dir, `${scenario}-${stamp(startedAt)}`);
  // Two runs in the same minute must not overwrite each other.
  for (let i = 2; fs.existsSync(`${stem}.json`); i++) stem = path.join(dir, `${scenario}-${stamp(startedAt)}-${i}`);
  const out = { json: `${stem}.json`, markdown: `${stem}.md`, svg: `${stem}.svg` };
  // The machine is shared: how busy it was at the end belongs next to how busy it was at the start.
  const json = files.json !== null && typeof files.json === 'object' ? { ...files.json, loadAverageAtEnd: os.loadavg().map((v) => Math.round(v * 100) / 100) } : files.json;
  fs.writeFileSync(out.json, JSON.stringify(json, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
  fs.writeFileSync(out.markdown, files.markdown.endsWith('\n') ? files.markdown : `${files.markdown}\n`);
  fs.writeFileSync(out.svg, files.svg);
  return out;
}

/** A Markdown table; cells are written as given. */
export function table(header: string[], rows: string[][], align?: ('l' | 'r' | 'c')[]): string {
  const sep = header.map((_, i) => {
    const a = align?.[i] ?? (i === 0 ? 'l' : 'r');
    return a === 'l' ? '---' : a === 'r' ? '---:' : ':---:';
  });
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export const PASS = '✅';
export const FAIL = '❌';
