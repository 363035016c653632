// CLI: node protocol/generator/generate.ts [--defs DIR] [--out DIR] [--check]
//
// Generates protocol/messages/*.ts from Kafka's message JSON definitions, vendored in protocol/definitions/ so
// that a clean clone needs nothing from outside the repository. With --check nothing is written: the
// command exits with status 1 when a committed file differs from what the definitions produce (or a stale
// generated file is left over), so CI catches hand edits and forgotten regenerations.

import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GENERATED_MARKER, generateFiles } from './codegen.ts';

const repoRoot = resolve(dirname(import.meta.filename), '..', '..');

function main(): number {
  const { values } = parseArgs({
    options: {
      defs: { type: 'string', default: join(repoRoot, 'protocol', 'definitions') },
      out: { type: 'string', default: join(repoRoot, 'protocol', 'messages') },
      check: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node protocol/generator/generate.ts [--defs DIR] [--out DIR] [--check]');
    return 0;
  }
  const defs = resolve(values.defs);
  const out = resolve(values.out);
  if (!existsSync(defs)) {
    console.error(`generate: definitions folder not found: ${defs}`);
    return 2;
  }
  const files = generateFiles(defs);
  const existing = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.ts')) : [];
  // Only files that carry our marker are ours to delete or report as stale.
  const stale = existing.filter(
    (f) => !files.has(f) && readFileSync(join(out, f), 'utf8').startsWith(GENERATED_MARKER),
  );

  if (values.check) {
    const problems: string[] = [];
    for (const [name, content] of files) {
      const path = join(out, name);
      if (!existsSync(path)) problems.push(`missing: ${name}`);
      else if (readFileSync(path, 'utf8') !== content) problems.push(`differs: ${name}`);
    }
    for (const f of stale) problems.push(`stale: ${f}`);
    if (problems.length > 0) {
      console.error(`generate --check: ${relative(process.cwd(), out) || out} is out of date`);
      for (const p of problems) console.error(`  ${p}`);
      console.error('run: node protocol/generator/generate.ts');
      return 1;
    }
    console.log(`generate --check: ${files.size} files up to date`);
    return 0;
  }

  mkdirSync(out, { recursive: true });
  let written = 0;
  for (const [name, content] of files) {
    const path = join(out, name);
    // Leave unchanged files alone so that their mtimes (and editors' buffers) stay put.
    if (existsSync(path) && readFileSync(path, 'utf8') === content) continue;
    writeFileSync(path, content);
    written++;
  }
  for (const f of stale) unlinkSync(join(out, f));
  console.log(`generate: ${files.size} files (${written} written, ${stale.length} removed) in ${relative(process.cwd(), out) || out}`);
  return 0;
}

process.exitCode = main();
