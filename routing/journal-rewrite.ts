// Whole rewrites of the journal file (first write, v1 migration, save(), compaction): the new content goes to a
// temp file in the same directory, is fsynced, renamed over the journal, and the directory is fsynced, so a
// reader or a restart sees the old file or the new one, never a mix. Also the check file-state-store.ts uses to
// follow a journal another handle just created. None of this touches the store's in-memory model.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StateStoreError, errorMessage } from './errors.ts';
import { parseStateFile } from './journal-file.ts';

export function isErrno(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && codes.includes(error.code);
}

/** A fresh temp file name beside `path` (same directory, so the rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `chunks` to a new temp file beside `path` and fsyncs it; removes it on failure. */
export async function writeTemp(path: string, chunks: Iterable<string>): Promise<{ path: string; bytes: number }> {
  const dir = dirname(path);
  const temp = tempPathFor(path);
  try {
    // The first write creates the folder (a fresh checkout has no .cache/ yet).
    await mkdir(dir, { recursive: true });
    const file = await open(temp, 'wx', 0o600);
    let bytes = 0;
    try {
      for (const chunk of chunks) {
        const buffer = Buffer.from(chunk, 'utf8');
        await file.write(buffer, 0, buffer.length, bytes); // one await per chunk: the event loop keeps running
        bytes += buffer.length;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    return { path: temp, bytes };
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new StateStoreError(`cannot save route state to ${path}: ${errorMessage(error)}`, { cause: error });
  }
}

/** Renames `temp` over `path`, then fsyncs the directory (unless `syncDirectory` is off). */
export async function installTemp(path: string, temp: string, syncDirectory: boolean): Promise<void> {
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new StateStoreError(`cannot save route state to ${path}: ${errorMessage(error)}`, { cause: error });
  }
  if (syncDirectory) await syncDir(path, dirname(path));
}

async function syncDir(path: string, dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some platforms/filesystems cannot fsync a directory; the rename is still atomic there.
    if (!isErrno(error, 'EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP')) {
      throw new StateStoreError(`saved ${path} but could not fsync its directory: ${errorMessage(error)}`, { cause: error });
    }
  } finally {
    await handle?.close();
  }
}

/**
 * When the journal at `path` (inode `ino`) starts with the header of an empty state (version 0, no routes), the
 * byte length of that header; otherwise null (or when it cannot be read, or was replaced again meanwhile).
 */
export async function emptyJournalHeaderLength(path: string, ino: number): Promise<number | null> {
  const handle: FileHandle | null = await open(path, 'r').catch(() => null);
  if (handle === null) return null;
  try {
    if ((await handle.stat()).ino !== ino) return null;
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const newline = head.subarray(0, bytesRead).indexOf(0x0a);
    if (newline === -1) return null;
    const header = parseStateFile(head.subarray(0, newline + 1), path).model;
    if (header.version !== 0 || header.batches.size > 0 || header.topics.size > 0) return null;
    return newline + 1;
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}
