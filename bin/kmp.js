#!/usr/bin/env node
// The `kmp` command. Runs the compiled CLI when `npm run build` has produced dist/, else the TypeScript
// source directly (Node 22.18+/24 strip types natively).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
await import(existsSync(fileURLToPath(compiled)) ? compiled.href : new URL('../src/cli/main.ts', import.meta.url).href);
