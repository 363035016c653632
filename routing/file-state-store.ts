// The embedded state store: one JSON file, replaced atomically on every save.
//
// Save = write a temp file in the same directory, fsync it, rename it over the real file, fsync the directory.
// rename() within one filesystem is atomic, so a reader (or a restart after a crash) sees either the old complete
// document or the new complete one, never a mix; the two fsyncs make the new one durable before save() resolves,
// which is what lets the control plane acknowledge a flip only after it is persisted. A crash between the steps
// can leave a temp file behind; load() reads only the real path, so leftovers are ignored (and harmless: their
// names never collide, and the next save does not need them).

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StateStoreError, errorMessage } from './errors.ts';
import { decodeState, encodeState, type PersistedState, type StateStore } from './state-store.ts';

export interface FileStateStoreOptions {
  /** fsync the directory after the rename (default true). Only turn off on filesystems that refuse it. */
  readonly syncDirectory?: boolean;
}

function isErrno(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && codes.includes(error.code);
}

export class FileStateStore implements StateStore {
  readonly path: string;
  readonly #syncDirectory: boolean;
  /** Saves run one at a time, in call order: a slow older save must never rename over a newer one. */
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string, options: FileStateStoreOptions = {}) {
    this.path = path;
    this.#syncDirectory = options.syncDirectory ?? true;
  }

  async load(): Promise<PersistedState | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return null;
      throw new StateStoreError(`cannot read route state ${this.path}: ${errorMessage(error)}`, { cause: error });
    }
    // A corrupt file is an error, never "no state": starting from defaults would silently move every flipped
    // batch back to the source.
    return decodeState(text, this.path);
  }

  save(state: PersistedState): Promise<void> {
    // Encode now, so the document is the state at call time even though the write may wait for an earlier one.
    const text = encodeState(state);
    const run = this.#queue.then(() => this.#write(text));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(text: string): Promise<void> {
    const dir = dirname(this.path);
    const temp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      // The first save creates the folder (a fresh checkout has no .cache/ yet).
      await mkdir(dir, { recursive: true });
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(text, 'utf8');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, this.path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw new StateStoreError(`cannot save route state to ${this.path}: ${errorMessage(error)}`, { cause: error });
    }
    if (this.#syncDirectory) await this.#syncDir(dir);
  }

  async #syncDir(dir: string): Promise<void> {
    let handle;
    try {
      handle = await open(dir, 'r');
      await handle.sync();
    } catch (error) {
      // Some platforms/filesystems cannot fsync a directory; the rename is still atomic there.
      if (!isErrno(error, 'EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP')) {
        throw new StateStoreError(`saved ${this.path} but could not fsync its directory: ${errorMessage(error)}`, { cause: error });
      }
    } finally {
      await handle?.close();
    }
  }
}
